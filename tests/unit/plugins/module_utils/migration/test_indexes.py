# -*- coding: utf-8 -*-
"""migration/indexes.py: step indexed."""

import pytest

psycopg2 = pytest.importorskip('psycopg2')

from ansible_collections.soar.partman.plugins.module_utils.migration import indexes  # noqa: E402
from ansible_collections.soar.partman.plugins.module_utils.migration.context import MigrationError  # noqa: E402
from ansible_collections.soar.partman.plugins.module_utils.migration.indexes import _interleave_second_half  # noqa: E402
from partman_testing import FakeDb, make_ctx, render, snapshot, state_row  # noqa: E402


def test_interleave_second_half_keeps_every_item_and_spreads_the_extra():
    assert _interleave_second_half([1, 2, 3, 4], ['a', 'b']) == [1, 2, 3, 'a', 4, 'b']
    assert _interleave_second_half([1, 2], ['a', 'b', 'c']) == [1, 2, 'a', 'b', 'c']
    assert _interleave_second_half([], ['a']) == ['a']
    assert _interleave_second_half([1, 2, 3], []) == [1, 2, 3]


def test_parent_statements_keys_widened_in_build_order():
    ctx = make_ctx()
    stmts = indexes.index_statements(ctx, snapshot())
    assert [(name, render(stmt), objname, kind) for name, stmt, objname, kind, _src in stmts] == [
        ('fixes_pkey', 'ALTER TABLE "public"."fixes" ADD CONSTRAINT "fixes_pkey" PRIMARY KEY (id, received_at)',
         'fixes_pkey', 'constraint'),
        ('fixes_received_at_idx', 'CREATE INDEX IF NOT EXISTS "fixes_received_at_idx" ON "public"."fixes" USING btree '
         '(received_at)', 'fixes_received_at_idx', 'index'),
        ('fixes_dev_seq', 'CREATE UNIQUE INDEX IF NOT EXISTS "fixes_dev_seq" ON "public"."fixes" USING btree '
         '(seq, received_at) WHERE (seq > 0)', 'fixes_dev_seq', 'index'),
    ]


def test_one_connection_builds_what_the_parent_lacks_with_comments():
    db = FakeDb([('::regclass::oid::bigint', 16500),
                 ('FROM pg_class c JOIN pg_namespace n', lambda p: p[1] == 'fixes_received_at_idx')])
    indexes.run(make_ctx(db, jobs=1), state_row())
    assert db.texts() == [
        'ALTER TABLE "public"."fixes" ADD CONSTRAINT "fixes_pkey" PRIMARY KEY (id, received_at)',
        'COMMENT ON CONSTRAINT "fixes_pkey" ON "public"."fixes" IS %s',
        'CREATE UNIQUE INDEX IF NOT EXISTS "fixes_dev_seq" ON "public"."fixes" USING btree (seq, received_at) '
        'WHERE (seq > 0)',
        'COMMENT ON INDEX "public"."fixes_dev_seq" IS %s',
    ]
    assert ('COMMENT ON INDEX "public"."fixes_dev_seq" IS %s', ('100% unique',)) in db.statements


def child(n):
    return {'name': 'public.fixes_p%d' % n, 'schema': 'public', 'relname': 'fixes_p%d' % n, 'oid': 30000 + n,
            'bound': "FOR VALUES FROM ('2024-01-0%d') TO ('2024-01-0%d')" % (n, n + 1)}


def sequential(ctx, db, seen):
    """ctx.in_parallel run on one connection in order, so that the order of the tasks shows."""
    def in_parallel(items, fn, settings=None):
        seen.append(settings)
        for item in items:
            fn(db, item)
        return []
    ctx.in_parallel = in_parallel


def test_jobs_build_on_each_child_then_attach_with_keys_interleaved():
    db = FakeDb([('::regclass::oid::bigint', 16500), ('FROM pg_inherits', lambda p: [child(1), child(2)])])
    ctx = make_ctx(db, jobs=2)
    seen = []
    sequential(ctx, db, seen)
    indexes.run(ctx, state_row())
    assert seen == [{'max_parallel_maintenance_workers': '0'}]
    pk, idx, fk = ('ALTER TABLE "public"."fixes_p{n}" ADD CONSTRAINT "fixes_p{n}_fixes_pkey" PRIMARY KEY (id, received_at)',
                   'CREATE UNIQUE INDEX IF NOT EXISTS "fixes_p{n}_fixes_dev_seq" ON "public"."fixes_p{n}" USING btree '
                   '(seq, received_at) WHERE (seq > 0)',
                   'ALTER TABLE "public"."fixes_p{n}" ADD CONSTRAINT "fixes_aircraft_fkey" FOREIGN KEY (aircraft_id) '
                   'REFERENCES aircraft(id) NOT VALID')
    valid = 'ALTER TABLE "public"."fixes_p{n}" VALIDATE CONSTRAINT "fixes_aircraft_fkey"'
    ri = 'CREATE INDEX IF NOT EXISTS "fixes_p{n}_fixes_received_at_idx" ON "public"."fixes_p{n}" USING btree (received_at)'
    # ANALYZE first (beside the builds, without lock_timeout); the newest child first; a child's
    # outgoing key (not the one towards the table itself) after half of the next child's builds,
    # waiting for its locks, added NOT VALID and validated in a second transaction; then the parent
    # attaches what the children have
    assert db.texts() == [
        "SELECT set_config('lock_timeout', '0', false)", 'ANALYZE "public"."fixes"',
        'SELECT set_config(%s, %s, false)',
        pk.format(n=2), ri.format(n=2), idx.format(n=2),
        pk.format(n=1), ri.format(n=1), 'SET LOCAL lock_timeout = 0', fk.format(n=2),
        'SET LOCAL lock_timeout = 0', valid.format(n=2), idx.format(n=1),
        'SET LOCAL lock_timeout = 0', fk.format(n=1), 'SET LOCAL lock_timeout = 0', valid.format(n=1),
        'ALTER TABLE "public"."fixes" ADD CONSTRAINT "fixes_pkey" PRIMARY KEY (id, received_at)',
        'COMMENT ON CONSTRAINT "fixes_pkey" ON "public"."fixes" IS %s',
        'CREATE INDEX IF NOT EXISTS "fixes_received_at_idx" ON "public"."fixes" USING btree (received_at)',
        'CREATE UNIQUE INDEX IF NOT EXISTS "fixes_dev_seq" ON "public"."fixes" USING btree (seq, received_at) '
        'WHERE (seq > 0)',
        'COMMENT ON INDEX "public"."fixes_dev_seq" IS %s',
    ]
    assert ctx.analyzed


