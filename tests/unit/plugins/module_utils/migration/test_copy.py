# -*- coding: utf-8 -*-
"""migration/copy.py: step copied, child by child (range) or by heap blocks (ctid)."""

import pytest

psycopg2 = pytest.importorskip('psycopg2')

from ansible_collections.soar.partman.plugins.module_utils.migration import copy  # noqa: E402
from ansible_collections.soar.partman.plugins.module_utils.migration.context import MigrationError  # noqa: E402
from partman_testing import FakeDb, make_ctx, state_row  # noqa: E402

LO, HI = '2024-01-01 00:00:00+00', '2024-01-02 00:00:00+00'


def part(rows=0, done=False):
    return {'partition': 'public.fixes_p20240101', 'lo': LO, 'hi': HI, 'done_upto': None, 'rows': rows, 'done': done}


def fake_db(parts, have=0):
    return FakeDb([
        ('partman_migrate_partition" WHERE', parts),
        ('SELECT count(*) FROM ONLY', have),
        ('SELECT %s::timestamp with time zone::timestamptz', None),
        ('SELECT least(', [(HI, True, True)]),          # one slice reaches the end of the child
    ])


def test_range_copies_each_child_in_slices_committed_with_their_state():
    db = fake_db([part()])
    copy.run(make_ctx(db, jobs=1), state_row())
    insert = [(t, p) for t, p in db.statements if t.startswith('INSERT INTO')]
    assert insert == [(
        'INSERT INTO "public"."fixes_p20240101" ("id", "received_at", "seq") OVERRIDING SYSTEM VALUE '
        'SELECT "id", "received_at", "seq" FROM "public"."fixes_old" WHERE "received_at" >= %s AND "received_at" < %s',
        (LO, HI))]
    texts = db.texts()
    assert texts.index(insert[0][0]) + 1 == texts.index(
        'UPDATE "partman"."partman_migrate_partition" SET done_upto = %s, rows = rows + %s, done = %s, '
        'seconds = seconds + %s WHERE table_name = %s AND partition = %s')


def test_a_child_holding_rows_the_migration_did_not_write_is_refused():
    db = fake_db([part(rows=5)], have=7)
    with pytest.raises(MigrationError, match='public.fixes_p20240101 holds 7 rows but the migration committed 5 '
                                             'into it: something else wrote into the new table'):
        copy.run(make_ctx(db, jobs=1), state_row())
    assert not [t for t in db.texts() if t.startswith('INSERT INTO') or t.startswith('DELETE')]


def test_ctid_copies_block_ranges_through_the_parent():
    db = FakeDb([('partman_migrate_partition" WHERE', []), ('pg_relation_size', 10)])
    # 100 rows per block (reltuples 3000, relpages 30): 5 blocks per batch of 500 rows
    copy.run(make_ctx(db, batch_size=500), state_row(copy_method='ctid', rows_total=3000))
    inserts = [(t, p) for t, p in db.statements if t.startswith('INSERT INTO')]
    head = ('INSERT INTO "public"."fixes" ("id", "received_at", "seq") OVERRIDING SYSTEM VALUE SELECT '
            '"id", "received_at", "seq" FROM "public"."fixes_old" WHERE ')
    assert inserts == [(head + 'ctid >= %s::tid AND ctid < %s::tid', ('(0,0)', '(5,0)')),
                       (head + 'ctid >= %s::tid', ('(5,0)',))]
    assert ('UPDATE "partman"."partman_migrate_state" SET "ctid_blocks" = %s, updated_at = now() '
            'WHERE table_name = %s', [10, 'public.fixes']) in db.statements
