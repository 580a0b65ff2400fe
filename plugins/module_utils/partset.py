# -*- coding: utf-8 -*-
# Copyright: soar.partman contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Facts about pg_partman partition sets (used by partman_info and partman_repair):
children with bounds, rows and sizes, the default partition, partitions ahead of now,
what retention would remove, and the health checks the verify playbook relies on.

Functions taking `db` read the catalog through a connection.Database; the others are pure
and unit-tested."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from ansible_collections.soar.partman.plugins.module_utils.catalog import parse_bound
from ansible_collections.soar.partman.plugins.module_utils.human import human_bytes, human_seconds

try:
    from psycopg2 import sql
except ImportError:  # the module reports the missing library
    sql = None

TIME_TYPES = ('timestamp with time zone', 'timestamp without time zone', 'date')


class InfoError(Exception):
    """Fails the module; the message names the problem and the fix."""


def iso(value):
    """datetime -> ISO text (JSON-friendly); anything else unchanged."""
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    return value


def jsonable(row):
    return dict((k, iso(v)) for k, v in row.items())


def split_parent(name):
    """'public.fixes' -> ('public', 'fixes'); an unqualified name means public."""
    from ansible_collections.soar.partman.plugins.module_utils.names import split_table_name, PlanError
    try:
        return split_table_name(name)
    except PlanError as e:
        raise InfoError(str(e))


def split_config_parent(parent_table):
    """part_config.parent_table -> (schema, name).

    pg_partman stores the text given to create_parent and finds the table with
    split_part(parent_table, '.', 1) and split_part(parent_table, '.', 2): the names are raw, never
    quoted (a table named we"ird is stored as public.we"ird), and pg_partman refuses names
    containing a period. So the text is split at its first period and nothing is unquoted;
    split_parent's quoting rules would misread such a name."""
    text = parent_table or ''
    if '.' not in text:
        raise InfoError("part_config.parent_table %r is not schema-qualified; pg_partman always stores schema.table "
                        "(fix or delete that row of part_config)" % text)
    schema, name = text.split('.', 1)
    if not schema or not name or '.' in name:
        raise InfoError("part_config.parent_table %r is not schema.table; pg_partman does not support names "
                        "containing a period (fix or delete that row of part_config)" % text)
    return schema, name


def partman_installed(db):
    rows = db.query("""
        SELECT e.extversion AS version, n.nspname AS schema
        FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
        WHERE e.extname = 'pg_partman'""")
    return rows[0] if rows else None


def config_rows(db, partman_schema, parent=None):
    q = sql.SQL('SELECT * FROM {}.part_config').format(sql.Identifier(partman_schema))
    if parent:
        q = q + sql.SQL(' WHERE parent_table = %s')
        return db.query(q, (parent,))
    return db.query(q + sql.SQL(' ORDER BY parent_table'))


def parent_oid(db, schema, name):
    return db.scalar("""
        SELECT c.oid::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %s AND c.relname = %s""", (schema, name))


def control_type(db, oid, control):
    return db.scalar("""
        SELECT format_type(atttypid, atttypmod) FROM pg_attribute
        WHERE attrelid = %s AND attname = %s AND NOT attisdropped""", (oid, control))


def children(db, oid, time_based):
    """Children of the partitioned table `oid`, bounds parsed (and cast to timestamptz for
    time-based sets, so they compare with now() in the database's own terms)."""
    rows = db.query("""
        SELECT format('%%I.%%I', n.nspname, c.relname) AS name, n.nspname AS schema, c.relname AS relname,
               c.oid::bigint AS oid, pg_get_expr(c.relpartbound, c.oid) AS bound,
               c.reltuples::bigint AS reltuples, pg_total_relation_size(c.oid) AS bytes
        FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE i.inhparent = %s
        ORDER BY c.relname""", (oid,))
    for r in rows:
        r['is_default'] = r['bound'] == 'DEFAULT'
        r['from'], r['to'] = parse_bound(r['bound'])
    if time_based:
        bounds = [r['from'] for r in rows] + [r['to'] for r in rows]
        cast = db.query("""
            SELECT ord, b::timestamptz AS ts, b::timestamptz > now() AS future,
                   b::timestamptz <= now() AS past_or_now
            FROM unnest(%s::text[]) WITH ORDINALITY AS u(b, ord) ORDER BY ord""", (bounds,))
        n = len(rows)
        for i, r in enumerate(rows):
            lo, hi = cast[i], cast[n + i]
            r['from_ts'], r['to_ts'] = lo['ts'], hi['ts']
            r['ahead'] = bool(lo['future']) if lo['ts'] is not None else False
            r['current'] = bool(lo['past_or_now'] and not hi['past_or_now']) if lo['ts'] is not None else False
    return rows


def contiguous_ahead(regular):
    """How many children follow the one covering now without a gap (a missing day in between
    sends that day's rows to the default partition, however many children exist beyond it)."""
    chain = sorted((c for c in regular if c.get('from_ts') is not None and c.get('to_ts') is not None),
                   key=lambda c: c['from_ts'])
    current = next((c for c in chain if c.get('current')), None)
    if current is None:
        return 0
    end, count = current['to_ts'], 0
    for c in chain:
        if c['from_ts'] == end:
            count += 1
            end = c['to_ts']
    return count