def test_jobs_on_the_pool_of_connections():
    db = FakeDb([('::regclass::oid::bigint', 16500), ('FROM pg_inherits', lambda p: [child(1), child(2)])])
    ctx = make_ctx(db, jobs=3)
    indexes.run(ctx, state_row())
    texts = db.texts()
    assert ("SELECT set_config(%s, %s, false)", ('max_parallel_maintenance_workers', '0')) in db.statements
    assert len([t for t in texts if '"public"."fixes_p' in t]) == 10 and 'ANALYZE "public"."fixes"' in texts


def _fail_build(params):
    raise RuntimeError('could not create unique index')


def test_jobs_report_every_failed_build():
    db = FakeDb([('::regclass::oid::bigint', 16500), ('FROM pg_inherits', lambda p: [child(1)]),
                 ('CREATE UNIQUE INDEX', _fail_build)])
    with pytest.raises(MigrationError, match='building indexes and foreign keys on partitions failed: could not create'):
        indexes.run(make_ctx(db, jobs=2), state_row())


def test_one_connection_counts_each_parent_statement_as_a_build():
    db = FakeDb([('::regclass::oid::bigint', 16500),
                 ('FROM pg_class c JOIN pg_namespace n', lambda p: p[1] == 'fixes_received_at_idx')])
    indexes.run(make_ctx(db, jobs=1), state_row())
    records = db.progress_records()
    # the two statements the parent lacks; the first record at the start, the last when all are done
    assert records[0] == dict(records[0], step='indexed', unit='builds', done=0, total=2)
    assert (records[-1]['done'], records[-1]['total']) == (2, 2)


def test_jobs_count_every_child_build_key_and_analyze_then_the_parent():
    db = FakeDb([('::regclass::oid::bigint', 16500), ('FROM pg_inherits', lambda p: [child(1), child(2)])])
    ctx = make_ctx(db, jobs=2)
    sequential(ctx, db, [])
    indexes.run(ctx, state_row())
    records = db.progress_records()
    # 2 children x (3 builds + 1 key) + ANALYZE + 3 parent statements
    assert [r['total'] for r in records][-1] == 12 and records[-1]['done'] == 12
    assert all(r['done'] <= r['total'] for r in records)


def test_a_pause_ratio_builds_on_each_child_also_with_one_job_and_pauses_after_each(monkeypatch):
    from ansible_collections.soar.partman.plugins.module_utils import batches
    clock = [100.0]
    slept = []
    monkeypatch.setattr(batches.time, 'time', lambda: clock[0])
    monkeypatch.setattr(batches.time, 'sleep', slept.append)

    def build_takes_two_seconds(params):
        clock[0] += 2.0
    db = FakeDb([('::regclass::oid::bigint', 16500), ('FROM pg_inherits', lambda p: [child(1)]),
                 ('"fixes_p1_fixes_dev_seq"', build_takes_two_seconds)])
    ctx = make_ctx(db, jobs=1, copy_pause_ratio=1.5)
    sequential(ctx, db, [])
    indexes.run(ctx, state_row())
    texts = db.texts()
    assert 'ANALYZE "public"."fixes"' in texts
    assert texts.index('CREATE UNIQUE INDEX IF NOT EXISTS "fixes_p1_fixes_dev_seq" ON "public"."fixes_p1" USING btree '
                       '(seq, received_at) WHERE (seq > 0)') < texts.index(
        'CREATE UNIQUE INDEX IF NOT EXISTS "fixes_dev_seq" ON "public"."fixes" USING btree (seq, received_at) '
        'WHERE (seq > 0)')
    # one pause per task (ANALYZE, 3 builds, the key): 1.5x the unique index's 2 s, no more for the others
    assert sorted(slept) == [0.0] * 4 + [3.0]


def test_without_a_pause_ratio_one_job_builds_on_the_parent_only():
    db = FakeDb([('::regclass::oid::bigint', 16500), ('FROM pg_inherits', lambda p: [child(1)])])
    indexes.run(make_ctx(db, jobs=1, copy_pause_ratio=0), state_row())
    assert not [t for t in db.texts() if '"public"."fixes_p1"' in t]
