# -*- coding: utf-8 -*-
# Copyright: soar.partman contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sizes and durations for people: the plan, messages, progress lines. Pure."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def human_bytes(n):
    """1536 -> '1.5 kB'; None -> 'unknown'."""
    if n is None:
        return 'unknown'
    n = float(n)
    for unit in ('B', 'kB', 'MB', 'GB', 'TB'):
        if abs(n) < 1024 or unit == 'TB':
            return '%.1f %s' % (n, unit)
        n /= 1024
    return '%.1f TB' % n


def human_seconds(s):
    """A duration, to the second under two minutes, to the minute above two hours."""
    s = int(s)
    if s < 120:
        return '%ds' % s
    if s < 7200:
        return '%dm%02ds' % (s // 60, s % 60)
    return '%dh%02dm' % (s // 3600, (s % 3600) // 60)


def format_eta(seconds):
    """Time left of a running copy, to the second: 3725 -> '1h02m05s'; None -> 'unknown'."""
    if seconds is None:
        return 'unknown'
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    if h:
        return '%dh%02dm%02ds' % (h, m, s)
    if m:
        return '%dm%02ds' % (m, s)
    return '%ds' % s
