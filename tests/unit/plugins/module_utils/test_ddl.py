# -*- coding: utf-8 -*-
"""ddl.py: rewriting pg_get_*def() text, and the statement builders."""

import pytest

from ansible_collections.soar.partman.plugins.module_utils import ddl
from ansible_collections.soar.partman.plugins.module_utils import names as nm
from partman_testing import render

try:
    from psycopg2 import sql
except ImportError:
    sql = None

needs_sql = pytest.mark.skipif(sql is None, reason='needs psycopg2')


def test_split_and_widen_index_def():
    unique, tail = ddl.split_index_def(
        'CREATE UNIQUE INDEX fixes_dev_key ON public.fixes USING btree (device_id, seq) WHERE (seq > 0)',
        'fixes_dev_key', 'public', 'fixes')
    assert unique is True
    assert tail == ' USING btree (device_id, seq) WHERE (seq > 0)'
    assert ddl.widen_index_tail(tail, 'received_at') == ' USING btree (device_id, seq, received_at) WHERE (seq > 0)'


def test_split_index_def_quoted_and_expressions():
    unique, tail = ddl.split_index_def(
        'CREATE INDEX "Odd Idx" ON "My Schema"."Fixes" USING gist (st_buffer(location, (1)::double precision))',
        'Odd Idx', 'My Schema', 'Fixes')
    assert not unique
    assert ddl.index_tail_columns(tail) == 'st_buffer(location, (1)::double precision)'
    with pytest.raises(nm.PlanError):
        ddl.split_index_def('CREATE INDEX x ON public.other USING btree (a)', 'x', 'public', 'fixes')


def test_widen_index_tail_with_include_and_strings():
    tail = " USING btree (lower((name)::text), \"a)b\") INCLUDE (c) WHERE (note <> ')'::text)"
    assert ddl.widen_index_tail(tail, 'received_at') == (
        " USING btree (lower((name)::text), \"a)b\", received_at) INCLUDE (c) WHERE (note <> ')'::text)")


def test_widen_columns_and_description():
    assert ddl.widen_columns(['id'], 'received_at') == ['id', 'received_at']
    assert ddl.widen_columns(['id', 'received_at'], 'received_at') == ['id', 'received_at']
    assert ddl.describe_key_change('PRIMARY KEY', ['id'], ['id', 'received_at']) == \
        'PRIMARY KEY (id) -> (id, received_at)'


def test_describe_inbound_fks():
    fks = [{'name': 'fix_annotations_fix_id_fkey', 'table': 'public.fix_annotations', 'referenced_columns': ['id']},
           {'name': 'b_fkey', 'table': 'public.b', 'referenced_columns': ['id', 'seq']}]
    assert ddl.describe_inbound_fks(fks, 'public.fixes') == (
        'fix_annotations_fix_id_fkey on public.fix_annotations (references public.fixes (id)); '
        'b_fkey on public.b (references public.fixes (id, seq))')


def test_retarget_trigger_def():
    d = 'CREATE TRIGGER t BEFORE INSERT ON public.fixes FOR EACH ROW EXECUTE FUNCTION f()'
    assert ddl.retarget_trigger_def(d, 'public', 'fixes', 'public', 'fixes_new') == \
        'CREATE TRIGGER t BEFORE INSERT ON public.fixes_new FOR EACH ROW EXECUTE FUNCTION f()'


# ------------------------------------------------------------------ statement builders
@needs_sql
def test_add_and_drop_constraint_escape_percent():
    t = sql.Identifier('public', 'fixes')
    assert render(ddl.add_constraint(t, 'fixes_note_check', "CHECK ((note <> '%'::text))")) == (
        'ALTER TABLE "public"."fixes" ADD CONSTRAINT "fixes_note_check" CHECK ((note <> \'%%\'::text))')
    assert render(ddl.drop_constraint(t, 'Odd"Name')) == 'ALTER TABLE "public"."fixes" DROP CONSTRAINT "Odd""Name"'


