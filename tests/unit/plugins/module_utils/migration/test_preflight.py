# -*- coding: utf-8 -*-
"""migration/preflight.py: the checks before any change, on both pg_partman majors."""

import datetime

import pytest

psycopg2 = pytest.importorskip('psycopg2')

from ansible_collections.soar.partman.plugins.module_utils.migration import preflight  # noqa: E402
from ansible_collections.soar.partman.plugins.module_utils.migration.context import MigrationError  # noqa: E402
from partman_testing import UTC, FakeDb, make_ctx  # noqa: E402

STARTS = ['2024-01-0%dT00:00:00+00:00' % d for d in (1, 2, 3)]


def check_name_length(limit):
    """pg_partman's check_name_length as the database would answer it: the table name cut to fit
    `limit` characters with the suffix."""
    def names(params):
        table, suffixes = params
        return [((table[:limit - len(s) - 2] + '_p' + s),) for s in suffixes]
    return names


@pytest.mark.parametrize('major, suffixes', [(4, ['2024_01_01', '2024_01_02', '2024_01_03']),
                                             (5, ['20240101', '20240102', '20240103'])])
def test_children_named_as_the_installed_partman_names_them(major, suffixes):
    db = FakeDb([('WITH ORDINALITY', check_name_length(63)), ("'_default')", 'fixes_default')])
    ctx = make_ctx(db, major=major)
    ctx.plan = {'partitions': [{'from': s} for s in STARTS]}
    assert preflight.predict_partition_names(ctx) == []
    assert [p['name'] for p in ctx.plan['partitions']] == ['public.fixes_p' + s for s in suffixes]
    assert ctx.plan['default_partition'] == 'public.fixes_default'
    assert db.statements[0][0].startswith('SELECT "partman".check_name_length(%s, s, true)::name::text')
    assert db.statements[0][1] == ('fixes', suffixes)


def test_children_that_would_share_a_name_are_refused():
    name = 'é' * 40                    # 80 bytes: pg_partman 4.x counts characters, PostgreSQL cuts bytes
    db = FakeDb([('WITH ORDINALITY', lambda p: [('é' * 31,) for _s in p[1]]), ("'_default')", 'x_default')])
    ctx = make_ctx(db, major=4, table='public.' + name)
    ctx.plan = {'partitions': [{'from': s} for s in STARTS]}
    problems = preflight.predict_partition_names(ctx)
    assert len(problems) == 1 and problems[0].startswith('pg_partman 4.0.0 would give several partitions of public.')
    assert 'the table\'s name is 40 characters, 80 bytes' in problems[0]


def test_rows_beyond_premake_refused_unless_allowed():
    bound = datetime.datetime(2024, 1, 5, tzinfo=UTC)
    answers = [('WHERE "received_at" >= %s', [(3, '2100-01-01', '2100-01-02', 2)])]
    db = FakeDb(answers)
    ctx = make_ctx(db)
    problems = preflight.future_rows_check(ctx, bound)
    assert problems and problems[0].startswith('3 rows of public.fixes have received_at at or after '
                                               '2024-01-05T00:00:00+00:00, beyond now + premake')
    assert db.statements[0][1] == ('day', bound)
    ctx = make_ctx(FakeDb(answers), allow_future_rows=True, var_prefix='migration_')
    assert preflight.future_rows_check(ctx, bound) == []
    assert 'migration_allow_future_rows: true' in ctx.warnings[0]


@pytest.mark.parametrize('keep, confirm, verb', [(True, 'retention_confirm_detach', 'detach'),
                                                 (False, 'retention_confirm_drop', 'DROP')])
def test_retention_that_would_take_rows_needs_confirmation(keep, confirm, verb):
    answers = [('< now() - %s::interval', [(100, 4)])]
    ctx = make_ctx(FakeDb(answers), retention='30 days', retention_keep_table=keep)
    problems = preflight.retention_problems(ctx, None, None)
    assert problems[0].startswith('retention 30 days (retention_keep_table: %s) would %s 4 partitions holding 100 '
                                  'rows of public.fixes' % (str(keep).lower(), verb))
    assert 'Set %s: true' % confirm in problems[0]
    with pytest.raises(MigrationError):
        preflight.retention_check(ctx, None, None)
    ctx = make_ctx(FakeDb(answers), retention='30 days', retention_keep_table=keep, **{confirm: True})
    assert preflight.retention_problems(ctx, None, None) == [] and ctx.warnings


def table(**over):
    t = {'oid': 1, 'relkind': 'r', 'is_partition': False, 'relpersistence': 'p', 'rls': False, 'reloptions': None,
         'relreplident': 'd', 'tablespace': None, 'table_bytes': 0, 'index_bytes': 0, 'reltuples': 0}
    t.update(over)
    return t


def test_refusals_that_stop_at_once():
    db = FakeDb([('AS heap_bytes', [table()])])
    with pytest.raises(MigrationError, match='PostgreSQL 110000 is too old'):
        preflight.run(make_ctx(db, server_version=110000), table())
    with pytest.raises(MigrationError, match='is not a plain table'):
        preflight.run(make_ctx(db), table(relkind='v'))
    with pytest.raises(MigrationError, match=r'control column received_at does not exist in public.fixes \(columns: \)'):
        preflight.run(make_ctx(db), table())
