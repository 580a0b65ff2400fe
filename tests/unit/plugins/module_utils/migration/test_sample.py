# -*- coding: utf-8 -*-
"""migration/sample.py: the preflight's measurement, in a TEMP table rolled back."""

import datetime

import pytest

psycopg2 = pytest.importorskip('psycopg2')

from ansible_collections.soar.partman.plugins.module_utils.migration import preflight, sample  # noqa: E402
from partman_testing import UTC, FakeDb, make_ctx, render, snapshot  # noqa: E402

DAYS = [datetime.datetime(2024, 1, d, tzinfo=UTC) for d in (1, 2, 3, 4)]


def test_the_middle_bucket_is_measured():
    assert sample.sample_bucket(DAYS) == DAYS[2]
    assert sample.sample_bucket([]) is None


def test_fk_check_is_postgresql_validation_query():
    q = sample.fk_check_query(sample.sql.Identifier('pg_temp', 's'),
                              {'def': 'FOREIGN KEY (aircraft_id, "Seq") REFERENCES public.aircraft(id, "Seq")'})
    assert render(q) == ('SELECT 1 FROM "pg_temp"."s" f LEFT JOIN ONLY public.aircraft p ON p.id = f.aircraft_id AND '
                         'p."Seq" = f."Seq" WHERE p.id IS NULL AND f.aircraft_id IS NOT NULL AND f."Seq" IS NOT NULL '
                         'LIMIT 1')
    assert sample.fk_check_query(None, {'def': 'CHECK (x > 0)'}) is None


class CountingDb(FakeDb):
    """Every statement reports 30000 rows (the sample's INSERT)."""

    def __init__(self, answers=None):
        super(CountingDb, self).__init__(answers)
        self.last_rowcount = 30000


def test_measure_times_copy_indexes_keys_analyze_count_then_rolls_back():
    db = CountingDb()
    ctx = make_ctx(db)
    out = sample.measure(ctx, snapshot(), DAYS, ('fixes', 'public.fixes'))
    texts = db.texts()
    # builds without parallel workers: the backend's own CPU time is all their work
    assert texts[0] == 'SET LOCAL max_parallel_maintenance_workers = 0'
    assert texts[1] == ('CREATE TEMP TABLE "pg_temp"."partman_migrate_sample" (LIKE "public"."fixes" INCLUDING DEFAULTS '
                        'INCLUDING GENERATED)')
    assert texts[2].startswith('INSERT INTO "pg_temp"."partman_migrate_sample" ("id", "received_at", "seq") SELECT')
    assert texts[2].endswith('WHERE "received_at" >= %s AND "received_at" < %s LIMIT %s')
    assert db.statements[2][1] == (DAYS[2], datetime.datetime(2024, 1, 4, tzinfo=UTC), sample.SAMPLE_MAX_ROWS)
    # the widened primary key and the indexes, on the sample
    assert 'ADD CONSTRAINT "partman_migrate_sample_1" PRIMARY KEY (id, received_at)' in texts[3]
    assert any(t.startswith('SELECT 1 FROM "pg_temp"."partman_migrate_sample" f LEFT JOIN ONLY aircraft') for t in texts)
    # the key towards the table itself is not checked on a sample
    assert not any('LEFT JOIN ONLY fixes' in t for t in texts)
    assert texts[-2:] == ['ANALYZE "pg_temp"."partman_migrate_sample"',
                          'SELECT count(*) FROM "pg_temp"."partman_migrate_sample"']
    assert db.events[-1] == 'ROLLBACK' and 'COMMIT' not in db.events
    assert out['rows'] == 30000 and out['clock'] == 'wall'     # no backend process to read here
    assert set(out) == {'rows', 'copy', 'indexes', 'foreign_keys', 'analyze', 'count', 'clock', 'wall'}


def test_the_backend_cpu_is_read_only_on_the_database_server(tmp_path):
    import os
    ctx = make_ctx()
    assert sample.backend_cpu(make_ctx(login_host='db.example.org'), os.getpid()) is None   # another host
    assert sample.backend_cpu(ctx, os.getpid()) is None          # this process is not a postgres one
    assert sample.backend_cpu(ctx, 2 ** 22 + 1) is None          # no such process


def test_the_plan_takes_the_sampled_estimate_and_says_so():
    ctx = make_ctx(CountingDb(), check_mode=True, jobs=2)
    ctx.plan = {'estimated_seconds': 19, 'estimated_time': '19s'}
    preflight.estimate_window(ctx, snapshot(), DAYS, 120000)
    assert ctx.plan['estimate_basis'].startswith('an estimate from a sample of 30000 rows')
    assert set(ctx.plan['estimated_phases']) == {'prepare', 'copy', 'indexes', 'foreign_keys', 'analyze', 'verify'}
    assert ctx.plan['estimated_seconds'] == int(round(sum(ctx.plan['estimated_phases'].values())))


def test_a_failed_sample_keeps_the_rough_estimate_with_a_warning():
    def fail(_params):
        raise psycopg2.OperationalError('permission denied to create temporary tables')
    ctx = make_ctx(FakeDb([('CREATE TEMP TABLE', fail)]), check_mode=True)
    ctx.plan = {'estimated_seconds': 19, 'estimated_time': '19s'}
    preflight.estimate_window(ctx, snapshot(), DAYS, 120000)
    assert ctx.plan['estimated_seconds'] == 19 and ctx.plan['estimate_basis'] == 'fixed rates, no sample (rough)'
    assert 'permission denied to create temporary tables' in ctx.warnings[0]


@pytest.mark.parametrize('wall, busy', [(30.0, True), (1.2, False)])
def test_a_sample_slower_than_its_cpu_time_tells_of_a_busy_server(monkeypatch, wall, busy):
    measured = {'rows': 33333, 'copy': 0.065, 'indexes': 0.33, 'foreign_keys': 0.17, 'analyze': 0.44, 'count': 0.0,
                'clock': 'cpu', 'wall': wall}
    monkeypatch.setattr(sample, 'measure', lambda *a: measured)
    ctx = make_ctx(FakeDb(), check_mode=True, jobs=2)
    ctx.plan = {}
    preflight.estimate_window(ctx, snapshot(), DAYS, 1000000)
    assert 'its CPU time' in ctx.plan['estimate_basis']
    if not busy:
        assert 'estimated_seconds_at_current_load' not in ctx.plan
    else:
        ratio = wall / 1.005
        assert ctx.plan['estimated_seconds_at_current_load'] == int(round(ctx.plan['estimated_seconds'] * ratio))