@needs_sql
@pytest.mark.parametrize('src, kind, expected', [
    ({'def': 'PRIMARY KEY (id)', 'columns': ['id']}, 'constraint',
     'ALTER TABLE "public"."fixes" ADD CONSTRAINT "k" PRIMARY KEY (id, received_at)'),
    ({'def': 'UNIQUE (id, received_at)', 'columns': ['id', 'received_at']}, 'constraint',
     'ALTER TABLE "public"."fixes" ADD CONSTRAINT "k" UNIQUE (id, received_at)'),
    ({'tail': ' USING btree (seq) WHERE (seq > 0)', 'unique': True, 'columns': ['seq']}, 'index',
     'CREATE UNIQUE INDEX IF NOT EXISTS "k" ON "public"."fixes" USING btree (seq, received_at) WHERE (seq > 0)'),
    ({'tail': " USING btree (lower(note)) WHERE (note <> '%'::text)", 'unique': False, 'columns': []}, 'index',
     'CREATE INDEX IF NOT EXISTS "k" ON "public"."fixes" USING btree (lower(note)) WHERE (note <> \'%%\'::text)'),
])
def test_key_or_index_widens_unique_keys_with_the_control_column(src, kind, expected):
    assert render(ddl.key_or_index(kind, src, sql.Identifier('public', 'fixes'), 'k', 'received_at')) == expected


@needs_sql
def test_key_or_index_quotes_a_reserved_control_column():
    got = ddl.key_or_index('constraint', {'def': 'PRIMARY KEY (id)', 'columns': ['id']},
                           sql.Identifier('fixes'), 'k', 'order')
    assert render(got).endswith('PRIMARY KEY (id, "order")')


@needs_sql
def test_grant_table_column_public_and_grant_option():
    t = sql.Identifier('public', 'fixes')
    assert render(ddl.grant({'priv': 'SELECT', 'grantee': 'reader', 'grantable': False}, t)) == \
        'GRANT SELECT ON "public"."fixes" TO "reader"'
    assert render(ddl.grant({'priv': 'INSERT', 'grantee': None, 'grantable': False}, t)) == \
        'GRANT INSERT ON "public"."fixes" TO PUBLIC'
    assert render(ddl.grant({'priv': 'UPDATE', 'grantee': 'app', 'grantable': True}, t, column='note')) == \
        'GRANT UPDATE ("note") ON "public"."fixes" TO "app" WITH GRANT OPTION'


@needs_sql
@pytest.mark.parametrize('enabled, verb', [('D', 'DISABLE'), ('O', 'ENABLE'), ('A', 'ENABLE ALWAYS'),
                                           ('R', 'ENABLE REPLICA')])
def test_trigger_state(enabled, verb):
    assert render(ddl.trigger_state(sql.Identifier('public', 'fixes'), 't', enabled)) == \
        'ALTER TABLE "public"."fixes" %s TRIGGER "t"' % verb


@needs_sql
def test_small_builders():
    t, o = sql.Identifier('public', 'fixes'), sql.Identifier('public', 'fixes_old')
    assert render(ddl.sequence_owned_by('public.fixes_id_seq', t, 'id')) == \
        'ALTER SEQUENCE "public"."fixes_id_seq" OWNED BY "public"."fixes"."id"'
    assert render(ddl.lock_exclusive(t, o)) == 'LOCK TABLE "public"."fixes", "public"."fixes_old" IN ACCESS EXCLUSIVE MODE'
    assert render(ddl.rename('TABLE', t, 'fixes_old')) == 'ALTER TABLE "public"."fixes" RENAME TO "fixes_old"'
    assert render(ddl.rename('INDEX', sql.Identifier('public', 'i'), 'i_old')) == 'ALTER INDEX "public"."i" RENAME TO "i_old"'
    assert render(ddl.drop_table(o)) == 'DROP TABLE "public"."fixes_old"'
    assert render(ddl.owner_to(t, 'soar')) == 'ALTER TABLE "public"."fixes" OWNER TO "soar"'
    assert render(ddl.comment_on('constraint', 'k', t)) == 'COMMENT ON CONSTRAINT "k" ON "public"."fixes" IS %s'
    assert render(ddl.comment_on('index', 'i', sql.Identifier('public', 'i'))) == 'COMMENT ON INDEX "public"."i" IS %s'
    assert render(ddl.qualified_ident('"My Schema".fixes')) == '"My Schema"."fixes"'