def count_rows(db, schema, relname):
    return db.scalar(sql.SQL('SELECT count(*) FROM ONLY {}').format(sql.Identifier(schema, relname)))


def has_rows(db, schema, relname):
    return bool(db.scalar(sql.SQL('SELECT EXISTS (SELECT 1 FROM ONLY {})').format(
        sql.Identifier(schema, relname))))


def retention_cutoff(db, retention):
    """now() - retention, computed by the server (interval arithmetic as pg_partman does it)."""
    try:
        return db.scalar('SELECT now() - %s::interval', (retention,))
    except Exception as e:
        db.rollback()
        raise InfoError("retention %r is not a PostgreSQL interval (%s); use text such as '90 days'"
                        % (retention, str(e).strip()))


def retention_plan(children_rows, cutoff, retention, keep_table, retention_schema):
    """Which children pg_partman's retention would remove now: those whose upper bound is older
    than now() - retention (pg_partman compares the end of each child's range).

    `would_drop` is true when they would be dropped (not only detached or moved to a schema)
    and at least one of them holds rows."""
    if not retention or cutoff is None:
        return {'retention': retention or None, 'keep_table': keep_table, 'cutoff': None,
                'partitions': [], 'rows_estimate': 0, 'bytes': 0, 'holding_data': [],
                'would_drop': False, 'would_detach': False, 'action': 'none'}
    victims = [c for c in children_rows if not c['is_default'] and c.get('to_ts') is not None and c['to_ts'] < cutoff]
    holding = [c['name'] for c in victims if c.get('has_rows')]
    action = 'drop'
    if keep_table:
        action = 'detach'
    elif retention_schema:
        action = 'move to schema %s' % retention_schema
    return {
        'retention': retention,
        'keep_table': keep_table,
        'cutoff': iso(cutoff),
        'partitions': [c['name'] for c in victims],
        'rows_estimate': sum(max(int(c.get('rows') or 0), 0) for c in victims),
        'bytes': sum(int(c.get('bytes') or 0) for c in victims),
        'holding_data': holding,
        'would_drop': action == 'drop' and bool(holding),
        # Detached (or moved) partitions leave the table the application reads: guarded like a drop.
        'would_detach': action != 'drop' and bool(holding),
        'action': action,
    }


def collect_set(db, partman_schema, config, exact_counts=False, retention=None, keep_table=None):
    """Facts about one partition set (config: its part_config row)."""
    parent = config['parent_table']
    schema, name = split_config_parent(parent)
    oid = parent_oid(db, schema, name)
    if oid is None:
        raise InfoError("part_config lists %s but the table does not exist; remove the stale entry "
                        "(DELETE FROM %s.part_config WHERE parent_table = '%s') or create the table"
                        % (parent, partman_schema, parent))
    ctype = control_type(db, oid, config['control'])
    time_based = ctype in TIME_TYPES and (config.get('epoch') in (None, 'none'))
    kids = children(db, oid, time_based)
    default = None
    for c in kids:
        if c['is_default']:
            c['rows'] = count_rows(db, c['schema'], c['relname'])
            c['rows_exact'] = True
            default = c
        elif exact_counts:
            c['rows'] = count_rows(db, c['schema'], c['relname'])
            c['rows_exact'] = True
        else:
            c['rows'] = c['reltuples'] if c['reltuples'] is not None and c['reltuples'] >= 0 else None
            c['rows_exact'] = False

    ret = retention if retention is not None else config.get('retention')
    keep = keep_table if keep_table is not None else config.get('retention_keep_table')
    cutoff = retention_cutoff(db, ret) if (ret and time_based) else None
    if cutoff is not None:
        for c in kids:
            if not c['is_default'] and c.get('to_ts') is not None and c['to_ts'] < cutoff:
                c['has_rows'] = (c['rows'] or 0) > 0 if c['rows_exact'] else has_rows(db, c['schema'], c['relname'])
                if c['has_rows'] and not c['rows']:
                    # Never analysed: count, so that the guard's message does not say "about 0 rows".
                    c['rows'] = count_rows(db, c['schema'], c['relname'])
                    c['rows_exact'] = True
    rplan = retention_plan(kids, cutoff, ret, keep, config.get('retention_schema'))
    rplan['message'] = (retention_message({'parent': parent, 'retention': rplan})
                        if rplan['holding_data'] else None)

    regular = [c for c in kids if not c['is_default']]
    ahead = [c for c in regular if c.get('ahead')] if time_based else []
    chain = contiguous_ahead(regular) if time_based else None
    current = [c for c in regular if c.get('current')] if time_based else []
    newest = max((c['to_ts'] for c in regular if c.get('to_ts') is not None), default=None) if time_based else None
    partitions = []
    for c in kids:
        partitions.append({
            'name': c['name'],
            'schema': c['schema'],
            'relname': c['relname'],
            'from': iso(c.get('from_ts')) if time_based else c['from'],
            'to': iso(c.get('to_ts')) if time_based else c['to'],
            'bound': c['bound'],
            'is_default': c['is_default'],
            'rows': c['rows'],
            'rows_exact': c['rows_exact'],
            'bytes': c['bytes'],
            'ahead': bool(c.get('ahead')),
        })
    return {
        'parent': parent,
        'control': config['control'],
        'control_type': ctype,
        'time_based': time_based,
        'interval': config.get('partition_interval'),
        'premake': config.get('premake'),
        'config': jsonable(config),
        'partitions': partitions,
        'partition_count': len(regular),
        'default_partition': default['name'] if default else None,
        'default_rows': default['rows'] if default else 0,
        'partitions_ahead': chain,
        'partitions_future': len(ahead) if time_based else None,
        'current_partition': current[0]['name'] if current else None,
        'newest_partition_end': iso(newest),
        'retention': rplan,
        'maintenance_last_run': iso(config.get('maintenance_last_run')),
    }


