# -*- coding: utf-8 -*-
"""Unit tests of partman_migrate's pure parts: interval parsing, names,
buckets, index/constraint rewriting, plan, pg_partman calls for 4.x and 5.x,
progress and the module's argument spec against its documentation."""

import datetime

import pytest
import yaml

psycopg2 = pytest.importorskip('psycopg2')
from psycopg2 import sql  # noqa: E402

from ansible_collections.soar.partman.plugins.module_utils import batches as bt  # noqa: E402
from ansible_collections.soar.partman.plugins.module_utils import catalog  # noqa: E402
from ansible_collections.soar.partman.plugins.module_utils import ddl  # noqa: E402
from ansible_collections.soar.partman.plugins.module_utils import intervals  # noqa: E402
from ansible_collections.soar.partman.plugins.module_utils import names as nm  # noqa: E402
from ansible_collections.soar.partman.plugins.module_utils import params as prm  # noqa: E402
from ansible_collections.soar.partman.plugins.module_utils import partman as pm  # noqa: E402
from ansible_collections.soar.partman.plugins.module_utils import plan as pl  # noqa: E402
from ansible_collections.soar.partman.plugins.module_utils.progress import Progress, format_eta  # noqa: E402
from ansible_collections.soar.partman.plugins.module_utils.connection import connection_kwargs  # noqa: E402
from ansible_collections.soar.partman.plugins.modules import partman_migrate  # noqa: E402
from ansible_collections.soar.partman.plugins.module_utils.migration.indexes import _interleave_second_half  # noqa: E402

UTC = datetime.timezone.utc


def render(composable):
    """Render psycopg2 composables without a connection (identifiers quoted)."""
    if isinstance(composable, sql.Composed):
        return ''.join(render(c) for c in composable.seq)
    if isinstance(composable, sql.SQL):
        return composable.string
    if isinstance(composable, sql.Identifier):
        return '.'.join('"%s"' % s.replace('"', '""') for s in composable.strings)
    if isinstance(composable, sql.Literal):
        return repr(composable.wrapped)
    raise TypeError(composable)


# ---------------------------------------------------------------- intervals
@pytest.mark.parametrize('text, key', [
    ('1 day', 'day'), ('day', 'day'), ('daily', 'day'), ('1 days', 'day'), (' 1   DAY ', 'day'),
    ('1 hour', 'hour'), ('hourly', 'hour'), ('01:00:00', 'hour'), ('60 minutes', 'hour'),
    ('1 week', 'week'), ('7 days', 'week'), ('weekly', 'week'),
    ('1 month', 'month'), ('1 mon', 'month'), ('monthly', 'month'),
    ('3 months', 'quarter'), ('quarterly', 'quarter'), ('1 year', 'year'), ('12 months', 'year'),
])
def test_parse_interval(text, key):
    assert intervals.parse_interval(text).key == key


@pytest.mark.parametrize('text', ['2 days', '15 minutes', '24 hours', 'fortnight', '', '1 decade', '-1 day'])
def test_parse_interval_rejects(text):
    with pytest.raises(nm.PlanError) as e:
        intervals.parse_interval(text)
    assert 'not supported' in str(e.value) or 'required' in str(e.value)


def test_interval_pg_text():
    assert intervals.parse_interval('daily').pg_text == '1 day'
    assert intervals.parse_interval('quarterly').pg_text == '3 months'


# -------------------------------------------------------------------- names
@pytest.mark.parametrize('text, expected', [
    ('public.fixes', ('public', 'fixes')),
    ('fixes', ('public', 'fixes')),
    ('"My Schema"."Fixes"', ('My Schema', 'Fixes')),
    ('soar.fixes', ('soar', 'fixes')),
])
def test_split_table_name(text, expected):
    assert nm.split_table_name(text) == expected


@pytest.mark.parametrize('text', ['a.b.c', '', '.fixes', '"unbalanced.fixes'])
def test_split_table_name_rejects(text):
    with pytest.raises(nm.PlanError):
        nm.split_table_name(text)


