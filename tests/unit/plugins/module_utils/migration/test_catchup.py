# -*- coding: utf-8 -*-
"""migration/catchup.py and capture.py: one round of applying the change log, the row identity, the
names of the log, and the online options' validation."""

import pytest

psycopg2 = pytest.importorskip('psycopg2')

from ansible_collections.soar.partman.plugins.module_utils.migration import capture, catchup  # noqa: E402
from ansible_collections.soar.partman.plugins.module_utils.names import PlanError  # noqa: E402
from partman_testing import FakeDb, make_ctx, snapshot  # noqa: E402


def online_ctx(db=None, **params):
    ctx = make_ctx(db=db, mode='online', **params)
    ctx.use_target(built_aside=True)
    return ctx


def test_row_identity_is_the_primary_key_and_the_control_column():
    ctx = online_ctx()
    assert capture.key_columns(ctx, snapshot()) == ['id', 'received_at']
    pk_with_control = snapshot(constraints=[{'type': 'p', 'name': 'k', 'columns': ['received_at', 'id']}])
    assert capture.key_columns(ctx, pk_with_control) == ['received_at', 'id']


def test_log_names_live_in_the_build_schema():
    ctx = online_ctx()
    assert capture.log_table(ctx, capture.FORWARD).strings == ('partman_migrate_online', 'fixes_changes')
    assert capture.log_table(ctx, capture.REVERSE).strings == ('partman_migrate_online', 'fixes_changes_back')
    long_ctx = online_ctx(table='public.' + 'x' * 63)
    assert len(capture.log_name(long_ctx, capture.REVERSE).encode()) <= 63


def test_online_names_build_beside_the_table_in_use():
    ctx = online_ctx()
    assert ctx.t_target.strings == ('partman_migrate_online', 'fixes')
    assert ctx.t_source.strings == ('public', 'fixes')
    assert ctx.parent_key == 'partman_migrate_online.fixes'
    ctx.use_target(built_aside=False)
    assert ctx.t_target.strings == ('public', 'fixes') and ctx.t_source.strings == ('public', 'fixes_old')
    assert ctx.parent_key == 'public.fixes'


def test_a_round_deletes_by_key_and_partition_key_then_reinserts_the_current_rows():
    db = FakeDb([('SELECT max(change_id)', 120)])
    db.last_rowcount = 7
    ctx = online_ctx(db=db)
    n = catchup.apply_round(ctx, db, snapshot(), capture.FORWARD, ctx.t_source, ctx.t_target, round_no=4)
    texts = [t for t, _p in db.statements]
    assert n == 7
    assert 'SET TRANSACTION ISOLATION LEVEL REPEATABLE READ' in texts[0]
    settings = [p for t, p in db.statements if 'set_config' in t]
    assert ('session_replication_role', 'replica') in settings and ('enable_hashjoin', 'off') in settings
    delete = [t for t in texts if t.startswith('DELETE')][0]
    assert delete == ('DELETE FROM "partman_migrate_online"."fixes" t USING "partman_migrate_keys" k WHERE '
                      '"t"."id" = "k"."id" AND "t"."received_at" = "k"."received_at"')
    insert = [t for t in texts if t.startswith('INSERT')][0]
    assert insert.startswith('INSERT INTO "partman_migrate_online"."fixes" ("id", "received_at", "seq") '
                             'OVERRIDING SYSTEM VALUE SELECT "s"."id", "s"."received_at", "s"."seq" FROM "public"."fixes" s')
    assert '"location"' not in insert   # generated: recomputed, never inserted
    update = [(t, p) for t, p in db.statements if t.startswith('UPDATE')][0]
    assert update[1] == (4, 120)
    assert texts.index(delete) < texts.index(insert) < texts.index(update[0])
    assert db.events[-1] == 'COMMIT'


def test_a_round_with_nothing_pending_changes_nothing():
    db = FakeDb([('SELECT max(change_id)', None)])
    ctx = online_ctx(db=db)
    assert catchup.apply_round(ctx, db, snapshot(), capture.FORWARD, ctx.t_source, ctx.t_target, 1) == 0
    assert not [t for t, _p in db.statements if t.startswith(('DELETE', 'INSERT', 'UPDATE'))]


@pytest.mark.parametrize('params, words', [
    ({'phase': 'prepare'}, 'phase: prepare is for online mode only: set mode: online'),
    ({'mode': 'online', 'cutover_lock_timeout': 0}, 'cutover_lock_timeout is 0'),
    ({'mode': 'online', 'cutover_retries': -1}, 'cutover_retries is -1'),
])
def test_online_options_are_checked_before_anything(params, words):
    with pytest.raises(PlanError) as e:
        make_ctx(**params)
    assert words in str(e.value)


def test_round_numbers_only_grow_past_the_last_verification():
    """A verification removes the entries it covered; the next rounds must still count above it,
    or the cut-over's check of "applied since the last verification" would miss them."""
    db = FakeDb([('max(applied_round)', 0)])
    ctx = online_ctx(db=db)
    assert catchup.last_round(ctx, db, capture.FORWARD, floor=4) == 4
    db = FakeDb([('max(applied_round)', 9)])
    assert catchup.last_round(ctx, db, capture.FORWARD, floor=4) == 9
