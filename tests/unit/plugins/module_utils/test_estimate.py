# -*- coding: utf-8 -*-
"""estimate.py: the whole window scaled from the sample's timings."""

from ansible_collections.soar.partman.plugins.module_utils import estimate as e

SAMPLE = {'rows': 30000, 'copy': 0.1, 'indexes': 1.0, 'foreign_keys': 0.2, 'analyze': 0.5, 'count': 0.01}


def test_each_phase_scales_with_the_rows_the_sample_stands_for():
    est = e.window_estimate(SAMPLE, 900000, 30, jobs=1)
    p = est['phases']
    assert est['scale'] == 30.0 and est['sample_rows'] == 30000
    assert p['copy'] == round(0.1 * 30 * e.COPY_FACTOR, 1)
    assert p['indexes'] == round(1.0 * 30 * e.INDEX_FACTOR, 1)
    assert p['foreign_keys'] == round(0.2 * 30 * e.FK_FACTOR, 1)
    assert p['analyze'] == round(0.5 * 30 * e.ANALYZE_FACTOR, 1)      # per partition, whatever its rows
    assert p['verify'] == round(0.1 * 30 * e.VERIFY_FACTOR, 1)      # a read of the rows, as the copy
    assert est['seconds'] == int(round(sum(p.values())))


def test_more_connections_shorten_all_but_the_verification():
    one = e.window_estimate(SAMPLE, 900000, 30, jobs=1)['phases']
    two = e.window_estimate(SAMPLE, 900000, 30, jobs=2)['phases']
    assert two['indexes'] < one['indexes'] and two['copy'] < one['copy'] and two['analyze'] < one['analyze']
    assert two['verify'] == one['verify']
    # the index phase: all its work shared by the connections
    work = one['indexes'] + one['foreign_keys'] + one['analyze']
    assert abs(two['indexes'] + two['foreign_keys'] + two['analyze'] - work / e.parallel_speedup(2, e.INDEX_PARALLEL_GAIN)) < 0.2
    assert abs(two['copy'] - one['copy'] / e.parallel_speedup(2, e.COPY_PARALLEL_GAIN)) < 0.2


def test_with_jobs_the_index_phase_lasts_at_least_its_analyze():
    # ANALYZE runs on one connection: when it outweighs the builds, it sets the phase's length
    slow_analyze = dict(SAMPLE, analyze=5.0)
    p = e.window_estimate(slow_analyze, 900000, 30, jobs=4)['phases']
    assert abs(p['indexes'] + p['foreign_keys'] + p['analyze'] - 5.0 * 30 * e.ANALYZE_FACTOR) < 0.2


def test_no_sample_no_estimate():
    assert e.window_estimate(None, 10, 1, 1) is None
    assert e.window_estimate(dict(SAMPLE, rows=0), 10, 1, 1) is None


def test_the_demo_figures_the_factors_were_fitted_on():
    # the sample's CPU seconds and the module's seconds measured on the quiet demo (1M rows, 32 partitions
    # with data), README "How long it takes"
    demo = {'rows': 33333, 'copy': 0.08, 'indexes': 0.36, 'foreign_keys': 0.19, 'analyze': 0.44, 'count': 0.0}
    jobs2 = e.window_estimate(demo, 1000000, 32, jobs=2)['seconds']
    jobs1 = e.window_estimate(demo, 1000000, 32, jobs=1)['seconds']
    assert abs(jobs2 - 21.0) / 21.0 < 0.15 and abs(jobs1 - 39.9) / 39.9 < 0.15, (jobs2, jobs1)


def test_the_pause_lengthens_the_copy_and_the_index_phase_not_the_rest():
    plain = e.window_estimate(SAMPLE, 900000, 30, jobs=1)['phases']
    paused = e.window_estimate(SAMPLE, 900000, 30, jobs=1, copy_pause_ratio=1.0)['phases']
    for phase in ('copy', 'indexes', 'foreign_keys', 'analyze'):
        assert abs(paused[phase] - 2 * plain[phase]) < 0.2, phase
    assert dict(paused, copy=0, indexes=0, foreign_keys=0, analyze=0) == dict(
        plain, copy=0, indexes=0, foreign_keys=0, analyze=0)
    assert e.window_estimate(SAMPLE, 900000, 30, jobs=1, copy_pause_ratio=None)['phases'] == plain
