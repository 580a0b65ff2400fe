# -*- coding: utf-8 -*-
"""batches.py: the copy's statements and slice sizing."""

import pytest

psycopg2 = pytest.importorskip('psycopg2')
from psycopg2 import sql  # noqa: E402

from ansible_collections.soar.partman.plugins.module_utils import batches as bt  # noqa: E402
from partman_testing import render  # noqa: E402


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


def test_pause_after_sleeps_the_ratio_of_the_batch(monkeypatch):
    slept = []
    monkeypatch.setattr(bt.time, 'sleep', slept.append)
    monkeypatch.setattr(bt.time, 'time', lambda: 110.0)
    bt.pause_after(100.0, 0.5)   # a batch of 10 s: 5 s of pause
    bt.pause_after(100.0, 0.0)   # no pause at all
    assert slept == [5.0]
