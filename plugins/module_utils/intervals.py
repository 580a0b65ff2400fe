# -*- coding: utf-8 -*-
# Copyright: soar.partman contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Partition intervals: parsing PostgreSQL interval text into the supported intervals, the python
mirror of date_trunc and interval arithmetic for buckets, and retention lengths. Pure."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import datetime
import re

from ansible_collections.soar.partman.plugins.module_utils.names import PlanError


class Interval(object):
    """A supported partition interval."""

    def __init__(self, key, pg_text, trunc, approx_seconds):
        self.key = key                  # hour/day/week/month/quarter/year
        self.pg_text = pg_text          # text handed to pg_partman and to ::interval
        self.trunc = trunc              # date_trunc() field aligning buckets
        self.approx_seconds = approx_seconds

    def __eq__(self, other):
        return isinstance(other, Interval) and other.key == self.key

    def __ne__(self, other):
        return not self.__eq__(other)

    def __repr__(self):
        return 'Interval(%s)' % self.pg_text


INTERVALS = {
    'hour': Interval('hour', '1 hour', 'hour', 3600),
    'day': Interval('day', '1 day', 'day', 86400),
    'week': Interval('week', '1 week', 'week', 7 * 86400),
    'month': Interval('month', '1 month', 'month', 30 * 86400),
    'quarter': Interval('quarter', '3 months', 'quarter', 91 * 86400),
    'year': Interval('year', '1 year', 'year', 365 * 86400),
}

_INTERVAL_ALIASES = {
    'hourly': 'hour', 'daily': 'day', 'weekly': 'week', 'monthly': 'month',
    'quarterly': 'quarter', 'yearly': 'year', 'annually': 'year',
    '01:00:00': 'hour', '1:00:00': 'hour', '60 minutes': 'hour', '60 mins': 'hour', '60 min': 'hour',
    '7 days': 'week', '7 day': 'week', '3 months': 'quarter', '3 mons': 'quarter', '3 mon': 'quarter',
    '12 months': 'year', '12 mons': 'year',
}

_UNIT_WORDS = {
    'h': 'hour', 'hr': 'hour', 'hrs': 'hour', 'hour': 'hour', 'hours': 'hour',
    'd': 'day', 'day': 'day', 'days': 'day',
    'w': 'week', 'week': 'week', 'weeks': 'week',
    'mon': 'month', 'mons': 'month', 'month': 'month', 'months': 'month',
    'quarter': 'quarter', 'quarters': 'quarter',
    'y': 'year', 'yr': 'year', 'yrs': 'year', 'year': 'year', 'years': 'year',
}


def parse_interval(text):
    """Parse PostgreSQL-style interval text into a supported Interval.

    Accepted: 1 hour, 1 day, 1 week (7 days), 1 month, 3 months (quarter),
    1 year, their plurals/abbreviations as PostgreSQL prints them (1 mon,
    01:00:00) and the old pg_partman keywords (hourly, daily, ...).
    """
    if text is None:
        raise PlanError("interval is required, e.g. '1 day'")
    norm = re.sub(r'\s+', ' ', str(text).strip().lower())
    norm = norm.lstrip('@ ').strip()
    if norm in _INTERVAL_ALIASES:
        return INTERVALS[_INTERVAL_ALIASES[norm]]
    m = re.match(r'^(?:(\d+)\s*)?([a-z]+)$', norm)
    if m:
        count = int(m.group(1)) if m.group(1) else 1
        unit = _UNIT_WORDS.get(m.group(2))
        if unit and count == 1:
            return INTERVALS[unit]
        if unit == 'day' and count == 7:
            return INTERVALS['week']
        if unit == 'month' and count == 3:
            return INTERVALS['quarter']
        if unit == 'month' and count == 12:
            return INTERVALS['year']
        if unit == 'hour' and count == 24:
            raise PlanError("interval '%s' is not supported: use '1 day' (24 hours and 1 day differ "
                            "across daylight saving changes)" % text)
    raise PlanError("interval '%s' is not supported; use one of: 1 hour, 1 day, 1 week, 1 month, "
                    "3 months, 1 year (PostgreSQL interval text)" % text)


