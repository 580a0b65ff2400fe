# -*- coding: utf-8 -*-
"""intervals.py: parsing, buckets (date_trunc and interval arithmetic in python), retention lengths."""

import datetime

import pytest

from ansible_collections.soar.partman.plugins.module_utils import intervals
from ansible_collections.soar.partman.plugins.module_utils import names as nm


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


@pytest.mark.parametrize('text, unit', [
    ('1 day', 'day'), ('1 mon', 'month'), ('3 mons', 'quarter'), ('7 days', 'week'), ('01:00:00', 'hour'),
    ('1 year', 'year'), ('2 days', None), ('', None), (None, None), ('15 mins', None),
])
def test_trunc_unit_of_part_config_intervals(text, unit):
    """The one parser also reads part_config's interval text (repair used a table of its own that
    missed quarters)."""
    assert intervals.trunc_unit(text) == unit
