# -*- coding: utf-8 -*-
"""playbooks/status.yml: what another terminal prints while a migration runs (phase, done/total, rate,
time left, from the state row through partman_info), and after it stopped half-way."""

import os

import yaml

from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

ROOT = os.path.join(os.path.dirname(__file__), '..', '..', '..')

STATUS = {
    'table': 'partitioned', 'old_exists': True, 'old_table': 'public.fixes_old',
    'state': {'step': 'copied', 'direction': 'forward', 'started_at': '2026-11-29T20:00:00+00:00', 'finished_at': None,
              'message': None},
    'running': True, 'lock_message': 'another partman_migrate run is migrating public.fixes right now (pid 1)',
    'line': 'building indexes: 340 of 680 builds (50.0%), 10.0 builds/s, 00:00:34 left, elapsed 00:01:00',
    'progress': {'rows_done': 1000, 'rows_total': 1000, 'rows_per_second': 500, 'eta_seconds': 0},
    'phase': {'step': 'indexed', 'unit': 'builds', 'done': 340, 'total': 680, 'per_second': 10.0, 'eta_seconds': 34},
    'updated_at': '2026-11-29T20:01:00+00:00',
}


def render(status):
    with open(os.path.join(ROOT, 'playbooks', 'templates', 'status.j2')) as f:
        source = f.read()
    return Templar(loader=DataLoader(), variables={'migration_status': status}).template(trust_as_template(source))


def test_a_running_migration_shows_its_phase_done_total_rate_and_time_left():
    out = render(STATUS)
    assert 'public.fixes: partitioned table, old table public.fixes_old (kept)' in out
    assert 'migration state: step copied, direction forward' in out
    assert 'running now: building indexes: 340 of 680 builds (50.0%)' in out
    assert 'phase: 340 of 680 builds, 10.0 builds/s, 34 s left' in out


def test_a_stopped_migration_says_how_to_go_on():
    out = render(dict(STATUS, running=False, phase=None))
    assert 'running now: no run holds the migration lock (the run stopped at step copied: run migrate.yml again' in out
    assert 'phase:' not in out


def test_the_playbook_reads_through_the_role_and_follows_on_request():
    with open(os.path.join(ROOT, 'playbooks', 'status.yml')) as f:
        play, = yaml.safe_load(f)
    tasks = play['tasks']
    assert tasks[0]['ansible.builtin.include_role']['tasks_from'] == 'follow.yml'
    assert tasks[0]['when'] == 'status_follow | default(false) | bool'
    assert tasks[1]['ansible.builtin.include_role']['tasks_from'] == 'status.yml'
    with open(os.path.join(ROOT, 'roles', 'migration', 'tasks', 'follow.yml')) as f:
        follow, = yaml.safe_load(f)
    assert follow['soar.partman.partman_info']['gather'] == ['migration']
    assert follow['loop_control']['break_when'] == ["not (migration_follow.migration.running | default(false))"]