def test_truncate_and_unique_names():
    assert nm.truncate_name('fixes', '_old') == 'fixes_old'
    long = 'x' * 62
    assert len(nm.truncate_name(long, '_old')) == 63
    assert nm.truncate_name(long, '_old').endswith('_old')
    a = nm.unique_name('y' * 70 + 'a', '_old')
    b = nm.unique_name('y' * 70 + 'b', '_old')
    assert a != b and len(a) <= 63 and len(b) <= 63 and a.endswith('_old')


def test_quote_ident():
    assert nm.quote_ident('fixes') == 'fixes'
    assert nm.quote_ident('Fixes') == '"Fixes"'
    assert nm.quote_ident('user') == '"user"'


# ----------------------------------------------------------- partman names
def test_partman_major():
    assert pm.partman_major('4.7.2') == 4
    assert pm.partman_major('5.2.4') == 5
    for bad in (None, '', '3.2.0', '6.0'):
        with pytest.raises(nm.PlanError):
            pm.partman_major(bad)


@pytest.mark.parametrize('major, key, expected', [
    (4, 'day', 'fixes_p2024_01_05'), (5, 'day', 'fixes_p20240105'),
    (4, 'hour', 'fixes_p2024_01_05_1300'), (5, 'hour', 'fixes_p20240105_130000'),
    (4, 'month', 'fixes_p2024_01'), (5, 'month', 'fixes_p20240105'),
    (4, 'week', 'fixes_p2024_01_05'), (4, 'year', 'fixes_p2024'),
])
def test_partition_name(major, key, expected):
    start = datetime.datetime(2024, 1, 5, 13, 0, tzinfo=UTC)
    assert nm.partition_name('fixes', start, major, intervals.INTERVALS[key]) == expected


def test_partition_name_truncated_like_partman():
    name = nm.partition_name('t' * 60, datetime.datetime(2024, 1, 5), 5, intervals.INTERVALS['day'])
    assert name.endswith('_p20240105')
    assert len(name) == 63


# ------------------------------------------------------------------ buckets
def test_trunc_and_add():
    v = datetime.datetime(2024, 2, 29, 17, 45, 12, 5)
    assert intervals.trunc_datetime(v, intervals.INTERVALS['hour']) == datetime.datetime(2024, 2, 29, 17)
    assert intervals.trunc_datetime(v, intervals.INTERVALS['day']) == datetime.datetime(2024, 2, 29)
    assert intervals.trunc_datetime(v, intervals.INTERVALS['week']) == datetime.datetime(2024, 2, 26)  # Monday
    assert intervals.trunc_datetime(v, intervals.INTERVALS['month']) == datetime.datetime(2024, 2, 1)
    assert intervals.trunc_datetime(v, intervals.INTERVALS['quarter']) == datetime.datetime(2024, 1, 1)
    assert intervals.trunc_datetime(v, intervals.INTERVALS['year']) == datetime.datetime(2024, 1, 1)
    assert intervals.add_interval(datetime.datetime(2024, 12, 1), intervals.INTERVALS['month']) == datetime.datetime(2025, 1, 1)
    assert intervals.add_interval(datetime.datetime(2024, 11, 1), intervals.INTERVALS['quarter']) == datetime.datetime(2025, 2, 1)
    assert intervals.trunc_datetime(datetime.date(2024, 3, 7), intervals.INTERVALS['month']) == datetime.datetime(2024, 3, 1)


def test_buckets_isolated_days_no_gap_fill():
    values = [datetime.datetime(2023, 6, 15, 12), datetime.datetime(2024, 1, 1, 1),
              datetime.datetime(2024, 1, 1, 23), datetime.datetime(2024, 1, 3, 0)]
    b = intervals.buckets_for_values(values, intervals.INTERVALS['day'])
    assert b == [datetime.datetime(2023, 6, 15), datetime.datetime(2024, 1, 1), datetime.datetime(2024, 1, 3)]


