# -*- coding: utf-8 -*-
# Copyright: soar.partman contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_partman 4.x / 5.x API calls, always with named arguments.

4.x: create_parent(p_parent_table, p_control, p_type, p_interval, ...), p_type
     'native' for declarative partitioning; create_partition_time has p_analyze.
5.x: create_parent(p_parent_table, p_control, p_interval, p_type DEFAULT 'range',
     ..., p_default_table); the old keywords ('daily', ...) and 'native' fail.
Both: run_maintenance(p_parent_table, ...) function, run_maintenance_proc()
procedure (CALL, outside a transaction block).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.soar.partman.plugins.module_utils.names import PlanError, quote_ident

try:
    from psycopg2 import sql
except ImportError:
    sql = None


def _named_call(schema, function, args, verb='SELECT'):
    """(Composed, params) for `SELECT schema.function(k => %s, ...)`."""
    parts = []
    params = []
    for key, value, cast in args:
        if cast:
            parts.append(sql.SQL('{} => %s::' + cast).format(sql.Identifier(key)))
        else:
            parts.append(sql.SQL('{} => %s').format(sql.Identifier(key)))
        params.append(value)
    query = sql.SQL(verb + ' {}.{}({})').format(
        sql.Identifier(schema), sql.Identifier(function), sql.SQL(', ').join(parts))
    return query, params


def create_parent_args(major, parent, control, interval_text, premake, start_partition):
    """Argument list (name, value, cast) of create_parent for the major."""
    if major >= 5:
        return [
            ('p_parent_table', parent, 'text'),
            ('p_control', control, 'text'),
            ('p_interval', interval_text, 'text'),
            ('p_type', 'range', 'text'),
            ('p_premake', premake, 'int'),
            ('p_start_partition', start_partition, 'text'),
            ('p_default_table', True, 'boolean'),
        ]
    return [
        ('p_parent_table', parent, 'text'),
        ('p_control', control, 'text'),
        ('p_type', 'native', 'text'),
        ('p_interval', interval_text, 'text'),
        ('p_premake', premake, 'int'),
        ('p_start_partition', start_partition, 'text'),
    ]


def create_parent(schema, major, parent, control, interval_text, premake, start_partition):
    return _named_call(schema, 'create_parent',
                       create_parent_args(major, parent, control, interval_text, premake, start_partition))


def create_partition_time(schema, major, parent, starts):
    """starts: list of timezone-aware datetimes (bucket starts)."""
    args = [('p_parent_table', parent, 'text'),
            ('p_partition_times', list(starts), 'timestamptz[]')]
    if major < 5:
        args.append(('p_analyze', False, 'boolean'))
    return _named_call(schema, 'create_partition_time', args)


def run_maintenance(schema, parent, analyze=False):
    """Maintenance of one partition set (a function in both majors)."""
    return _named_call(schema, 'run_maintenance', [
        ('p_parent_table', parent, 'text'),
        ('p_analyze', analyze, 'boolean'),
    ])


def run_maintenance_proc(schema):
    """Maintenance of all partition sets; a procedure: needs autocommit."""
    return sql.SQL('CALL {}.run_maintenance_proc()').format(sql.Identifier(schema)), []


CONFIG_COLUMNS = ('premake', 'retention', 'retention_keep_table', 'infinite_time_partitions')


def config_update(schema, parent, premake, retention, retention_keep_table, infinite=True):
    query = sql.SQL(
        'UPDATE {}.part_config SET premake = %s, retention = %s, retention_keep_table = %s, '
        'infinite_time_partitions = %s, inherit_privileges = true WHERE parent_table = %s'
    ).format(sql.Identifier(schema))
    return query, [premake, retention, retention_keep_table, infinite, parent]


def config_wanted(premake, retention, retention_keep_table, infinite=True):
    return {'premake': premake, 'retention': retention,
            'retention_keep_table': retention_keep_table, 'infinite_time_partitions': infinite}


def config_differs(current, wanted):
    """Keys whose value in part_config differs from wanted."""
    out = []
    for k, v in wanted.items():
        cur = current.get(k)
        if k == 'retention':
            cur = (cur or None)
            v = (v or None)
            if cur is not None and v is not None and cur.replace(' ', '') == v.replace(' ', ''):
                continue
        if cur != v:
            out.append(k)
    return out


def config_delete(schema, parent):
    return [
        (sql.SQL('DELETE FROM {}.part_config_sub WHERE sub_parent = %s').format(sql.Identifier(schema)), [parent]),
        (sql.SQL('DELETE FROM {}.part_config WHERE parent_table = %s').format(sql.Identifier(schema)), [parent]),
    ]


def version_tuple(extversion):
    """'4.7.2' -> (4, 7, 2): the one parser of pg_partman's extversion (digits of each piece; 0 for none)."""
    parts = []
    for piece in str(extversion or '').split('.'):
        digits = ''.join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts) or (0,)


def major_version(extversion):
    """'4.7.2' -> 4, '5.2.4' -> 5."""
    return version_tuple(extversion)[0]


def partman_major(extversion):
    """The major of a pg_partman partman_migrate can drive (4 or 5); anything else is refused."""
    if not extversion:
        raise PlanError("pg_partman is not installed in this database: CREATE EXTENSION pg_partman "
                        "SCHEMA partman (or set partman_schema) first")
    found = major_version(extversion)
    if found not in (4, 5):
        raise PlanError("pg_partman %s is not supported (4.x and 5.x are)" % extversion)
    return found


def maintenance_call(schema, extversion, analyze=False):
    """SQL text of one maintenance run over every partition set, for psql, pg_cron and logs.

    4.0 and later (4.x on PostgreSQL 11+, and 5.x): the procedure run_maintenance_proc(),
    which commits after each partition set; it is a procedure, so it must be CALLed outside
    a transaction block (psql -c and pg_cron do that). Before 4.0: the function run_maintenance().
    """
    flag = 'true' if analyze else 'false'
    if major_version(extversion) >= 4:
        return 'CALL %s.run_maintenance_proc(p_analyze := %s)' % (quote_ident(schema), flag)
    return 'SELECT %s.run_maintenance(p_analyze := %s)' % (quote_ident(schema), flag)


def partition_data_time(schema, parent, lock_wait, ignored_columns):
    """Move the rows of one partition interval out of the default partition into a new child
    (created by pg_partman in the same transaction). Same arguments in 4.x and 5.x; returns the
    rows moved, 0 when the default is empty, -1 when row locks could not be had."""
    return _named_call(schema, 'partition_data_time', [
        ('p_parent_table', parent, 'text'),
        ('p_batch_count', 1, 'int'),
        ('p_lock_wait', lock_wait, 'numeric'),
        ('p_analyze', False, 'boolean'),
        ('p_ignored_columns', list(ignored_columns) or None, 'text[]'),
    ])
