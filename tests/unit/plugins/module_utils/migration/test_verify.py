# -*- coding: utf-8 -*-
"""migration/verify.py: step verified, every partition against the old table."""

import datetime

import pytest

psycopg2 = pytest.importorskip('psycopg2')

from ansible_collections.soar.partman.plugins.module_utils.migration import capture, verify  # noqa: E402
from ansible_collections.soar.partman.plugins.module_utils.migration.context import MigrationError  # noqa: E402
from partman_testing import UTC, FakeDb, make_ctx, render, snapshot, state_row  # noqa: E402

D1, D2 = datetime.datetime(2024, 1, 1, tzinfo=UTC), datetime.datetime(2024, 1, 2, tzinfo=UTC)


def test_aggregate_count_or_checksum():
    assert render(verify.aggregate(['id', 'note'], False)) == 'count(*), 0'
    assert render(verify.aggregate(['id', 'note'], True)) == (
        "count(*), coalesce(sum(('x' || substr(md5(ROW(\"id\", \"note\")::text), 1, 15))::bit(60)::bigint), 0)")


def child(day, default=False):
    if default:
        return {'name': 'public.fixes_default', 'schema': 'public', 'relname': 'fixes_default', 'oid': 1,
                'bound': 'DEFAULT'}
    return {'name': 'public.fixes_p%d' % day.day, 'schema': 'public', 'relname': 'fixes_p%d' % day.day,
            'oid': 10 + day.day, 'bound': "FOR VALUES FROM ('%s') TO ('x')" % day.isoformat()}


def fake_db(new_counts, default_rows=0):
    def per_partition(_params):
        return None
    answers = [
        ('::regclass::oid::bigint', 16500),
        ('GROUP BY 1', [(D1, 10, 0), (D2, 20, 0)]),
        ('FROM pg_inherits', lambda p: [child(D1), child(D2), child(None, default=True)]),
        ('SELECT %s::timestamp with time zone::timestamptz', lambda p: datetime.datetime.fromisoformat(p[0])),
        ('FROM ONLY "public"."fixes_p1"', [(new_counts[0], 0)]),
        ('FROM ONLY "public"."fixes_p2"', [(new_counts[1], 0)]),
        ('FROM ONLY "public"."fixes_default"', [(default_rows, 0)]),
    ]
    return FakeDb(answers)


def test_verified():
    db = fake_db((10, 20))
    ctx = make_ctx(db)
    verify.run(ctx, state_row())
    assert ctx.plan == {'verified_rows': 30, 'old_rows': 30}
    assert ctx.rows_copied == {'public.fixes_p1': 10, 'public.fixes_p2': 20}
    stmts = [st for st in db.statements if st[0] in db.texts()]
    assert stmts[0] == ('SELECT date_trunc(%s, "received_at")::timestamptz, count(*), 0 FROM '
                        '"public"."fixes_old" s GROUP BY 1', ('day',))
    # counted: the old table's scan and the 3 partitions (with the default)
    records = db.progress_records()
    assert (records[0]['step'], records[0]['unit'], records[0]['done'], records[0]['total']) == \
        ('verified', 'partitions', 0, 4)
    assert (records[-1]['done'], records[-1]['total']) == (4, 4)


def test_failure_names_each_difference_and_keeps_the_state():
    db = fake_db((10, 19), default_rows=1)
    with pytest.raises(MigrationError) as e:
        verify.run(make_ctx(db), state_row())
    msg = str(e.value)
    assert msg.startswith('verification FAILED, public.fixes_old is intact and was not touched: total 30 new vs 30 old')
    assert 'public.fixes_p2: 19 rows, public.fixes_old has 20 in [2024-01-02T00:00:00+00:00, x)' in msg
    assert 'default partition public.fixes_default holds 1 rows' in msg
    assert any(t.startswith('UPDATE "partman"."partman_migrate_state" SET "message"') for t in db.texts())


def online_ctx(db):
    ctx = make_ctx(db, mode='online')
    ctx.use_target(built_aside=True)
    return ctx


def prelock_db(source_row, target_row):
    return FakeDb([('max(applied_round)', 7), ('SELECT count(*) FROM "partman_migrate_changed"', 3),
                   ('FROM "public"."fixes" s', [source_row]),
                   ('FROM "partman_migrate_online"."fixes" s', [target_row])])


def test_before_the_lock_the_applied_keys_are_compared_under_one_snapshot_without_the_pending_ones():
    db = prelock_db((3, 99), (3, 99))
    ctx = online_ctx(db)
    covered, keys = verify.verify_applied(ctx, db, snapshot(), capture.FORWARD, ctx.t_source, ctx.t_target, 4)
    assert (covered, keys) == (7, 3)   # the window verifies only rounds after 7
    texts = db.texts()
    assert db.events[0] == 'ROLLBACK' and texts[0] == 'SET TRANSACTION ISOLATION LEVEL REPEATABLE READ'
    changed = [(t, p) for t, p in db.statements if 'CREATE TEMP TABLE "partman_migrate_changed"' in t][0]
    assert changed[0].endswith('WHERE applied_round > %s') and changed[1] == (4,)
    assert [t for t in texts if 'CREATE TEMP TABLE "partman_migrate_pending"' in t][0].endswith(
        'WHERE applied_round IS NULL')
    leave_out = [t for t in texts if t.startswith('DELETE')][0]
    assert leave_out == ('DELETE FROM "partman_migrate_changed" c USING "partman_migrate_pending" p WHERE '
                         '"c"."id" = "p"."id" AND "c"."received_at" = "p"."received_at"')
    compared = [t for t in texts if t.startswith('SELECT count(*), coalesce(sum(')]
    assert len(compared) == 2 and texts.index(leave_out) < texts.index(compared[0])
    assert db.events[-1] == 'ROLLBACK'   # read only: nothing to commit


def test_a_difference_before_the_lock_stops_the_cutover_before_anything_is_swapped():
    db = prelock_db((3, 99), (3, 98))
    ctx = online_ctx(db)
    with pytest.raises(MigrationError) as e:
        verify.verify_applied(ctx, db, snapshot(), capture.FORWARD, ctx.t_source, ctx.t_target, 4)
    assert str(e.value).startswith('verification of the 3 keys changed since the last verification FAILED '
                                   '(before the lock): 3 rows (checksum 99) in public.fixes, 3 rows (checksum 98) '
                                   'in partman_migrate_online.fixes. Nothing was swapped')
    assert db.events[-1] == 'ROLLBACK'
