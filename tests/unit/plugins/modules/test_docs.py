# -*- coding: utf-8 -*-
"""Documentation against argument specs: the connection doc fragment against the shared connection spec,
and every module's options (with its doc fragments merged as ansible-doc merges them) against its spec."""

import importlib

import pytest
import yaml

from ansible_collections.soar.partman.plugins.doc_fragments import connection as connection_fragment
from ansible_collections.soar.partman.plugins.doc_fragments import maintenance_evidence
from ansible_collections.soar.partman.plugins.module_utils.connection import connection_argument_spec
from ansible_collections.soar.partman.plugins.module_utils.runs import evidence_argument_spec
from partman_testing import assert_matches, merged_doc

MODULES = ['partman_migrate', 'partman_info', 'partman_repair', 'partman_finalize', 'pg_cron_job', 'partman_config', 'partman_health']


def test_connection_fragment_matches_shared_spec():
    assert_matches(yaml.safe_load(connection_fragment.ModuleDocFragment.DOCUMENTATION)['options'],
                   connection_argument_spec())


def test_maintenance_evidence_fragment_matches_shared_spec():
    assert_matches(yaml.safe_load(maintenance_evidence.ModuleDocFragment.DOCUMENTATION)['options'],
                   evidence_argument_spec())


@pytest.mark.parametrize('name', MODULES)
def test_module_documentation_matches_argument_spec(name):
    module = importlib.import_module('ansible_collections.soar.partman.plugins.modules.' + name)
    doc = merged_doc(module)
    assert doc['extends_documentation_fragment'][0] == 'soar.partman.connection'
    assert_matches(doc['options'], module.argument_spec())
    yaml.safe_load(module.EXAMPLES)
    yaml.safe_load(module.RETURN)
    assert doc['version_added'] and doc['author'] and doc['requirements']
