# -*- coding: utf-8 -*-
# Copyright: soar.partman contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure helpers for partman_migrate: name handling, interval parsing, bucket
and partition naming, the migration plan and SQL text rewriting.

Nothing in here talks to a database, so all of it is unit-testable.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import datetime
import hashlib
import re

NAMEDATALEN = 63

# Steps of a forward migration, in order. The state table records the last
# one that completed.
STEPS = ('prepared', 'partitioned', 'copied', 'indexed', 'constrained', 'verified', 'done')


class PlanError(Exception):
    """A problem found while planning; the message names the problem and the fix."""


# --------------------------------------------------------------------------
# names
# --------------------------------------------------------------------------

def split_table_name(name):
    """'schema.table' -> ('schema', 'table'); 'table' -> ('public', 'table').

    Double quotes are accepted around either part ("My Schema"."Fixes").
    """
    if not name or not name.strip():
        raise PlanError("table must not be empty; give it as schema.table, e.g. public.fixes")
    parts = []
    cur = ''
    in_quotes = False
    i = 0
    s = name.strip()
    while i < len(s):
        ch = s[i]
        if ch == '"':
            if in_quotes and i + 1 < len(s) and s[i + 1] == '"':
                cur += '"'
                i += 2
                continue
            in_quotes = not in_quotes
        elif ch == '.' and not in_quotes:
            parts.append(cur)
            cur = ''
        else:
            cur += ch
        i += 1
    if in_quotes:
        raise PlanError("table %r has an unbalanced double quote" % name)
    parts.append(cur)
    if len(parts) == 1:
        parts.insert(0, 'public')
    if len(parts) != 2 or not all(parts):
        raise PlanError("table %r must be schema.table (e.g. public.fixes); pg_partman does not "
                        "support names containing periods" % name)
    for p in parts:
        if '.' in p:
            raise PlanError("pg_partman does not support object names containing a period: %r" % p)
    return parts[0], parts[1]


def truncate_name(name, suffix=''):
    """Append suffix to name, cutting name so that the result fits NAMEDATALEN bytes."""
    full = name + suffix
    if len(full.encode('utf-8')) <= NAMEDATALEN:
        return full
    room = NAMEDATALEN - len(suffix.encode('utf-8'))
    base = name.encode('utf-8')[:room].decode('utf-8', 'ignore')
    return base + suffix


def unique_name(name, suffix):
    """Like truncate_name, but when cutting is needed add a short hash so that
    two long names sharing a prefix do not collide."""
    full = name + suffix
    if len(full.encode('utf-8')) <= NAMEDATALEN:
        return full
    digest = hashlib.md5(full.encode('utf-8')).hexdigest()[:6]
    return truncate_name(name, '_' + digest + suffix)


def qualified(schema, name):
    return '%s.%s' % (schema, name)


def quote_ident(name):
    """Quote an identifier the way PostgreSQL's quote_ident does (for text
    matching of pg_get_*def output only; SQL is built with psycopg2.sql)."""
    if re.match(r'^[a-z_][a-z0-9_$]*$', name) and name not in _RESERVED:
        return name
    return '"%s"' % name.replace('"', '""')


# Reserved key words that quote_ident always quotes (enough for table/index
# names; the comparison falls back to tolerant matching anyway).
_RESERVED = frozenset((
    'all', 'analyse', 'analyze', 'and', 'any', 'array', 'as', 'asc', 'asymmetric', 'both', 'case',
    'cast', 'check', 'collate', 'column', 'constraint', 'create', 'current_catalog', 'current_date',
    'current_role', 'current_time', 'current_timestamp', 'current_user', 'default', 'deferrable',
    'desc', 'distinct', 'do', 'else', 'end', 'except', 'false', 'fetch', 'for', 'foreign', 'from',
    'grant', 'group', 'having', 'in', 'initially', 'intersect', 'into', 'lateral', 'leading', 'limit',
    'localtime', 'localtimestamp', 'not', 'null', 'offset', 'on', 'only', 'or', 'order', 'placing',
    'primary', 'references', 'returning', 'select', 'session_user', 'some', 'symmetric', 'table',
    'then', 'to', 'trailing', 'true', 'union', 'unique', 'user', 'using', 'variadic', 'when', 'where',
    'window', 'with', 'authorization', 'binary', 'collation', 'concurrently', 'cross', 'current_schema',
    'freeze', 'full', 'ilike', 'inner', 'is', 'isnull', 'join', 'left', 'like', 'natural', 'notnull',
    'outer', 'overlaps', 'right', 'similar', 'tablesample', 'verbose'))


