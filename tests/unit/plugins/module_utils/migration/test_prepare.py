# -*- coding: utf-8 -*-
"""migration/prepare.py: step prepare's statements, on both pg_partman majors."""

import pytest

psycopg2 = pytest.importorskip('psycopg2')

from ansible_collections.soar.partman.plugins.module_utils.migration import prepare  # noqa: E402
from partman_testing import FakeDb, make_ctx, snapshot  # noqa: E402

GRANTS = [
    ('aclexplode(c.relacl)', [{'grantee': 'reader', 'priv': 'SELECT', 'grantable': False},
                              {'grantee': None, 'priv': 'INSERT', 'grantable': False}]),
    ('aclexplode(att.attacl)', [{'col': 'note', 'grantee': 'app', 'priv': 'UPDATE', 'grantable': True}]),
]


def fake_db():
    return FakeDb(GRANTS + [
        ('pg_get_serial_sequence', 'public.fixes_seq_seq1'),
        ('SELECT last_value, is_called', [{'last_value': 42, 'is_called': True}]),
        ("current_setting('TimeZone')", 'Europe/Berlin'),
    ])


@pytest.mark.parametrize('major', [4, 5])
def test_prepare_statements_in_one_transaction(major):
    db = fake_db()
    ctx = make_ctx(db, major=major)
    prepare.run(ctx, snapshot())
    texts = db.texts()
    assert texts[:5] == [
        'LOCK TABLE "public"."fixes" IN ACCESS EXCLUSIVE MODE',
        # the inbound key that cannot follow (no received_at in it) is dropped; the other is re-pointed later
        'ALTER TABLE "public"."tags" DROP CONSTRAINT "tags_fix_fkey"',
        'ALTER TABLE "public"."fixes" RENAME TO "fixes_old"',
        'ALTER INDEX "public"."fixes_pkey" RENAME TO "fixes_pkey_old"',
        'ALTER INDEX "public"."fixes_received_at_idx" RENAME TO "fixes_received_at_idx_old"',
    ]
    assert texts[6] == (
        'CREATE TABLE "public"."fixes" (LIKE "public"."fixes_old" INCLUDING DEFAULTS INCLUDING CONSTRAINTS '
        'INCLUDING GENERATED INCLUDING IDENTITY INCLUDING COMMENTS INCLUDING STORAGE INCLUDING STATISTICS '
        'INCLUDING COMPRESSION) PARTITION BY RANGE ("received_at")')
    assert texts[7:13] == [
        'ALTER TABLE "public"."fixes" ALTER COLUMN "received_at" SET NOT NULL',
        'COMMENT ON TABLE "public"."fixes" IS %s',
        'ALTER TABLE "public"."fixes" OWNER TO "soar"',
        'GRANT SELECT ON "public"."fixes" TO "reader"',
        'GRANT INSERT ON "public"."fixes" TO PUBLIC',
        'GRANT UPDATE ("note") ON "public"."fixes" TO "app" WITH GRANT OPTION',
    ]
    # serial: ownership moves; identity: the new sequence continues where the old one is
    assert 'ALTER SEQUENCE "public"."fixes_id_seq" OWNED BY "public"."fixes"."id"' in texts
    assert ('SELECT setval(%s::regclass, %s, %s)', ('public.fixes_seq_seq1', 42, True)) in db.statements
    create_parent = [(t, p) for t, p in db.statements if 'create_parent' in t]
    assert len(create_parent) == 1
    text, args = create_parent[0]
    if major == 4:
        assert args == ['public.fixes', 'received_at', 'native', '1 day', 3, '2024-01-02T00:00:00+00:00']
        assert 'p_default_table' not in text
    else:
        assert args == ['public.fixes', 'received_at', '1 day', 'range', 3, '2024-01-02T00:00:00+00:00', True]
        assert '"p_default_table" => %s::boolean' in text
    assert any('CREATE TRIGGER "partman_migrate_refuse_writes"' in t for t in texts)
    state = [p for t, p in db.statements if t.startswith('INSERT INTO "partman"."partman_migrate_state"')][0]
    assert state[:3] == ('public.fixes', 'public.fixes_old', 'prepared') and state[6] == 'Europe/Berlin'
    # one transaction: nothing committed before the end
    assert db.events.count('COMMIT') == 1 and db.events[-1] == 'COMMIT' and 'ROLLBACK' not in db.events


def test_prepare_keeps_no_password_in_the_state_row():
    db = fake_db()
    ctx = make_ctx(db, login_password='secret')
    prepare.run(ctx, snapshot())
    state = [p for t, p in db.statements if t.startswith('INSERT INTO "partman"."partman_migrate_state"')][0]
    assert 'login_password' not in state[3].adapted


def test_parent_like_the_old_table_before_pg14_and_in_its_tablespace():
    ctx = make_ctx(server_version=130000)
    snap = snapshot()
    snap['table']['tablespace'] = 'fast'
    text = prepare.create_parent_table(ctx, snap["table"], ctx.t_old)
    from partman_testing import render
    assert 'COMPRESSION' not in render(text)
    assert render(text).endswith('PARTITION BY RANGE ("received_at") TABLESPACE "fast"')