def retention_message(s):
    """What the retention of set `s` would remove, in words (no fix: callers add theirs)."""
    r = s['retention']
    names = r['holding_data']
    how, where = 'with retention_keep_table false would DROP', ''
    if r['action'] == 'detach':
        how, where = 'with retention_keep_table true would DETACH', ' from %s' % s['parent']
    elif r['action'] != 'drop':
        how, where = 'would DETACH', ' from %s and %s' % (s['parent'], r['action'])
    return ("%s: retention %s %s %d partition(s) holding data "
            "(about %d rows, %s: %s)%s at the next maintenance run"
            % (s['parent'], r['retention'], how, len(names), r['rows_estimate'], human_bytes(r['bytes']),
               ', '.join(names[:5]) + (' ...' if len(names) > 5 else ''), where))


def health(sets, maintenance, max_age, allow_no_maintenance, now=None):
    """(problems, notes) for the verify playbook. `maintenance` is the evidence dict
    (see evidence.summarise); max_age in seconds, 0 skips the age check."""
    problems, notes = [], []
    for s in sets:
        p = s['parent']
        if s['default_rows']:
            problems.append(
                "%s: %d row(s) in the default partition %s; pg_partman cannot create the children they belong "
                "to while they are there. Run playbooks/repair.yml (moves them into proper children, then runs "
                "maintenance)." % (p, s['default_rows'], s['default_partition']))
        if s['time_based']:
            premake = s.get('premake') or 0
            if s['partitions_ahead'] is not None and s['partitions_ahead'] < premake:
                problems.append(
                    "%s: %d partition(s) exist ahead of now, premake is %d: maintenance has not run (or failed) "
                    "recently. Check the maintenance backend, then run it (or playbooks/repair.yml)."
                    % (p, s['partitions_ahead'], premake))
            if s['current_partition'] is None and s['partition_count']:
                problems.append("%s: no partition covers now(): new rows land in the default partition. "
                                "Run playbooks/repair.yml." % p)
    if max_age:
        status = maintenance.get('last_status')
        age = maintenance.get('age_seconds')
        if maintenance.get('last_success') is None:
            if status == 'failed':
                problems.append("maintenance (%s) has never succeeded here; its last run failed: %s"
                                % (maintenance.get('backend'), maintenance.get('message') or 'see its log'))
            elif allow_no_maintenance:
                notes.append("no maintenance run is recorded yet (%s); accepted because no run is required yet"
                             % maintenance.get('backend'))
            else:
                problems.append("no successful maintenance run is recorded (backend %s, source %s). A just-migrated "
                                "table has none yet: set the allow-no-maintenance variable for that case."
                                % (maintenance.get('backend'), maintenance.get('source')))
        else:
            if age is not None and age > max_age:
                problems.append("the last successful maintenance run (%s, %s) is %s old, more than %s allowed"
                                % (maintenance['last_success'], maintenance.get('backend'),
                                   human_seconds(age), human_seconds(max_age)))
            if status == 'failed':
                problems.append("the last maintenance run (%s) failed: %s"
                                % (maintenance.get('last_run'), maintenance.get('message') or 'see its log'))
    return problems, notes


def summary_lines(sets, maintenance):
    """One line per partition set and one for maintenance, for people reading the play output."""
    out = []
    for s in sets:
        line = '%s: %d partitions' % (s['parent'], s['partition_count'])
        if s['time_based']:
            line += ', %s ahead (premake %s), current %s' % (
                s['partitions_ahead'], s.get('premake'), s['current_partition'] or 'none')
        line += ', default partition %d rows' % (s['default_rows'] or 0)
        out.append(line)
    m = maintenance
    # "last run never", not "never (never)": the status is said only of a run that happened
    last_run = ('%s (%s)' % (m['last_run'], m.get('last_status'))) if m.get('last_run') else 'never'
    out.append('maintenance by %s: last success %s, last run %s%s' % (
        m.get('backend'), m.get('last_success') or 'never', last_run,
        (': %s' % m['message']) if m.get('message') and m.get('last_status') == 'failed' else ''))
    return out