# --------------------------------------------------------------------------
# intervals
# --------------------------------------------------------------------------

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


# --------------------------------------------------------------------------
# pg_partman naming
# --------------------------------------------------------------------------

def partman_major(extversion):
    """'4.7.2' -> 4, '5.2.4' -> 5; anything else is refused."""
    if not extversion:
        raise PlanError("pg_partman is not installed in this database: CREATE EXTENSION pg_partman "
                        "SCHEMA partman (or set partman_schema) first")
    try:
        major = int(str(extversion).split('.', maxsplit=1)[0])
    except ValueError:
        raise PlanError("cannot read pg_partman version %r" % extversion)
    if major not in (4, 5):
        raise PlanError("pg_partman %s is not supported (4.x and 5.x are)" % extversion)
    return major


def datetime_format(major, interval):
    """The pg_partman datetime_string for the given major and interval, as a
    strftime() format (pg_partman uses to_char())."""
    if major >= 5:
        if interval.approx_seconds < 86400:
            return '%Y%m%d_%H%M%S'
        return '%Y%m%d'
    # 4.x, called with an interval text (not the old keywords)
    if interval.key == 'year':
        return '%Y'
    if interval.key in ('month', 'quarter'):
        return '%Y_%m'
    if interval.key in ('day', 'week'):
        return '%Y_%m_%d'
    return '%Y_%m_%d_%H%M'


def partition_name(parent, start, major, interval):
    """Name pg_partman gives the child starting at `start` (a datetime)."""
    suffix = start.strftime(datetime_format(major, interval))
    if len(parent) + len(suffix) >= 61:
        return parent[:61 - len(suffix)] + '_p' + suffix
    return parent + '_p' + suffix


def default_partition_name(parent):
    return truncate_name(parent, '_default')


# --------------------------------------------------------------------------
# buckets (pure python mirror of date_trunc, used by the plan and tests)
# --------------------------------------------------------------------------

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


# --------------------------------------------------------------------------
# keys, indexes, constraints
# --------------------------------------------------------------------------

def widen_columns(columns, control):
    """Unique/PK columns widened to contain the partition key."""
    cols = list(columns)
    if control not in cols:
        cols.append(control)
    return cols


def describe_key_change(kind, before, after):
    return '%s (%s) -> (%s)' % (kind, ', '.join(before), ', '.join(after))


def describe_inbound_fks(fks, table_key):
    """'name on table (references schema.table (cols)); ...' for inbound foreign keys."""
    return '; '.join('%s on %s (references %s (%s))' % (
        fk['name'], fk['table'], table_key, ', '.join(fk['referenced_columns'])) for fk in fks)


def _find_matching_paren(text, start):
    """Index of the parenthesis closing the one at text[start]; respects
    quoted identifiers and string literals."""
    depth = 0
    i = start
    in_str = None
    while i < len(text):
        ch = text[i]
        if in_str:
            if ch == in_str:
                if i + 1 < len(text) and text[i + 1] == in_str:
                    i += 2
                    continue
                in_str = None
        elif ch in ('"', "'"):
            in_str = ch
        elif ch == '(':
            depth += 1
        elif ch == ')':
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise PlanError("cannot parse index definition: unbalanced parentheses in %r" % text)


def split_index_def(indexdef, index_name, table_schema, table_name):
    """Split pg_get_indexdef() output into (unique, tail) where tail starts
    at ' USING ...'. Raises PlanError when the text does not look as expected."""
    m = re.match(r'^CREATE (UNIQUE )?INDEX ', indexdef)
    if not m:
        raise PlanError("unexpected index definition %r" % indexdef)
    rest = indexdef[m.end():]
    name_q = quote_ident(index_name)
    candidates = []
    for nm in (name_q, '"%s"' % index_name.replace('"', '""'), index_name):
        for tb in ('%s.%s' % (quote_ident(table_schema), quote_ident(table_name)),
                   '%s.%s' % ('"%s"' % table_schema, '"%s"' % table_name),
                   '%s.%s' % (table_schema, table_name)):
            candidates.append('%s ON %s' % (nm, tb))
            candidates.append('%s ON ONLY %s' % (nm, tb))
    for prefix in candidates:
        if rest.startswith(prefix + ' USING '):
            return bool(m.group(1)), rest[len(prefix):]
    raise PlanError("cannot parse index definition %r (expected index %s on %s.%s)"
                    % (indexdef, index_name, table_schema, table_name))


