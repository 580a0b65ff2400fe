# -*- coding: utf-8 -*-
"""migration/status.py: where a migration stands as partman_info reads it (state row, old table,
lock holder), the progress line the migration role prints, and the lock refusal the runner and
partman_info share."""

import datetime

import pytest

psycopg2 = pytest.importorskip('psycopg2')

from ansible_collections.soar.partman.plugins.module_utils.migration import runner, status  # noqa: E402
from partman_testing import FakeDb, UTC, make_ctx  # noqa: E402
from ansible_collections.soar.partman.plugins.module_utils.migration.context import MigrationError  # noqa: E402

HOLDER = {'pid': 4242, 'application': 'soar.partman-migrate', 'state': 'active', 'since': '2026-05-01 03:00:00'}


def facts(**over):
    f = {'step': 'partitioned', 'direction': 'forward', 'current_query': None,
         'progress': {'rows_done': 188701, 'rows_total': 1001941, 'percent': 18.8, 'rows_per_second': 122799,
                      'eta_seconds': 7, 'elapsed_seconds': 2.0}}
    f.update(over)
    return f


def test_progress_line_of_the_copy_is_the_one_the_readme_shows():
    assert status.progress_line(facts()) == \
        'copying rows: 188701 of 1001941 (18.8%), 122799 rows/s, 00:00:07 left, elapsed 00:00:02'


@pytest.mark.parametrize('over, line', [
    ({'step': None, 'progress': {}}, 'preflight and prepare (rename, partitioned parent, create_parent), elapsed -'),
    ({'step': 'prepared'}, 'creating the partitions, elapsed 00:00:02'),
    ({'progress': {'rows_total': None, 'elapsed_seconds': 61}}, 'counting the rows to copy, elapsed 00:01:01'),
    ({'progress': {'rows_done': 0, 'rows_total': 10, 'percent': 0.0, 'rows_per_second': None, 'eta_seconds': None,
                   'elapsed_seconds': 0}},
     'copying rows: 0 of 10 (0.0%), ? rows/s, unknown left, elapsed 00:00:00'),
    # an older run without a phase record: the step only, never a truncated statement
    ({'step': 'copied', 'current_query': 'CREATE INDEX fixes_p20260501_idx ON ...'},
     'building indexes, elapsed 00:00:02'),
    ({'step': 'indexed'}, 'foreign keys, triggers, ANALYZE, elapsed 00:00:02'),
    ({'step': 'constrained'}, 'verifying every partition against the old table, elapsed 00:00:02'),
    ({'step': 'verified', 'current_query': 'SELECT 1'}, 'configuring pg_partman, elapsed 00:00:02'),
    ({'step': 'done'}, 'done, elapsed 00:00:02'),
    ({'step': 'copied', 'direction': 'reverse'}, 'reverting, copied, elapsed 00:00:02'),
    ({'step': 'revert-copy', 'direction': 'revert'},
     'reverting, copying the rows written since the migration back, elapsed 00:00:02'),
    ({'step': 'copied', 'phase': {'step': 'indexed', 'unit': 'builds', 'done': 340, 'total': 680, 'percent': 50.0,
                                  'per_second': 12.34, 'eta_seconds': 27}},
     'building indexes: 340 of 680 builds (50.0%), 12.3 builds/s, 00:00:27 left, elapsed 00:00:02'),
    ({'step': 'indexed', 'phase': {'step': 'constrained', 'unit': 'steps', 'done': 4, 'total': 5, 'percent': 80.0,
                                   'per_second': 0.25, 'eta_seconds': 4}},
     'foreign keys, triggers, ANALYZE: 4 of 5 steps (80.0%), 15.0 steps/min, 00:00:04 left, elapsed 00:00:02'),
    ({'step': 'constrained', 'phase': {'step': 'verified', 'unit': 'partitions', 'done': 0, 'total': 36,
                                       'percent': 0.0, 'per_second': None, 'eta_seconds': None}},
     'verifying every partition against the old table: 0 of 36 partitions (0.0%), ? partitions/s, unknown left, '
     'elapsed 00:00:02'),
    ({'step': 'revert-copy', 'direction': 'revert',
      'phase': {'step': 'revert-drop', 'unit': 'partitions', 'done': 10, 'total': 40, 'percent': 25.0,
                'per_second': 5.0, 'eta_seconds': 6}},
     'reverting, copying the rows written since the migration back: 10 of 40 partitions (25.0%), 5.0 partitions/s, '
     '00:00:06 left, elapsed 00:00:02'),
    ({'step': 'done', 'progress': {'elapsed_seconds': 90061}}, 'done, elapsed 25:01:01'),
])
def test_progress_line_of_each_step(over, line):
    assert status.progress_line(facts(**over)) == line