def test_premake_buckets_like_create_parent():
    now = datetime.datetime(2024, 5, 10, 6, 40)
    got = intervals.premake_buckets(now, intervals.INTERVALS['day'], 3)
    assert got == [datetime.datetime(2024, 5, d) for d in (10, 11, 12, 13)]


# ------------------------------------------------------- index/constraints
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


def test_parse_bound():
    assert catalog.parse_bound("FOR VALUES FROM ('2024-01-01 00:00:00+00') TO ('2024-01-02 00:00:00+00')") == \
        ('2024-01-01 00:00:00+00', '2024-01-02 00:00:00+00')
    assert catalog.parse_bound('DEFAULT') == (None, None)
    assert catalog.parse_bound("FOR VALUES FROM (MINVALUE) TO ('2024-01-01')") == (None, '2024-01-01')


# ------------------------------------------------------------ pg_partman API
def test_create_parent_4x_named_native():
    q, args = pm.create_parent('partman', 4, 'public.fixes', 'received_at', '1 day', 3, '2024-05-10T00:00:00+00:00')
    text = render(q)
    assert text.startswith('SELECT "partman"."create_parent"(')
    assert '"p_type" => %s::text' in text and '"p_interval" => %s::text' in text
    assert 'p_default_table' not in text
    assert args == ['public.fixes', 'received_at', 'native', '1 day', 3, '2024-05-10T00:00:00+00:00']


def test_create_parent_5x_named_range():
    q, args = pm.create_parent('partman', 5, 'public.fixes', 'received_at', '1 day', 3, '2024-05-10')
    text = render(q)
    assert '"p_type" => %s::text' in text and '"p_default_table" => %s::boolean' in text
    assert 'native' not in args and 'range' in args and 'daily' not in args
    # the interval comes before p_type in 5.x; named arguments make order irrelevant anyway
    assert args[:3] == ['public.fixes', 'received_at', '1 day']


def test_create_partition_time_per_major():
    starts = [datetime.datetime(2024, 1, 1, tzinfo=UTC)]
    q4, a4 = pm.create_partition_time('partman', 4, 'public.fixes', starts)
    q5, a5 = pm.create_partition_time('partman', 5, 'public.fixes', starts)
    assert '"p_analyze"' in render(q4) and '"p_analyze"' not in render(q5)
    assert '"p_partition_times" => %s::timestamptz[]' in render(q5)
    assert a5 == ['public.fixes', starts]


def test_maintenance_calls():
    q, args = pm.run_maintenance('partman', 'public.fixes')
    assert render(q).startswith('SELECT "partman"."run_maintenance"(') and args == ['public.fixes', False]
    q, args = pm.run_maintenance_proc('partman')
    assert render(q) == 'CALL "partman".run_maintenance_proc()'


def test_config_differs():
    cur = {'premake': 3, 'retention': None, 'retention_keep_table': True, 'infinite_time_partitions': True}
    assert pm.config_differs(cur, pm.config_wanted(3, None, True)) == []
    assert pm.config_differs(cur, pm.config_wanted(5, None, True)) == ['premake']
    cur['retention'] = '90 days'
    assert pm.config_differs(cur, pm.config_wanted(3, '90 days', True)) == []
    assert pm.config_differs(cur, pm.config_wanted(3, None, True)) == ['retention']


# -------------------------------------------------------------------- copy
def test_copy_sql():
    cols = [{'name': 'id', 'generated': '', 'identity': 'a'}, {'name': 'received_at', 'generated': ''},
            {'name': 'location', 'generated': 's'}]
    names = bt.column_list(cols)
    assert names == ['id', 'received_at']
    assert bt.overriding(cols)
    q = bt.insert_select(sql.Identifier('public', 'fixes_p2024_01_01'), sql.Identifier('public', 'fixes_old'),
                         names, bt.range_where('received_at'), True)
    assert render(q) == (
        'INSERT INTO "public"."fixes_p2024_01_01" ("id", "received_at") OVERRIDING SYSTEM VALUE '
        'SELECT "id", "received_at" FROM "public"."fixes_old" WHERE "received_at" >= %s AND "received_at" < %s')


