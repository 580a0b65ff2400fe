# -*- coding: utf-8 -*-
"""partman.py: pg_partman 4.x and 5.x calls with named arguments, its version, the maintenance call."""

import datetime

import pytest

psycopg2 = pytest.importorskip('psycopg2')

from ansible_collections.soar.partman.plugins.module_utils import names as nm  # noqa: E402
from ansible_collections.soar.partman.plugins.module_utils import partman as pm  # noqa: E402
from partman_testing import UTC, render  # noqa: E402


def test_partman_major():
    assert pm.partman_major('4.7.2') == 4
    assert pm.partman_major('5.2.4') == 5
    for bad in (None, '', '3.2.0', '6.0'):
        with pytest.raises(nm.PlanError):
            pm.partman_major(bad)


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


@pytest.mark.parametrize("version, analyze, expected", [
    ("5.2.4", False, "CALL partman.run_maintenance_proc(p_analyze := false)"),
    ("4.7.2", False, "CALL partman.run_maintenance_proc(p_analyze := false)"),
    ("4.0.0", True, "CALL partman.run_maintenance_proc(p_analyze := true)"),
    ("3.2.1", False, "SELECT partman.run_maintenance(p_analyze := false)"),
])
def test_maintenance_call_per_version(version, analyze, expected):
    assert pm.maintenance_call("partman", version, analyze) == expected


def test_maintenance_call_quotes_odd_schema():
    assert pm.maintenance_call("My Schema", "5.1.0").startswith('CALL "My Schema".run_maintenance_proc(')


def test_maintenance_call_quotes_a_reserved_schema():
    assert pm.maintenance_call('user', '5.1.0') == 'CALL "user".run_maintenance_proc(p_analyze := false)'
    assert pm.maintenance_call('partman', '4.7.2', True) == 'CALL partman.run_maintenance_proc(p_analyze := true)'


@pytest.mark.parametrize('text, parts, major', [
    ('4.7.2', (4, 7, 2), 4), ('5.2.4', (5, 2, 4), 5), ('5.0.0-beta', (5, 0, 0), 5), ('', (0,), 0), (None, (0,), 0),
])
def test_one_version_parser(text, parts, major):
    assert pm.version_tuple(text) == parts
    assert pm.major_version(text) == major