def test_progress_of_the_range_copy_comes_from_the_partition_rows():
    row = {'copy_method': 'range', 'rows_total': 1000, 'rows_copied': 0, 'progress': None}
    p = status.progress(row, 250, 2.0, 3.0)
    assert p == {'rows_done': 250, 'rows_total': 1000, 'percent': 25.0, 'rows_per_second': 125,
                 'eta_seconds': 6, 'elapsed_seconds': 3.0}


def test_progress_of_the_ctid_copy_comes_from_the_state_row():
    row = {'copy_method': 'ctid', 'rows_total': 1000, 'rows_copied': 900, 'progress': {'rows_per_second': 50}}
    p = status.progress(row, 999, 1.0, None)
    assert (p['rows_done'], p['rows_per_second'], p['eta_seconds'], p['percent']) == (900, 50, 2, 90.0)


def test_progress_without_a_state_row():
    assert status.progress(None, None, None, None)['rows_done'] == 0


def test_lock_message_of_a_working_run_says_wait_and_follow_not_terminate():
    msg = status.lock_message('public.fixes', [HOLDER])
    assert msg.startswith('another partman_migrate run is migrating public.fixes right now '
                          '(pid 4242 (soar.partman-migrate, active, connected since 2026-05-01 03:00:00)): nothing was changed.')
    assert 'wait for it to finish' in msg and 'playbooks/status.yml' in msg
    assert 'pg_terminate_backend' not in msg and 'stuck' not in msg


@pytest.mark.parametrize('holder, updated', [
    (dict(HOLDER, state='idle', idle_seconds=2, busy_sessions=0), None),       # between two statements
    (dict(HOLDER, state='idle', idle_seconds=3600, busy_sessions=2), None),    # jobs > 1: the pool builds
    (dict(HOLDER, state='idle in transaction', idle_seconds=900, busy_sessions=0), 20),  # state row just written
])
def test_an_idle_holder_of_a_live_run_is_working(holder, updated):
    assert status.is_working(holder, updated)
    msg = status.lock_message('public.fixes', [holder], updated)
    assert 'right now' in msg and 'pg_terminate_backend' not in msg


def test_lock_message_of_a_stuck_session_says_check_first_then_terminate():
    holder = dict(HOLDER, state='idle in transaction', idle_seconds=1800, busy_sessions=0)
    assert not status.is_working(holder, 1900)
    msg = status.lock_message('public.fixes', [holder], 1900)
    assert 'looks stuck: idle for 00:30:00, no session of it is working, its state row was last written 00:31:40 ago' \
        in msg
    assert msg.index('playbooks/status.yml') < msg.index('SELECT pg_terminate_backend(4242)')
    assert '(its session is gone)' in status.lock_message('public.fixes', [])


def test_the_lock_holders_query_reads_idle_time_and_busy_sessions_of_the_run():
    db = FakeDb([('FROM pg_locks', [HOLDER])])
    assert status.lock_holders(db, 'public.fixes') == [HOLDER]
    assert 'now() - a.state_change' in db.reads[0] and 'b.application_name = a.application_name' in db.reads[0]


def test_the_runner_refuses_a_second_run_with_the_same_message_also_in_check_mode():
    db = FakeDb([('pg_try_advisory_lock', False), ('FROM pg_locks', [HOLDER])])
    ctx = make_ctx(db=db, check_mode=True)
    with pytest.raises(MigrationError) as e:
        runner.lock_table_migration(ctx)
    assert str(e.value) == status.lock_message('public.fixes', [HOLDER])
    assert not db.statements  # nothing was changed
    assert any('hashtext' in r for r in db.reads)


STATE = {'step': 'partitioned', 'direction': 'forward', 'copy_method': 'range', 'rows_total': 1000,
         'rows_copied': 0, 'progress': None, 'message': None, 'old_table': 'public.fixes_old',
         'started_at': datetime.datetime(2026, 5, 1, 3, tzinfo=UTC), 'finished_at': None}