def trunc_unit(interval_text):
    """The date_trunc() field of a partition interval as part_config stores it ('1 day', '1 mon',
    '3 mons', '7 days', '01:00:00'...), or None when it is not one of the supported intervals."""
    try:
        return parse_interval(interval_text).trunc
    except PlanError:
        return None


# buckets (pure python mirror of date_trunc, used by the plan and tests)

def trunc_datetime(value, interval):
    """date_trunc(interval.trunc, value) for naive or aware datetimes/dates."""
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        value = datetime.datetime(value.year, value.month, value.day)
    v = value.replace(minute=0, second=0, microsecond=0)
    if interval.key == 'hour':
        return v
    v = v.replace(hour=0)
    if interval.key == 'day':
        return v
    if interval.key == 'week':
        return v - datetime.timedelta(days=v.weekday())
    if interval.key == 'month':
        return v.replace(day=1)
    if interval.key == 'quarter':
        return v.replace(day=1, month=3 * ((v.month - 1) // 3) + 1)
    return v.replace(day=1, month=1)


def add_interval(start, interval, n=1):
    """start + n * interval (calendar aware for months/years)."""
    if interval.key == 'hour':
        return start + datetime.timedelta(hours=n)
    if interval.key == 'day':
        return start + datetime.timedelta(days=n)
    if interval.key == 'week':
        return start + datetime.timedelta(weeks=n)
    months = {'month': 1, 'quarter': 3, 'year': 12}[interval.key] * n
    m0 = start.year * 12 + (start.month - 1) + months
    year, month = m0 // 12, m0 % 12 + 1
    # as PostgreSQL does: 31 January + 1 month is 28 (29) February
    return start.replace(year=year, month=month, day=min(start.day, calendar.monthrange(year, month)[1]))


def buckets_for_values(values, interval):
    """Sorted distinct bucket starts covering the given values."""
    return sorted(set(trunc_datetime(v, interval) for v in values))


def premake_buckets(now, interval, premake):
    """Buckets pg_partman's create_parent makes when started at the current
    bucket: the current one and the ones before now + premake * interval."""
    base = trunc_datetime(now, interval)
    out = [base]
    n = 1
    limit = add_interval(now, interval, premake)
    while add_interval(base, interval, n) < limit:
        out.append(add_interval(base, interval, n))
        n += 1
    return out


_RETENTION_UNITS = (
    (r'years?|y', 365 * 86400), (r'mons?|months?', 30 * 86400), (r'weeks?|w', 7 * 86400),
    (r'days?|d', 86400), (r'hours?|h', 3600), (r'mins?|minutes?', 60),
)


def retention_seconds(text, option='retention'):
    """Approximate length of a retention interval ('30 days', '1 year 6 months'). A number without
    a unit is refused: ansible's -e key=value splits '30 days' at the space and passes '30', which
    PostgreSQL would read as 30 seconds."""
    norm = re.sub(r'\s+', ' ', str(text).strip().lower())
    total = 0
    pos = 0
    for m in re.finditer(r'(\d+) ?([a-z]+) ?', norm):
        if m.start() != pos:
            break
        unit = [sec for pattern, sec in _RETENTION_UNITS if re.match('^(%s)$' % pattern, m.group(2))]
        if not unit:
            break
        total += int(m.group(1)) * unit[0]
        pos = m.end()
    if not norm or pos != len(norm) or total <= 0:
        raise PlanError("%s %r is not an interval with a unit; give e.g. '30 days', '6 months' or '1 year' (on "
                        "the command line quote it as JSON: -e '{\"%s\": \"30 days\"}')" % (option, text, option))
    return total
