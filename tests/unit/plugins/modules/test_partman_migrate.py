# -*- coding: utf-8 -*-
"""partman_migrate: its documentation (options against the argument spec: test_docs.py)."""

import yaml

from ansible_collections.soar.partman.plugins.modules import partman_migrate


def test_documentation_sections():
    doc = yaml.safe_load(partman_migrate.DOCUMENTATION)
    for key in ('changed', 'partitions', 'rows_copied', 'seconds', 'queries', 'warnings', 'pk_changed',
                'partman_version', 'plan'):
        assert key in yaml.safe_load(partman_migrate.RETURN)
    assert doc['version_added'] and doc['author'] and doc['requirements'] and doc['notes']