def test_adapt_slice_width():
    assert bt.adapt_slice_width(100.0, 50000, 50000, 1, 1e9) == 100.0
    assert bt.adapt_slice_width(100.0, 500000, 50000, 1, 1e9) == 25.0       # at most /4 per step
    assert bt.adapt_slice_width(100.0, 0, 50000, 1, 1e9) == 400.0           # empty slice: x4
    assert bt.adapt_slice_width(100.0, 25000, 50000, 1, 150.0) == 150.0     # clamped


# -------------------------------------------------------------------- plan
def snapshot():
    return {
        'table': {'schema': 'public', 'name': 'fixes', 'reltuples': 1000, 'table_bytes': 10 << 20,
                  'index_bytes': 5 << 20},
        'constraints': [{'type': 'p', 'name': 'fixes_pkey', 'columns': ['id']},
                        {'type': 'f', 'name': 'fixes_aircraft_fkey', 'columns': ['aircraft_id']}],
        'indexes': [{'name': 'fixes_pkey', 'constraint': 'fixes_pkey', 'unique': True, 'columns': ['id']},
                    {'name': 'fixes_loc', 'constraint': None, 'unique': False, 'columns': [],
                     'tail': ' USING gist (location)'}],
        'inbound_fks': [], 'triggers': [{'name': 't'}],
    }


@pytest.mark.parametrize('major, first', [(4, 'public.fixes_p2023_06_15'), (5, 'public.fixes_p20230615')])
def test_build_plan(major, first):
    iv = intervals.INTERVALS['day']
    buckets = [datetime.datetime(2023, 6, 15, tzinfo=UTC), datetime.datetime(2024, 1, 1, tzinfo=UTC)]
    premade = intervals.premake_buckets(datetime.datetime(2024, 1, 1, 5, tzinfo=UTC), iv, 3)
    params = {'control': 'received_at', 'old_suffix': '_old'}
    p = pl.build_plan(snapshot(), params, iv, major, buckets, premade, free_bytes=1 << 40, rows_estimate=1000)
    assert p['partitions'][0]['name'] == first
    assert p['partitions_with_data'] == 2
    assert p['partitions_to_create'] == 5        # 2023-06-15, 2024-01-01 (also premade) .. 01-04
    assert p['pk_changed'] == ['PRIMARY KEY (id) -> (id, received_at)']
    assert p['disk_needed_bytes'] == int((15 << 20) * 1.1)
    assert p['old_table'] == 'public.fixes_old'
    assert p['rows_to_copy'] == 1000
    assert 'PRIMARY KEY fixes_pkey (id, received_at)' in p['indexes_to_build']


def test_validate_params():
    base = {'interval': '1 day', 'premake': 3, 'batch_size': 10, 'jobs': 1, 'old_suffix': '_old'}
    assert prm.validate_params(base).key == 'day'
    for k, v in (('premake', 0), ('batch_size', 0), ('jobs', 0), ('old_suffix', ''), ('old_suffix', 'x;drop'),
                 ('interval', '5 days'), ('retention', 'forever')):
        bad = dict(base, **{k: v})
        with pytest.raises(nm.PlanError):
            prm.validate_params(bad)
    assert intervals.retention_seconds('90 days') == 90 * 86400
    assert intervals.retention_seconds('1 year 6 months') == (365 + 180) * 86400


# ---------------------------------------------------------------- progress
def test_progress():
    clock = [100.0]
    lines = []
    p = Progress(1000, done=100, log=lines.append, every=10, clock=lambda: clock[0])
    clock[0] = 110.0
    assert p.add(200, where='(x)')
    s = p.snapshot()
    assert s['rows_done'] == 300 and s['rows_per_second'] == 20 and s['eta_seconds'] == 35
    assert '300 of 1000 rows (30.0%)' in lines[0]
    clock[0] = 111.0
    assert not p.add(10)
    assert format_eta(3725) == '1h02m05s' and format_eta(None) == 'unknown'


