# -*- coding: utf-8 -*-
"""Role soar.partman.migration, templates/plan.j2: the preflight's plan line labels the time as an
estimate of the whole migration, phase by phase, and says what it comes from."""

import os

from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

ROLE = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'roles', 'migration')

PLAN = {'rows_to_copy': 1000331, 'partitions_with_data': 32, 'partitions_to_create': 35, 'indexes_to_build': ['i'] * 17,
        'disk_needed': '789.4 MB', 'disk_free': '63.0 GB', 'estimated_time': '1m30s', 'pk_changed': [],
        'inbound_fks': []}


def render(plan):
    with open(os.path.join(ROLE, 'templates', 'plan.j2')) as f:
        source = f.read()
    variables = {'migration_plan': plan, 'migration_needed': True, 'migration_table_key': 'public.fixes',
                 'migration_premake': 3, 'migration_inbound_fks': 'drop'}
    return Templar(loader=DataLoader(), variables=variables).template(trust_as_template(source)).strip()


def test_the_sampled_estimate_names_each_phase_and_its_basis():
    line = render(dict(PLAN, estimated_phases={'prepare': 3.6, 'copy': 21.3, 'indexes': 36.3, 'foreign_keys': 22.6,
                                               'analyze': 43.5, 'verify': 1.2},
                       estimate_basis='an estimate from a sample of 31000 rows'))
    assert ('estimated 1m30s for the migration (copy 21.3 s, indexes 36.3 s, foreign keys 22.6 s, ANALYZE 43.5 s, '
            'verification 1.2 s, the rest 3.6 s: an estimate from a sample of 31000 rows)') in line


def test_without_a_sample_the_estimate_says_it_is_rough():
    assert 'estimated 1m30s for the migration (fixed rates, rough)' in render(PLAN)


def test_a_busy_server_gets_the_estimate_at_its_load_too():
    line = render(dict(PLAN, estimated_phases={'prepare': 3.6, 'copy': 3.4, 'indexes': 14.4, 'foreign_keys': 3.0,
                                               'analyze': 12.2, 'verify': 0.8},
                       estimate_basis='an estimate from a sample', estimated_seconds_at_current_load=280))
    assert 'the rest 3.6 s: an estimate from a sample); the server is busy now: at its current load about 280 s' in line