def test_read_a_migration_under_way():
    db = FakeDb([
        ('relkind', 'p'),
        ('IS NOT NULL', True),                       # the state table and the old table exist
        ('"partman_migrate_state" WHERE', [STATE]),
        ('FROM pg_locks', [HOLDER]),
        ('sum(rows)', [{'rows': 250, 'seconds': 2.0}]),
        ('extract(epoch', 3),
        ('regexp_replace(query', 'INSERT INTO "public"."fixes_p20260501" ...'),
    ])
    f = status.read(db, 'partman', 'public', 'fixes', '_old')
    assert (f['table'], f['kind'], f['step'], f['old_table'], f['old_recorded'], f['old_exists']) == \
        ('public.fixes', 'partitioned', 'partitioned', 'public.fixes_old', True, True)
    assert f['running'] and f['lock'] == [HOLDER] and 'pid 4242' in f['lock_message']
    assert f['started_at'] == '2026-05-01T03:00:00+00:00'
    assert f['line'] == 'copying rows: 250 of 1000 (25.0%), 125 rows/s, 00:00:06 left, elapsed 00:00:03'


def test_read_a_table_never_migrated_computes_the_old_name():
    long_name = 'f' * 63
    db = FakeDb([('relkind', 'r'), ('IS NOT NULL', False)])
    f = status.read(db, 'public', 'public', long_name, '_old')
    assert (f['kind'], f['state_table'], f['step'], f['running'], f['lock_message']) == \
        ('plain', False, None, False, None)
    assert f['old_table'] == 'public.' + 'f' * 59 + '_old'
    assert f['old_exists'] is False
    assert f['line'].startswith('preflight and prepare')


@pytest.mark.parametrize('row, expected', [
    ({'direction': 'forward', 'step': 'copied'}, 'indexed'),
    ({'direction': 'forward', 'step': 'verified'}, 'done'),
    ({'direction': 'forward', 'step': 'done'}, None),
    ({'direction': 'revert', 'step': 'revert-copy'}, 'revert-drop'),
    ({'direction': 'revert', 'step': 'revert-drop'}, None),
    (None, None),
])
def test_running_step(row, expected):
    assert status.running_step(row) == expected


def test_the_phase_record_counts_only_for_the_step_running_now():
    record = {'step': 'indexed', 'unit': 'builds', 'done': 5, 'total': 10, 'start_done': 0, 'seconds': 10.0}
    row = {'direction': 'forward', 'step': 'copied', 'progress': {'rows_done': 9, 'phase': record}}
    assert status.phase_of(row, 2)['eta_seconds'] == 8
    # the indexes are done: a leftover record of that phase is not the constraints' progress
    assert status.phase_of(dict(row, step='indexed'), 2) is None
    # a state row of an older version: progress without phase, or no progress at all
    assert status.phase_of(dict(row, progress={'rows_done': 9}), 2) is None
    assert status.phase_of(dict(row, progress=None), 2) is None


def test_read_the_index_phase_from_the_state_row():
    record = {'step': 'indexed', 'unit': 'builds', 'done': 340, 'total': 680, 'start_done': 0, 'seconds': 34.0}
    row = dict(STATE, step='copied', progress={'rows_done': 1000, 'phase': record},
               updated_at=datetime.datetime(2026, 5, 1, 3, 1, tzinfo=UTC))
    db = FakeDb([
        ('relkind', 'p'),
        ('IS NOT NULL', True),
        ('"partman_migrate_state" WHERE', [row]),
        ('FROM pg_locks', [HOLDER]),
        ('sum(rows)', [{'rows': 1000, 'seconds': 2.0}]),
        ('::int', 4),                                # seconds since the state row was written
        ('extract(epoch', 60),
    ])
    f = status.read(db, 'partman', 'public', 'fixes', '_old')
    assert f['phase'] == {'step': 'indexed', 'unit': 'builds', 'done': 340, 'total': 680, 'percent': 50.0,
                          'per_second': 10.0, 'eta_seconds': 30}
    assert f['line'] == 'building indexes: 340 of 680 builds (50.0%), 10.0 builds/s, 00:00:30 left, elapsed 00:01:00'
    assert f['updated_at'] == '2026-05-01T03:01:00+00:00'


def test_a_revert_line_counts_its_time_from_the_revert_not_from_the_migration():
    record = {'step': 'revert-drop', 'unit': 'partitions', 'done': 3, 'total': 36, 'start_done': 0, 'seconds': 10.0}
    row = {'direction': 'revert', 'step': 'revert-copy', 'progress': {'phase': record}}
    assert status.revert_elapsed(row, 5, 1038) == 15.0
    assert status.revert_elapsed(dict(row, progress=None), 5, 1038) is None
    assert status.revert_elapsed({'direction': 'forward', 'step': 'copied'}, 5, 1038) == 1038.0
