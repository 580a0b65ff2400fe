# -*- coding: utf-8 -*-
"""names.py: schema.table, identifier quoting, names cut to 63 bytes, pg_partman's child names."""

import datetime

import pytest

from ansible_collections.soar.partman.plugins.module_utils import intervals
from ansible_collections.soar.partman.plugins.module_utils import names as nm
from partman_testing import UTC


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


@pytest.mark.parametrize('name, quoted', [
    ('fixes', 'fixes'), ('user', '"user"'), ('order', '"order"'), ('select', '"select"'), ('My Schema', '"My Schema"'),
    ('a"b', '"a""b"'), ('_x1', '_x1'), ('1x', '"1x"'), ('été', '"été"'),
])
def test_quote_ident_quotes_reserved_words_and_odd_names(name, quoted):
    assert nm.quote_ident(name) == quoted
