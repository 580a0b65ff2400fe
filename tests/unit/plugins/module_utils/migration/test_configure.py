# -*- coding: utf-8 -*-
"""migration/configure.py: step done, pg_partman's configuration, on later runs only when it differs."""

import pytest

psycopg2 = pytest.importorskip('psycopg2')

from ansible_collections.soar.partman.plugins.module_utils.migration import configure  # noqa: E402
from partman_testing import FakeDb, make_ctx, state_row  # noqa: E402

CONFIG = {'premake': 3, 'retention': None, 'retention_keep_table': True, 'infinite_time_partitions': True}


def test_step_configures_runs_maintenance_and_removes_the_write_guard():
    db = FakeDb([('part_config WHERE', [dict(CONFIG)])])
    ctx = make_ctx(db, premake=5, run_maintenance=True)
    configure.run(ctx, state_row())
    texts = db.texts()
    assert db.statements[0] == (
        'UPDATE "partman".part_config SET premake = %s, retention = %s, retention_keep_table = %s, '
        'infinite_time_partitions = %s, inherit_privileges = true WHERE parent_table = %s',
        [5, None, True, True, 'public.fixes'])
    assert texts[1].startswith('SELECT "partman"."run_maintenance"(')
    assert texts[2] == 'DROP TRIGGER IF EXISTS "partman_migrate_refuse_writes" ON "public"."fixes"'
    assert texts[3].startswith('UPDATE "partman"."partman_migrate_state" SET "finished_at" = %s, "message" = %s')


def test_finished_migration_unchanged_config_changes_nothing():
    db = FakeDb([('part_config WHERE', [dict(CONFIG)])])
    ctx = make_ctx(db)
    configure.configure(ctx, state_row(step='done'), finished=True)
    assert db.statements == [] and not ctx.changed


@pytest.mark.parametrize('check_mode', [True, False])
def test_finished_migration_new_premake(check_mode):
    db = FakeDb([('part_config WHERE', [dict(CONFIG)])])
    ctx = make_ctx(db, check_mode=check_mode, premake=7)
    configure.configure(ctx, state_row(step='done'), finished=True)
    assert ctx.changed and ctx.diff == {'before': CONFIG, 'after': dict(CONFIG, premake=7)}
    assert bool(db.statements) != check_mode


@pytest.mark.parametrize('check_mode', [True, False])
def test_finished_migration_refuses_another_control_column(check_mode):
    db = FakeDb([('part_config WHERE', [dict(CONFIG, control='received_at')])])
    ctx = make_ctx(db, check_mode=check_mode, control='created_at', var_prefix='migration_')
    with pytest.raises(configure.MigrationError) as e:
        configure.configure(ctx, state_row(step='done'), finished=True)
    msg = str(e.value)
    assert 'public.fixes is migrated already and partitioned by received_at' in msg
    assert 'not by created_at' in msg and 'migration_control: received_at' in msg
    assert db.statements == [] and not ctx.changed


def test_finished_migration_same_control_column_passes():
    db = FakeDb([('part_config WHERE', [dict(CONFIG, control='received_at')])])
    ctx = make_ctx(db)
    configure.configure(ctx, state_row(step='done'), finished=True)
    assert db.statements == [] and not ctx.changed
