# -*- coding: utf-8 -*-
# Copyright: soar.partman contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Copy progress: rows done of total, rows/s, ETA; logged through a callback
(module.log, which ends up in the host journal) at most every `every` seconds."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

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
