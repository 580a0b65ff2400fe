# -*- coding: utf-8 -*-
"""Documentation against argument specs: the connection doc fragment against the shared connection spec,
and every module's options (with its doc fragments merged as ansible-doc merges them) against its spec."""

import importlib

import pytest
import yaml

from ansible_collections.soar.partman.plugins.doc_fragments import connection as connection_fragment
from ansible_collections.soar.partman.plugins.module_utils.connection import connection_argument_spec

FRAGMENTS = {
    'soar.partman.connection': connection_fragment.ModuleDocFragment,
}
MODULES = ['partman_migrate', 'partman_info', 'partman_repair', 'partman_finalize', 'pg_cron_job']


def merged_doc(module):
    """DOCUMENTATION with its fragments' options merged; the module's own keys win, as in ansible-doc."""
    doc = yaml.safe_load(module.DOCUMENTATION)
    for name in doc.get('extends_documentation_fragment') or []:
        fragment = yaml.safe_load(FRAGMENTS[name].DOCUMENTATION)
        for opt, value in fragment['options'].items():
            value.update(doc.setdefault('options', {}).get(opt) or {})
            doc['options'][opt] = value
    return doc


def assert_matches(options, spec):
    assert set(options) == set(spec)
    for name, opt in spec.items():
        d = options[name]
        assert d.get('type', 'str') == opt.get('type', 'str'), name
        assert d.get('default') == opt.get('default'), name
        assert sorted(d.get('choices') or []) == sorted(opt.get('choices') or []), name
        assert sorted(d.get('aliases') or []) == sorted(opt.get('aliases') or []), name
        if opt.get('no_log'):
            assert 'no_log' in str(d['description']), name


def test_connection_fragment_matches_shared_spec():
    assert_matches(yaml.safe_load(connection_fragment.ModuleDocFragment.DOCUMENTATION)['options'],
                   connection_argument_spec())


@pytest.mark.parametrize('name', MODULES)
def test_module_documentation_matches_argument_spec(name):
    module = importlib.import_module('ansible_collections.soar.partman.plugins.modules.' + name)
    doc = merged_doc(module)
    assert doc['extends_documentation_fragment'] == ['soar.partman.connection']
    assert_matches(doc['options'], module.argument_spec())
    yaml.safe_load(module.EXAMPLES)
    yaml.safe_load(module.RETURN)
    assert doc['version_added'] and doc['author'] and doc['requirements']
