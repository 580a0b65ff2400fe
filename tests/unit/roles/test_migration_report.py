# -*- coding: utf-8 -*-
"""Role soar.partman.migration, entry point report: the Markdown report renders what the JSON holds
(outcome, estimate against actual, per-step times, rows per partition, verification, warnings), and
playbooks/migrate.yml writes it before it fails, so that a failed window has its report too."""

import os

import yaml

from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

ROOT = os.path.join(os.path.dirname(__file__), '..', '..', '..')
ROLE = os.path.join(ROOT, 'roles', 'migration')

REPORT = {
    'host': 'db1', 'table': 'public.fixes', 'written_at': '2026-11-29T20:00:00Z', 'outcome': 'succeeded',
    'failure': None, 'revert_failure': None, 'partman_version': '4.7.2',
    'plan': {'rows_to_copy': 1000, 'partitions_with_data': 2, 'partitions_to_create': 5,
             'indexes_to_build': ['a', 'b'], 'disk_needed': '1.0 MB', 'disk_free': '9.0 GB'},
    'estimated_seconds': 80, 'estimate_basis': 'measured on a sample of 5000 rows', 'actual_seconds': 93.4,
    'estimated_phases': {'copy': 10.0, 'indexes': 60.0}, 'estimated_seconds_at_current_load': None,
    'seconds_per_step': {'copied': 5.0, 'indexed': 79.0},
    'rows_per_partition': {'public.fixes_p2': 600, 'public.fixes_p1': 400},
    'partitions': ['public.fixes_p1', 'public.fixes_p2'], 'keys_widened': [],
    'verification': {'module': {'verified_rows': 1000, 'old_rows': 1000}, 'new_rows': 1000, 'old_rows': 1000,
                     'old_table': 'public.fixes_old', 'partitions': 5, 'ahead': 3,
                     'default_partition': 'public.fixes_default', 'default_rows': 0,
                     'probe_window': '[a, b)', 'scanned': ['fixes_p2']},
    'warnings': ['inbound foreign keys were dropped'],
}


def render(report):
    with open(os.path.join(ROLE, 'templates', 'report.md.j2')) as f:
        source = f.read()
    templar = Templar(loader=DataLoader(), variables={'migration_report': report})
    return templar.template(trust_as_template(source))


def test_markdown_report_holds_estimate_actual_steps_partitions_verification_warnings():
    md = render(REPORT)
    assert md.startswith('# Migration of public.fixes on db1')
    assert '- Outcome: **succeeded**' in md
    assert '| estimated by the preflight (measured on a sample of 5000 rows) | 80 |' in md
    assert '| actual, in the module | 93.4 |' in md
    assert '| - estimated indexes | 60.0 |' in md and '| estimated at the server' not in md
    assert '| - indexed | 79.0 |' in md
    # partitions sorted by name
    assert md.index('| public.fixes_p1 | 400 |') < md.index('| public.fixes_p2 | 600 |')
    assert '1000 rows in the\n  partitioned table, 1000 in the old one' in md
    assert 'default partition public.fixes_default: 0 rows' in md
    assert '- inbound foreign keys were dropped' in md


def test_markdown_report_of_a_failed_run():
    md = render(dict(REPORT, outcome='failed, reverted to the plain table', failure='db1: "Migrate" failed: boom',
                     warnings=[], rows_per_partition={}, verification={}))
    assert '**failed, reverted to the plain table**' in md and '- What failed: db1: "Migrate" failed: boom' in md
    assert '## Warnings\n\nnone' in md


def test_the_runbook_writes_the_report_before_it_fails():
    with open(os.path.join(ROOT, 'playbooks', 'migrate.yml')) as f:
        plays = yaml.safe_load(f)
    window = [p for p in plays if p['name'] == 'Maintenance window'][0]
    names = [t['name'] for t in window['tasks']]
    report = window['tasks'][names.index("Write the run's report on the controller")]
    assert report['ansible.builtin.include_role']['tasks_from'] == 'report.yml'
    assert names.index("Write the run's report on the controller") < names.index('Fail with what happened and what to do')
    with open(os.path.join(ROLE, 'defaults', 'main.yml')) as f:
        assert yaml.safe_load(f)['migration_report_dir'] == '~/.cache/soar-partman/reports'