def widen_index_tail(tail, control_quoted):
    """Add the control column to the key column list of ' USING m (cols) ...'."""
    m = re.match(r'^ USING \S+ ', tail)
    if not m or tail[m.end()] != '(':
        raise PlanError("cannot parse index definition tail %r" % tail)
    open_at = m.end()
    close_at = _find_matching_paren(tail, open_at)
    return tail[:close_at] + ', ' + control_quoted + tail[close_at:]


def index_tail_columns(tail):
    """The raw text of the key column list of ' USING m (a, b DESC) ...'."""
    m = re.match(r'^ USING \S+ ', tail)
    if not m or tail[m.end()] != '(':
        raise PlanError("cannot parse index definition tail %r" % tail)
    close_at = _find_matching_paren(tail, m.end())
    return tail[m.end() + 1:close_at]


def retarget_trigger_def(triggerdef, schema, old_table, new_schema, new_table):
    """Rewrite 'CREATE TRIGGER t ... ON schema.old ...' to target another table."""
    for src in ('%s.%s' % (quote_ident(schema), quote_ident(old_table)),
                '"%s"."%s"' % (schema, old_table), '%s.%s' % (schema, old_table)):
        needle = ' ON %s ' % src
        if needle in triggerdef:
            return triggerdef.replace(needle, ' ON %s.%s ' % (quote_ident(new_schema), quote_ident(new_table)), 1)
    raise PlanError("cannot re-target trigger definition %r" % triggerdef)


# --------------------------------------------------------------------------
# estimates and the plan
# --------------------------------------------------------------------------

# Rough throughput figures used for the time estimate; measured on a small
# VM (see the module notes); they are a guide, not a promise.
COPY_ROWS_PER_SECOND = 150000.0
INDEX_BYTES_PER_SECOND = 60.0 * 1024 * 1024


def estimate_seconds(rows, table_bytes, index_bytes):
    copy = rows / COPY_ROWS_PER_SECOND
    build = index_bytes / INDEX_BYTES_PER_SECOND
    verify = rows / (COPY_ROWS_PER_SECOND * 4)
    return int(copy + build + verify + 5)


def disk_needed(table_bytes, index_bytes, margin=1.1):
    """A second copy of the heap plus its indexes, with a margin."""
    return int((table_bytes + index_bytes) * margin)


def human_bytes(n):
    if n is None:
        return 'unknown'
    n = float(n)
    for unit in ('B', 'kB', 'MB', 'GB', 'TB'):
        if abs(n) < 1024 or unit == 'TB':
            return '%.1f %s' % (n, unit)
        n /= 1024
    return '%.1f TB' % n


