# -*- coding: utf-8 -*-
# Copyright: soar.partman contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Copy progress: rows done of total, rows/s, ETA; logged through a callback
(module.log, which ends up in the host journal) at most every `every` seconds."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import threading
import time

from ansible_collections.soar.partman.plugins.module_utils.human import format_eta


class Progress(object):

    def __init__(self, total, done=0, log=None, every=10.0, label='copy', clock=time.time):
        self.total = max(int(total or 0), 0)
        self.start_done = int(done or 0)
        self.done = int(done or 0)
        self.log = log
        self.every = every
        self.label = label
        self.clock = clock
        self.started = clock()
        self.last_log = None

    def rate(self):
        elapsed = self.clock() - self.started
        if elapsed <= 0:
            return 0.0
        return (self.done - self.start_done) / elapsed

    def eta(self):
        r = self.rate()
        if r <= 0:
            return None
        return max(self.total - self.done, 0) / r

    def percent(self):
        if not self.total:
            return 100.0
        return min(100.0, 100.0 * self.done / self.total)

    def snapshot(self):
        eta = self.eta()
        return {
            'rows_done': self.done,
            'rows_total': self.total,
            'percent': round(self.percent(), 1),
            'rows_per_second': int(self.rate()),
            'eta_seconds': int(eta) if eta is not None else None,
        }

    def message(self, where=''):
        s = self.snapshot()
        return '%s: %d of %d rows (%.1f%%), %d rows/s, ETA %s%s' % (
            self.label, s['rows_done'], s['rows_total'], s['percent'], s['rows_per_second'],
            format_eta(s['eta_seconds']), (' ' + where) if where else '')

    def add(self, rows, where='', force=False):
        """Count rows; log when due. Returns True when a line was logged."""
        self.done += int(rows)
        now = self.clock()
        if force or self.last_log is None or now - self.last_log >= self.every:
            self.last_log = now
            if self.log:
                self.log(self.message(where))
            return True
        return False


class Phase(object):
    """Progress of one phase after the copy (index builds, foreign keys and ANALYZE, partitions
    verified, a revert's partitions): units done of total, counted from several threads, written
    through write(connection, record) at most every `every` seconds and when the last unit is done.
    The record (what the state row's progress.phase holds, status.py reads it) is plain data:
    step (the step recorded when the phase is over), unit, done, total, start_done (done when this
    run began the phase: a resumed run's rate counts only its own work) and seconds (since then)."""

    def __init__(self, step, unit, total, write=None, done=0, every=1.0, clock=time.time):
        self.step = step
        self.unit = unit
        self.total = max(int(total or 0), 0)
        self.done = self.start_done = min(int(done or 0), self.total)
        self.write = write
        self.every = every
        self.clock = clock
        self.started = clock()
        self.last_write = None
        self.lock = threading.Lock()

    def record(self):
        return {'step': self.step, 'unit': self.unit, 'done': self.done, 'total': self.total,
                'start_done': self.start_done, 'seconds': round(self.clock() - self.started, 3)}

    def start(self, conn):
        """Write the record once at the start of the phase (0 of total, or where a resume starts)."""
        with self.lock:
            self.last_write = self.clock()
            rec = self.record()
        if self.write:
            self.write(conn, rec)

    def add(self, conn, units=1):
        """Count units done; write the record on conn when due. Returns True when it wrote."""
        with self.lock:
            self.done = min(self.done + int(units), self.total)
            now = self.clock()
            due = self.done >= self.total or self.last_write is None or now - self.last_write >= self.every
            if due:
                self.last_write = now
            rec = self.record()
        if due and self.write:
            self.write(conn, rec)
        return due


def phase_figures(record, since_write=0.0):
    """done, total, percent, rate (units/s) and seconds left of a phase record, as status.py shows
    them; since_write: seconds since the record was written (the time left counts down)."""
    if not record:
        return None
    done, total = int(record.get('done') or 0), int(record.get('total') or 0)
    seconds = float(record.get('seconds') or 0)
    worked = done - int(record.get('start_done') or 0)
    rate = worked / seconds if seconds > 0 and worked > 0 else None
    eta = None
    if rate:
        eta = max(int(round((total - done) / rate - max(float(since_write or 0), 0))), 0)
    elif done >= total:
        eta = 0
    return {'step': record.get('step'), 'unit': record.get('unit'), 'done': done, 'total': total,
            'percent': round(100.0 * done / total, 1) if total else 100.0,
            'per_second': round(rate, 2) if rate is not None else None, 'eta_seconds': eta}
