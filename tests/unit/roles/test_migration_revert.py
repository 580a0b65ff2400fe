# -*- coding: utf-8 -*-
"""Role soar.partman.migration, tasks/revert.yml, and playbooks/rollback.yml around it: the revert is
followed with partman_info's progress lines (as main.yml follows the migration), not with an
async_status retry loop printing "FAILED - RETRYING" every few seconds; after a rollback that leaves no
partition set, the maintenance schedule is removed (partman_maintenance, backend none)."""

import os

import yaml

ROOT = os.path.join(os.path.dirname(__file__), '..', '..', '..')


def load(path):
    with open(os.path.join(ROOT, path)) as f:
        return yaml.safe_load(f)


def tasks_of(tasks):
    """Every task, blocks flattened, in order."""
    for t in tasks:
        yield t
        for section in ('block', 'rescue', 'always'):
            yield from tasks_of(t.get(section) or [])


def test_the_revert_is_followed_like_the_migration_before_its_result_is_read():
    for path, job in (('roles/migration/tasks/main.yml', 'migration_job'),
                      ('roles/migration/tasks/revert.yml', 'migration_revert_job')):
        tasks = list(tasks_of(load(path)))
        follow = [i for i, t in enumerate(tasks) if 'soar.partman.partman_info' in t]
        wait = [i for i, t in enumerate(tasks) if 'until' in t.get('ansible.builtin.async_status', {}) or
                ('ansible.builtin.async_status' in t and 'until' in t)]
        assert len(follow) == 1 and len(wait) == 1 and follow[0] < wait[0], path
        poll = tasks[follow[0]]
        assert poll['soar.partman.partman_info']['gather'] == ['migration']
        assert poll['loop_control']['break_when'][-1].startswith('not (')
        assert 'running' in poll['loop_control']['break_when'][-1]
        assert tasks[wait[0]]['ansible.builtin.async_status']['jid'] == '{{ %s.ansible_job_id }}' % job


def test_rollback_removes_the_maintenance_only_when_no_partition_set_is_left():
    tasks = list(tasks_of(load('playbooks/rollback.yml')[1]['tasks']))
    names = [t.get('name') for t in tasks]
    revert = names.index('Revert to the plain table')
    sets = names.index('Read the partition sets left after the revert')
    remove = names.index('Remove the maintenance schedule, no partition set being left')
    assert revert < sets < remove
    assert tasks[sets]['ansible.builtin.include_role']['tasks_from'] == 'partition_sets.yml'
    removal = tasks[remove]
    assert removal['ansible.builtin.include_role']['name'] == 'soar.partman.partman_maintenance'
    assert removal['vars'] == {'partman_maintenance_backend': 'none'}
    assert 'migration_partition_sets_left | length == 0' in removal['when']
    # inside the window's block: before the application starts again (removing the bgw restarts PostgreSQL)
    window = [t for t in load('playbooks/rollback.yml')[1]['tasks'] if t.get('name') == 'Run the window'][0]
    assert removal in window['block']


def test_partition_sets_left_are_read_with_partman_info():
    tasks = load('roles/migration/tasks/partition_sets.yml')
    assert tasks[0]['soar.partman.partman_info']['gather'] == ['partition_sets']
    assert 'migration_partition_sets_left' in tasks[1]['ansible.builtin.set_fact']


def test_task_names_put_a_colon_before_the_name_they_end_with():
    for path, name in (('roles/partman/tasks/check_database.yml', 'Check that the database exists: '),
                       ('roles/partman/tasks/check_database.yml', 'Fail when the database does not exist: '),
                       ('roles/migration/tasks/status.yml', 'Read where the table stands: '),
                       ('roles/migration/tasks/revert.yml', 'Revert to the plain table: ')):
        assert any((t.get('name') or '').startswith(name + '{{') for t in tasks_of(load(path))), (path, name)