def human_seconds(s):
    s = int(s)
    if s < 120:
        return '%ds' % s
    if s < 7200:
        return '%dm%02ds' % (s // 60, s % 60)
    return '%dh%02dm' % (s // 3600, (s % 3600) // 60)


def adapt_slice_width(width, rows, batch_size, min_width, max_width):
    """Next copy-slice width (seconds of control time) aiming at batch_size
    rows: scale by the observed density, at most x4 / at least /4 per step."""
    if rows <= 0:
        new = width * 4
    else:
        new = width * float(batch_size) / float(rows)
        new = max(width / 4.0, min(new, width * 4.0))
    return max(min_width, min(new, max_width))


# create_parent makes every premade partition in one transaction, each taking locks: far more than a
# few hundred exhausts the lock table ("out of shared memory") after holding the table for minutes.
MAX_PREMAKE = 1000


def validate_params(params, var_prefix=''):
    """Check parameter combinations; returns the parsed Interval. Messages name each option as
    var_prefix + option, the name the user set (a role passes its variables' prefix)."""
    def name(option):
        return var_prefix + option
    try:
        interval = parse_interval(params.get('interval'))
    except PlanError as e:
        raise PlanError('%s: %s' % (name('interval'), e))
    premake = params.get('premake')
    if premake is not None and not 1 <= premake <= MAX_PREMAKE:
        raise PlanError("%s is %s; it must be between 1 and %d partitions ahead (pg_partman makes them all in "
                        "one transaction, and maintenance keeps them coming): set %s to a few days' worth, "
                        "e.g. 3 to 14" % (name('premake'), premake, MAX_PREMAKE, name('premake')))
    for option in ('batch_size', 'jobs', 'lock_timeout', 'progress_interval'):
        if params.get(option) is not None and params[option] < 1:
            raise PlanError("%s is %s; it must be 1 or more: set %s to a positive number"
                            % (name(option), params[option], name(option)))
    suffix = params.get('old_suffix')
    if suffix is not None and (not suffix or not re.match(r'^[A-Za-z0-9_]+$', suffix)):
        raise PlanError("%s must be a non-empty string of letters, digits and underscores (e.g. _old)"
                        % name('old_suffix'))
    if params.get('retention'):
        seconds = retention_seconds(params['retention'], name('retention'))
        if seconds < interval.approx_seconds:
            raise PlanError("%s %r is shorter than one partition (%s): pg_partman would remove every partition "
                            "but the newest. Set %s to at least %s, e.g. '30 days'"
                            % (name('retention'), params['retention'], interval.pg_text, name('retention'),
                               interval.pg_text))
    return interval


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


def build_plan(snapshot, params, interval, major, buckets, premade, now_bucket=None,
               free_bytes=None, rows_estimate=None):
    """The migration plan returned in check mode and recorded at start.

    snapshot: catalog snapshot dict (see catalog.snapshot()).
    buckets: bucket start datetimes holding data.
    premade: bucket start datetimes create_parent makes.
    """
    table = snapshot['table']
    control = params['control']
    all_starts = sorted(set(buckets) | set(premade))
    partitions = []
    for start in all_starts:
        partitions.append({
            'name': qualified(table['schema'], partition_name(table['name'], start, major, interval)),
            'from': start.isoformat(),
            'to': add_interval(start, interval).isoformat(),
            'has_data': start in set(buckets),
        })
    rows = rows_estimate if rows_estimate is not None else table.get('reltuples')
    rows = int(max(rows or 0, 0))
    index_bytes = table.get('index_bytes') or 0
    table_bytes = table.get('table_bytes') or 0
    needed = disk_needed(table_bytes, index_bytes)
    indexes = []
    pk_changed = []
    for con in snapshot.get('constraints', []):
        if con['type'] in ('p', 'u'):
            after = widen_columns(con['columns'], control)
            kind = 'PRIMARY KEY' if con['type'] == 'p' else 'UNIQUE'
            indexes.append('%s %s (%s)' % (kind, con['name'], ', '.join(after)))
            if after != con['columns']:
                pk_changed.append(describe_key_change(kind, con['columns'], after))
    for idx in snapshot.get('indexes', []):
        if idx.get('constraint'):
            continue
        indexes.append(idx['name'] + ':' + idx.get('tail', ''))
        if idx['unique'] and control not in idx.get('columns', []):
            pk_changed.append('UNIQUE INDEX %s (%s) -> (%s)' % (
                idx['name'], ', '.join(idx.get('columns', [])),
                ', '.join(widen_columns(idx.get('columns', []), control))))
    plan = {
        'table': qualified(table['schema'], table['name']),
        'old_table': qualified(table['schema'], truncate_name(table['name'], params['old_suffix'])),
        'control': control,
        'interval': interval.pg_text,
        'partman_major': major,
        'partitions_to_create': len(partitions),
        'partitions_with_data': len(buckets),
        'partitions': partitions,
        'default_partition': qualified(table['schema'], default_partition_name(table['name'])),
        'rows_to_copy': rows,
        'indexes_to_build': indexes,
        'pk_changed': pk_changed,
        'table_bytes': table_bytes,
        'index_bytes': index_bytes,
        'disk_needed_bytes': needed,
        'disk_needed': human_bytes(needed),
        'disk_free_bytes': free_bytes,
        'disk_free': human_bytes(free_bytes) if free_bytes is not None else 'unknown',
        'estimated_seconds': estimate_seconds(rows, table_bytes, index_bytes),
    }
    plan['estimated_time'] = human_seconds(plan['estimated_seconds'])
    plan['inbound_fks'] = [fk['name'] + ' on ' + fk['table'] for fk in snapshot.get('inbound_fks', [])]
    plan['outbound_fks'] = [c['name'] for c in snapshot.get('constraints', []) if c['type'] == 'f']
    plan['triggers'] = [t['name'] for t in snapshot.get('triggers', [])]
    return plan
