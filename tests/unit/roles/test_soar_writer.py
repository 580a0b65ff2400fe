"""The pure parts of the stand-in writer (soar_writer.py): its pools of update/delete targets,
the sampling percentage of older rows, the pace of each operation and the latency lines."""

import datetime
import random

import pytest

from soar_writer_files import load

writer = load('soar_writer')


def key(n):
    return ('00000000-0000-0000-0000-%012d' % n, datetime.datetime(2025, 1, 1) + datetime.timedelta(seconds=n))


def test_pool_keeps_the_most_recent_keys():
    pool = writer.TargetPool(3)
    for n in range(5):
        pool.add(key(n))
    assert len(pool) == 3
    assert [key(n) in pool for n in range(5)] == [False, False, True, True, True]


def test_pool_never_picks_a_discarded_key():
    pool = writer.TargetPool(10)
    for n in range(10):
        pool.add(key(n))
    for n in range(9):
        pool.discard(key(n))
    rng = random.Random(1)
    assert {pool.pick(rng) for dummy in range(50)} == {key(9)}
    pool.discard(key(9))
    assert len(pool) == 0 and pool.pick(rng) is None


def test_pool_eviction_after_discard_keeps_the_count_right():
    pool = writer.TargetPool(2)
    pool.add(key(1))
    pool.add(key(2))
    pool.discard(key(1))
    pool.add(key(3))   # takes the oldest slot (the hole left by key 1)
    pool.add(key(4))   # evicts key 2
    assert len(pool) == 2 and key(3) in pool and key(4) in pool and key(2) not in pool
    pool.add(key(4))   # already there: nothing changes
    assert len(pool) == 2


def test_pool_of_capacity_zero_stays_empty():
    pool = writer.TargetPool(0)
    pool.add(key(1))
    assert len(pool) == 0 and pool.pick() is None


def test_targets_come_from_both_pools():
    recent, history = writer.TargetPool(100), writer.TargetPool(100)
    for n in range(100):
        recent.add(key(n))
        history.add(key(1000 + n))
    rng = random.Random(2)
    picks = [writer.pick_target(recent, history, rng) for dummy in range(400)]
    from_recent = sum(1 for p in picks if p in recent)
    assert 120 < from_recent < 280
    assert all(p in recent or p in history for p in picks)


def test_targets_from_the_only_pool_that_has_some_or_none():
    recent, history = writer.TargetPool(10), writer.TargetPool(10)
    assert writer.pick_target(recent, history) is None
    history.add(key(7))
    assert writer.pick_target(recent, history) == key(7)


@pytest.mark.parametrize('wanted, blocks, rows, pages, expected', [
    (2000, 400000, 10000000, 400000, 100.0 * 2 * 2000 / (25 * 400000)),  # 10M rows: 0.04 %
    (2000, 333, 9761, 333, 100.0 * 2 * 2000 / 9761),                     # 10k rows: 41 %
    (2000, 50, 1000, 50, 100.0),                                         # small table: all of it
    (2000, 100000, 0, 0, 100.0 * 2 * 2000 / (20 * 100000)),               # no statistics: 20 a block
    (0, 1000, 100, 10, 0.0),
    (100, 0, 0, 0, 0.0),                                                  # empty table
])
def test_sample_percent(wanted, blocks, rows, pages, expected):
    assert writer.sample_percent(wanted, blocks, rows, pages) == pytest.approx(expected)


@pytest.mark.parametrize('rate, interval, ticks, expected', [
    (600, 0.2, 10, 1200), (50, 0.2, 10, 100), (5, 0.2, 10, 10), (0.5, 0.2, 100, 10), (0, 0.2, 50, 0),
    (600, 0.3, 10, 1800),   # transactions slower than the interval: the rate holds
])
def test_pace_pays_the_rate_over_time(rate, interval, ticks, expected):
    pace = writer.Pace(rate)
    done = 0
    for dummy in range(ticks):
        count = pace.tick(interval)
        pace.paid(count)
        done += count
    assert done == pytest.approx(expected, abs=1)


def test_pace_does_not_catch_up_a_stall():
    pace = writer.Pace(600)
    assert pace.tick(30) == 600 * writer.MAX_OWED_SECONDS


def test_pace_owes_a_failed_batch_until_reset():
    pace = writer.Pace(5)
    assert pace.tick(0.2) == 1
    assert pace.tick(0.2) == 2       # not paid: still owed
    pace.reset()
    assert pace.tick(0.2) == 1


def test_latency_line_has_two_fields():
    fields = writer.latency_line(1700000000.1234, 0.0421).split()
    assert len(fields) == 2 and float(fields[0]) == pytest.approx(1700000000.123) and float(fields[1]) == 0.0421
