# -*- coding: utf-8 -*-
"""migration/revert.py: the inverse of the forward steps (state: reverted)."""

import pytest

psycopg2 = pytest.importorskip('psycopg2')

from ansible_collections.soar.partman.plugins.module_utils.migration import revert  # noqa: E402
from partman_testing import PHASE_RECORD, FakeDb, make_ctx, state_row  # noqa: E402

PARENT = 16500


def child(n):
    return {'name': 'public.fixes_p%d' % n, 'schema': 'public', 'relname': 'fixes_p%d' % n, 'oid': 30000 + n,
            'bound': "FOR VALUES FROM ('%d') TO ('%d')" % (n, n + 1)}


def test_prepare_drops_the_keys_pointing_at_the_parent_only():
    db = FakeDb([('::regclass::oid::bigint', PARENT),
                 ('confrelid::bigint', lambda p: PARENT if p[2] == 'notes_fix_fkey' else 16400),
                 ('SELECT max(', '2024-01-02 10:00:00+00')])
    revert.revert_prepare(make_ctx(db), state_row(step='verified'), state_row()['snapshot'])
    texts = db.texts()
    assert texts[:2] == ['LOCK TABLE "public"."fixes", "public"."fixes_old" IN ACCESS EXCLUSIVE MODE',
                         'ALTER TABLE "public"."notes" DROP CONSTRAINT "notes_fix_fkey"']
    state = db.statements[2]
    assert state[0].startswith('UPDATE "partman"."partman_migrate_state" SET "direction" = %s')
    assert state[1][0] == 'revert' and state[1][2] == 'revert-copy'


def test_copy_back_rows_the_old_table_lacks_with_its_triggers_off():
    db = FakeDb([('::regclass::oid::bigint', PARENT), ('FROM pg_inherits', lambda p: [child(1), child(2)]),
                 ('partman_migrate_partition" WHERE', [{'partition': 'public.fixes_p1', 'reverted': True}])])
    revert.revert_copy(make_ctx(db), state_row(step='revert-copy'), state_row()['snapshot'])
    assert db.texts()[:5] == [
        'ALTER TABLE "public"."fixes_old" DISABLE TRIGGER "t_on"',
        'ALTER TABLE "public"."fixes_old" DISABLE TRIGGER "t_always"',
        'INSERT INTO "public"."fixes_old" ("id", "received_at", "seq") OVERRIDING SYSTEM VALUE '
        'SELECT n."id", n."received_at", n."seq" FROM ONLY "public"."fixes_p2" AS n '
        'WHERE NOT EXISTS (SELECT 1 FROM "public"."fixes_old" o WHERE o."id" = n."id")',
        'ALTER TABLE "public"."fixes_old" ENABLE TRIGGER "t_on"',
        'ALTER TABLE "public"."fixes_old" ENABLE ALWAYS TRIGGER "t_always"',
    ]
    work = [st for st in db.statements if PHASE_RECORD not in st[0]]
    assert work[5][1] == ('public.fixes', 'public.fixes_p2')   # recorded as reverted, then committed
    # progress: partitions copied back, the one reverted before counted done
    records = db.progress_records()
    assert [(r['step'], r['unit'], r['done'], r['total']) for r in (records[0], records[-1])] == \
        [('revert-drop', 'partitions', 1, 2), ('revert-drop', 'partitions', 2, 2)]
    assert db.events[-1] == 'COMMIT'


def test_copy_back_without_a_primary_key_takes_rows_after_the_old_maximum():
    snap = state_row()['snapshot']
    snap['constraints'] = [c for c in snap['constraints'] if c['type'] != 'p']
    snap['triggers'] = []
    db = FakeDb([('::regclass::oid::bigint', PARENT), ('FROM pg_inherits', lambda p: [child(1)])])
    revert.revert_copy(make_ctx(db), state_row(extra={'revert_max': '2024-01-02'}), snap)
    work = [st for st in db.statements if PHASE_RECORD not in st[0]]
    assert work[0][0].endswith('FROM ONLY "public"."fixes_p1" AS n WHERE n."received_at" > %s')
    assert work[0][1] == ('2024-01-02',)


def test_drop_partitions_in_chunks():
    db = FakeDb([('::regclass::oid::bigint', PARENT), ('FROM pg_class c JOIN pg_namespace n', True),
                 ('FROM pg_inherits', lambda p: [child(n) for n in range(120)])])
    revert.revert_drop(make_ctx(db), state_row()['snapshot'])
    assert len(db.texts()) == 120 and db.texts()[0] == 'DROP TABLE "public"."fixes_p0"'
    assert db.events.count('COMMIT') == 3                                 # DROP_CHUNK = 50


def test_finish_puts_the_plain_table_back():
    db = FakeDb([('part_config WHERE', [{'template_table': 'partman.template_public_fixes'}]),
                 ('FROM pg_class c JOIN pg_namespace n', True),
                 ('confrelid::bigint', lambda p: 16400 if p[2] == 'notes_fix_fkey' else None)])
    state = state_row(step='revert-drop', direction='revert', extra={'index_renames': {'fixes_pkey': 'fixes_pkey_old'}})
    revert.revert_finish(make_ctx(db), state, state['snapshot'])
    assert db.texts() == [
        'ALTER SEQUENCE "public"."fixes_id_seq" OWNED BY "public"."fixes_old"."id"',
        'SELECT setval(%s::regclass, greatest((SELECT last_value FROM "public"."fixes_seq_seq"), '
        '(SELECT max("seq") FROM "public"."fixes_old")))',
        'DELETE FROM "partman".part_config_sub WHERE sub_parent = %s',
        'DELETE FROM "partman".part_config WHERE parent_table = %s',
        'DROP TABLE "public"."fixes"',
        'DROP TABLE "partman"."template_public_fixes"',
        'ALTER TABLE "public"."fixes_old" RENAME TO "fixes"',
        'ALTER INDEX "public"."fixes_pkey_old" RENAME TO "fixes_pkey"',
        # the inbound key that is gone (dropped at the start) comes back; the other one is still there
        'ALTER TABLE "public"."tags" ADD CONSTRAINT "tags_fix_fkey" FOREIGN KEY (fix_id) REFERENCES fixes(id)',
        'DELETE FROM "partman"."partman_migrate_state" WHERE table_name = %s',
    ]


@pytest.mark.parametrize('check_mode', [True, False])
def test_not_migrated_and_check_mode(check_mode):
    db = FakeDb([('FROM pg_class c\n', [{'relkind': 'r', 'oid': 1}])])
    ctx = make_ctx(db, check_mode=check_mode)
    revert.run(ctx, None)
    assert ctx.plan == {'table': 'public.fixes', 'status': 'not migrated', 'steps': []} and not ctx.changed
