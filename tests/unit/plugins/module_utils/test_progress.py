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
