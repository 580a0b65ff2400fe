# -*- coding: utf-8 -*-
"""progress.py: rows done, rate, time left."""

from ansible_collections.soar.partman.plugins.module_utils.human import format_eta
from ansible_collections.soar.partman.plugins.module_utils.progress import Progress


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


def test_phase_writes_at_start_when_due_and_at_the_end():
    from ansible_collections.soar.partman.plugins.module_utils.progress import Phase
    clock = [0.0]
    written = []
    p = Phase('indexed', 'builds', 4, write=lambda conn, rec: written.append((conn, rec)), every=5,
              clock=lambda: clock[0])
    p.start('c0')
    clock[0] = 1.0
    assert not p.add('c1')            # 1 s after the last record: not due
    clock[0] = 6.0
    assert p.add('c2')                # due
    clock[0] = 7.0
    assert not p.add('c1')
    assert p.add('c2', 5)             # the last unit: always written, never past the total
    assert [(c, r['done'], r['total']) for c, r in written] == [('c0', 0, 4), ('c2', 2, 4), ('c2', 4, 4)]
    assert written[1][1] == {'step': 'indexed', 'unit': 'builds', 'done': 2, 'total': 4, 'start_done': 0,
                             'seconds': 6.0}


def test_phase_figures_rate_and_time_left_count_down_since_the_record():
    from ansible_collections.soar.partman.plugins.module_utils.progress import phase_figures
    rec = {'step': 'indexed', 'unit': 'builds', 'done': 30, 'total': 90, 'start_done': 10, 'seconds': 40.0}
    f = phase_figures(rec, since_write=20)
    assert f == {'step': 'indexed', 'unit': 'builds', 'done': 30, 'total': 90, 'percent': 33.3,
                 'per_second': 0.5, 'eta_seconds': 100}
    assert phase_figures(dict(rec, done=10), 0)['eta_seconds'] is None      # nothing done by this run yet
    assert phase_figures(dict(rec, done=90, total=90), 500)['eta_seconds'] == 0
    assert phase_figures(None) is None
