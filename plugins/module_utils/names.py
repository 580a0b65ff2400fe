# -*- coding: utf-8 -*-
# Copyright: soar.partman contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Names: schema.table splitting, identifier quoting, names cut to PostgreSQL's 63 bytes, and the
names pg_partman gives children. Pure: nothing in here talks to a database."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import re

NAMEDATALEN = 63


class PlanError(Exception):
    """A problem found while planning; the message names the problem and the fix."""


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
    """Quote an identifier the way PostgreSQL's quote_ident does: only when needed, and always for a
    reserved word. The one quoting of the collection, for SQL given as text (psql and pg_cron
    commands, regclass text, messages) and for matching pg_get_*def() output; statements the
    modules run are built with psycopg2.sql."""
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


# pg_partman's names of children (datetime_string per major and interval)

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