# -------------------------------------------------------------- connection
def test_connection_kwargs():
    kw = connection_kwargs({'login_host': '', 'login_unix_socket': '/run/postgresql', 'login_user': 'postgres',
                            'login_password': '', 'login_port': 5432, 'login_db': 'soar', 'ssl_mode': 'prefer',
                            'connect_params': {'connect_timeout': 5}})
    assert kw['host'] == '/run/postgresql' and kw['dbname'] == 'soar' and kw['connect_timeout'] == 5
    assert kw['application_name'] == 'soar.partman' and 'password' not in kw


# ------------------------------------------------------------ docs
# Options against the argument spec (with the connection fragment): tests/unit/test_docs.py.
def test_documentation_sections():
    doc = yaml.safe_load(partman_migrate.DOCUMENTATION)
    for key in ('changed', 'partitions', 'rows_copied', 'seconds', 'queries', 'warnings', 'pk_changed',
                'partman_version', 'plan'):
        assert key in yaml.safe_load(partman_migrate.RETURN)
    assert doc['version_added'] and doc['author'] and doc['requirements'] and doc['notes']


def test_interleave_second_half_keeps_every_item_and_spreads_the_extra():
    assert _interleave_second_half([1, 2, 3, 4], ['a', 'b']) == [1, 2, 3, 'a', 4, 'b']
    assert _interleave_second_half([1, 2], ['a', 'b', 'c']) == [1, 2, 'a', 'b', 'c']
    assert _interleave_second_half([], ['a']) == ['a']
    assert _interleave_second_half([1, 2, 3], []) == [1, 2, 3]


# ------------------------------------------------------- issue 10: the attack's inputs
def test_month_interval_on_the_31st():
    """premake with interval 1 month crashed from the 29th to the 31st ('day is out of range')."""
    month = intervals.parse_interval('1 month')
    jan31 = datetime.datetime(2027, 1, 31, 15, 0)
    assert intervals.add_interval(jan31, month) == datetime.datetime(2027, 2, 28, 15, 0)
    assert intervals.add_interval(datetime.datetime(2028, 1, 30), month) == datetime.datetime(2028, 2, 29)
    assert intervals.add_interval(jan31, intervals.parse_interval('3 months'), 1) == datetime.datetime(2027, 4, 30, 15, 0)
    assert intervals.premake_buckets(jan31, month, 3) == [datetime.datetime(2027, m, 1) for m in (1, 2, 3, 4)]


@pytest.mark.parametrize('text', ['30', '30 seconds', '', '1 dy', 'forever', '0 days', 'days 30', '-1 day'])
def test_retention_needs_a_unit(text):
    with pytest.raises(nm.PlanError, match='not an interval with a unit'):
        intervals.retention_seconds(text)


def test_validation_names_the_users_variable():
    base = {'interval': '1 day', 'premake': 3, 'batch_size': 10, 'jobs': 1, 'old_suffix': '_old'}
    with pytest.raises(nm.PlanError, match='migration_retention .* shorter than one partition'):
        prm.validate_params(dict(base, retention='1 hour'), 'migration_')
    with pytest.raises(nm.PlanError, match=r'migration_premake is 100000; it must be between 1 and 1000'):
        prm.validate_params(dict(base, premake=100000), 'migration_')
    with pytest.raises(nm.PlanError, match=r'^migration_interval: '):
        prm.validate_params(dict(base, interval='5 days'), 'migration_')
    with pytest.raises(nm.PlanError, match=r'^batch_size is -1'):
        prm.validate_params(dict(base, batch_size=-1))
    assert prm.validate_params(dict(base, retention='1 day', premake=1000)).key == 'day'
