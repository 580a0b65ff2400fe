# -*- coding: utf-8 -*-
# Copyright: soar.partman contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Partition health as figures, and as metrics in the Prometheus text exposition format for
node_exporter's textfile collector.

One SQL query (SETS_SQL) computes, per partition set, the partitions ahead of now (without a gap),
the rows in the default partition (counted exactly), the number of partitions and their total size.
The same text is what role partman_health ships as a postgres_exporter query (exporter_queries()).
The last maintenance run comes from runs.py, the reader partman_info (verify.yml) uses, and the
verdict from partset.health, the one verify.yml gives.

Used by module partman_health and, without Ansible, by the health check role partman_health deploys
on the database host: this file imports only the standard library, psycopg2 and other such files of
this directory (HOST_FILES, copied to the host as they are); main() is the host's entry point."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time

from ansible_collections.soar.partman.plugins.module_utils import evidence as ev
from ansible_collections.soar.partman.plugins.module_utils import partset as ps
from ansible_collections.soar.partman.plugins.module_utils import runs
from ansible_collections.soar.partman.plugins.module_utils.names import quote_ident

try:
    import psycopg2
    import psycopg2.extras
    from psycopg2 import sql
except ImportError:  # the module reports the missing library; the host has python3-psycopg2
    psycopg2 = None
    sql = None

# The files of plugins/module_utils the host check needs (this one and what it imports, transitively).
HOST_FILES = ('health.py', 'runs.py', 'evidence.py', 'gucs.py', 'partset.py', 'catalog.py', 'ddl.py',
              'names.py', 'human.py')

PREFIX = 'soar_partman_'
STATUSES = ('succeeded', 'failed', 'running', 'never')
TIME_TYPES = ps.TIME_TYPES
DEFAULT_TEXTFILE_NAME = 'soar_partman.prom'

# Per partition set. {part_config} is the schema-qualified part_config (psycopg2.sql.Identifier in
# Python; partman.part_config in the exporter's file). Children's bounds are cast to timestamptz,
# as partset.children does, so they compare with now() in the database's own terms; the rows of the
# default partition are counted exactly through query_to_xml (a dynamic count in plain SQL, names
# quoted with format's %I). No braces and no parameters: the text is also a str.format template.
SETS_SQL = """
WITH cfg AS (
    SELECT pc.parent_table, pc.premake,
           c.oid AS parent_oid,
           format_type(a.atttypid, a.atttypmod) IN ('timestamp with time zone', 'timestamp without time zone', 'date')
               AND coalesce(pc.epoch::text, 'none') = 'none' AS time_based
    FROM {part_config} pc
    JOIN pg_namespace n ON n.nspname = split_part(pc.parent_table, '.', 1)
    JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = substr(pc.parent_table, strpos(pc.parent_table, '.') + 1)
    LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = pc.control AND NOT a.attisdropped
), kids AS (
    SELECT cfg.parent_table, cfg.time_based, k.oid, kn.nspname, k.relname,
           pg_get_expr(k.relpartbound, k.oid) AS bound, pg_total_relation_size(k.oid) AS bytes
    FROM cfg
    JOIN pg_inherits i ON i.inhparent = cfg.parent_oid
    JOIN pg_class k ON k.oid = i.inhrelid
    JOIN pg_namespace kn ON kn.oid = k.relnamespace
), spans AS (
    SELECT parent_table, b[1]::timestamptz AS lo, b[2]::timestamptz AS hi
    FROM (SELECT parent_table,
                 regexp_match(bound, 'FROM \\(''([^'']+)''\\) TO \\(''([^'']+)''\\)') AS b
          FROM kids WHERE time_based AND bound <> 'DEFAULT') r
    WHERE b IS NOT NULL
), chained AS (
    SELECT parent_table, lo, hi,
           lo IS DISTINCT FROM lag(hi) OVER (PARTITION BY parent_table ORDER BY lo) AS gap
    FROM spans
), cur AS (
    SELECT parent_table, lo AS cur_lo, hi AS cur_hi FROM spans WHERE lo <= now() AND hi > now()
), gaps AS (
    SELECT cur.parent_table, min(ch.lo) AS first_gap
    FROM cur JOIN chained ch ON ch.parent_table = cur.parent_table AND ch.gap AND ch.lo > cur.cur_lo
    GROUP BY cur.parent_table
), ahead AS (
    SELECT cur.parent_table, count(*) AS n
    FROM cur
    JOIN chained ch ON ch.parent_table = cur.parent_table
    LEFT JOIN gaps ON gaps.parent_table = cur.parent_table
    WHERE ch.lo >= cur.cur_hi AND ch.lo < coalesce(gaps.first_gap, 'infinity')
    GROUP BY cur.parent_table
), dflt AS (
    SELECT parent_table, format('%I.%I', nspname, relname) AS name,
           (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM ONLY %I.%I', nspname, relname),
                                                false, true, '')))[1]::text::bigint AS n
    FROM kids WHERE bound = 'DEFAULT'
)
SELECT current_database() AS database,
       cfg.parent_table AS parent,
       cfg.premake::bigint AS premake,
       cfg.time_based,
       CASE WHEN cfg.time_based THEN coalesce(ahead.n, 0) END::bigint AS partitions_ahead,
       (SELECT cur.cur_lo IS NOT NULL FROM cur WHERE cur.parent_table = cfg.parent_table) IS TRUE AS covers_now,
       coalesce(dflt.n, 0)::bigint AS default_rows,
       dflt.name AS default_partition,
       (SELECT count(*) FROM kids WHERE kids.parent_table = cfg.parent_table AND kids.bound <> 'DEFAULT')::bigint
           AS partitions,
       (SELECT coalesce(sum(kids.bytes), 0) FROM kids WHERE kids.parent_table = cfg.parent_table)::bigint AS size_bytes
FROM cfg
LEFT JOIN ahead ON ahead.parent_table = cfg.parent_table
LEFT JOIN dflt ON dflt.parent_table = cfg.parent_table
ORDER BY cfg.parent_table
"""

# Metric (without PREFIX), type, help. The per-set gauges are SETS_SQL's columns of the same name.
SET_METRICS = (
    ('partitions_ahead', 'gauge', 'Partitions following the one that covers now, without a gap (time-based sets).'),
    ('default_rows', 'gauge', 'Rows in the default partition (pg_partman cannot create their children while there).'),
    ('partitions', 'gauge', 'Partitions of the set, the default one not counted.'),
    ('size_bytes', 'gauge', 'Total size of the partitions, indexes and TOAST included, in bytes.'),
    ('premake', 'gauge', 'premake of the set in part_config: the partitions maintenance keeps ahead.'),
)
MAINTENANCE_METRICS = (
    ('maintenance_age_seconds', 'gauge',
     'Seconds since the last successful maintenance run (absent when none is recorded).'),
    ('maintenance_last_success_timestamp_seconds', 'gauge',
     'Unix time of the last successful maintenance run (absent when none is recorded).'),
    ('maintenance_status', 'gauge',
     'Status of the last maintenance run: 1 for the status it had (succeeded, failed, running or never).'),
)
CHECK_METRICS = (
    ('health_check_success', 'gauge', '1 when the health check could read the database, else 0.'),
    ('health_check_timestamp_seconds', 'gauge', 'Unix time the health check last ran (stale file: check not running).'),
    ('health_check_duration_seconds', 'gauge', 'How long the health check took.'),
    ('healthy', 'gauge', '1 when verify.yml would find nothing wrong, else 0 (absent when the check failed).'),
)


class HealthError(Exception):
    """The check could not run; the message names the problem and the fix."""


def sets_query(partman_schema):
    return sql.SQL(SETS_SQL).format(part_config=sql.Identifier(partman_schema, 'part_config'))


def exporter_sql(partman_schema='partman'):
    """SETS_SQL as plain text for postgres_exporter (the schema quoted as PostgreSQL quotes it)."""
    return SETS_SQL.format(part_config='%s.part_config' % quote_ident(partman_schema)).strip() + '\n'


def read_sets(db, partman_schema):
    """SETS_SQL's rows, shaped like partset.collect_set's sets for the keys partset.health reads."""
    rows = db.query(sets_query(partman_schema))
    out = []
    for r in rows:
        out.append({
            'database': r['database'],
            'parent': r['parent'],
            'premake': r['premake'],
            'time_based': bool(r['time_based']),
            'partitions_ahead': r['partitions_ahead'],
            'current_partition': 'covers now' if r['covers_now'] else None,
            'default_rows': r['default_rows'],
            'default_partition': r['default_partition'],
            'partitions': r['partitions'],
            'partition_count': r['partitions'],
            'size_bytes': r['size_bytes'],
        })
    return out


def maintenance_last_runs(db, partman_schema):
    """part_config.maintenance_last_run per set (pg_partman 5.x; none in 4.x): the bgw's evidence."""
    has = db.scalar("""
        SELECT EXISTS (SELECT 1 FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
                       JOIN pg_namespace n ON n.oid = c.relnamespace
                       WHERE n.nspname = %s AND c.relname = 'part_config'
                         AND a.attname = 'maintenance_last_run' AND NOT a.attisdropped)""", (partman_schema,))
    if not has:
        return {}
    rows = db.query(sql.SQL('SELECT parent_table, maintenance_last_run FROM {}').format(
        sql.Identifier(partman_schema, 'part_config')))
    return dict((r['parent_table'], ps.iso(r['maintenance_last_run'])) for r in rows)


def collect(db, params, run_command, connect, warn=None):
    """Figures of every partition set, the last maintenance run and the verdict of verify.yml.

    params: partman_schema, max_maintenance_age, allow_no_maintenance and runs.Runs's (backend,
    job_name, cron_log, pg_cron_database, postgresql_log, login_db)."""
    schema = params['partman_schema']
    if ps.partman_installed(db) is None:
        raise HealthError("pg_partman is not installed in database %s: apply role soar.partman.partman first"
                          % db.scalar('SELECT current_database()'))
    sets = read_sets(db, schema)
    last_runs = maintenance_last_runs(db, schema)
    for s in sets:
        s['maintenance_last_run'] = last_runs.get(s['parent'])
    server = runs.server_facts(db)
    now = db.scalar('SELECT now()')
    found = runs.Runs(db, params, run_command, connect, warn).evidence(server, sets)
    maintenance = ev.summarise(found, now)
    last_success = found.get('last_success')
    maintenance['last_success_timestamp'] = last_success.timestamp() if last_success is not None else None
    problems, notes = ps.health(sets, maintenance, params['max_maintenance_age'], params['allow_no_maintenance'])
    for s in sets:
        s.pop('current_partition')
        s.pop('partition_count')
    return {'database': server['database'], 'partition_sets': sets, 'maintenance': maintenance,
            'problems': problems, 'notes': notes, 'healthy': not problems, 'now': now.isoformat()}


# ----------------------------------------------------------------- exposition format
def escape_label(value):
    return str(value).replace('\\', '\\\\').replace('\n', '\\n').replace('"', '\\"')


def labels(pairs):
    return '{%s}' % ','.join('%s="%s"' % (k, escape_label(v)) for k, v in pairs)


def number(value):
    if isinstance(value, bool):
        return '1' if value else '0'
    if isinstance(value, float):
        return repr(value)
    return str(int(value))


def exposition(result, checked_at, duration, error=None):
    """The metrics text. result: collect()'s dict (None when the check failed: then only the check's
    own metrics, with success 0, so that a failing check is told from a stale file)."""
    series = dict((name, []) for name, kind, text in SET_METRICS + MAINTENANCE_METRICS + CHECK_METRICS)
    if result is not None:
        db = result['database']
        m = result['maintenance']
        backend = m.get('backend') or 'none'
        for s in result['partition_sets']:
            base = [('database', db), ('parent', s['parent'])]
            for name, kind, text in SET_METRICS:
                if s.get(name) is not None:
                    series[name].append((base, s[name]))
            mbase = base + [('backend', backend)]
            if m.get('age_seconds') is not None:
                series['maintenance_age_seconds'].append((mbase, m['age_seconds']))
                series['maintenance_last_success_timestamp_seconds'].append((mbase, m['last_success_timestamp']))
            for status in STATUSES:
                series['maintenance_status'].append((mbase + [('status', status)], m.get('last_status') == status))
        series['healthy'].append(([('database', db)], bool(result['healthy'])))
    series['health_check_success'].append(([], result is not None))
    series['health_check_timestamp_seconds'].append(([], float(checked_at)))
    series['health_check_duration_seconds'].append(([], round(float(duration), 3)))
    lines = []
    if error:
        lines.append('# health check failed: %s' % ' '.join(str(error).split()))
    for name, kind, text in SET_METRICS + MAINTENANCE_METRICS + CHECK_METRICS:
        if not series[name]:
            continue
        lines.append('# HELP %s%s %s' % (PREFIX, name, text))
        lines.append('# TYPE %s%s %s' % (PREFIX, name, kind))
        for pairs, value in series[name]:
            lines.append('%s%s%s %s' % (PREFIX, name, labels(pairs) if pairs else '', number(value)))
    return '\n'.join(lines) + '\n'


def write_textfile(path, text):
    """Write atomically (a temporary file in the same directory, then rename): node_exporter never
    reads half a file. Mode 0644. Returns True."""
    directory = os.path.dirname(path) or '.'
    if not os.path.isdir(directory):
        raise HealthError('the textfile directory %s does not exist: create it, or point the textfile at the '
                          "directory node_exporter's --collector.textfile.directory reads" % directory)
    fd, tmp = tempfile.mkstemp(prefix='.%s.' % os.path.basename(path), suffix='.tmp', dir=directory)
    try:
        with os.fdopen(fd, 'w') as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.rename(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return True


# ----------------------------------------------------------------- postgres_exporter
def exporter_queries(partman_schema='partman'):
    """queries.yaml for postgres_exporter (--extend.query-path): SETS_SQL, its columns as the metrics
    soar_partman_<column>, named like the textfile's."""
    out = ['# soar.partman: partition health for postgres_exporter (--extend.query-path=this file).',
           '# Generated from plugins/module_utils/health.py (SETS_SQL) for pg_partman in schema %s;' % partman_schema,
           '# the metrics are named like those of the textfile the partman_health role writes.',
           '# The age of the last maintenance run is not here: it is read from the backend (log, systemd,',
           '# pg_cron), outside the database; use the textfile for it.',
           'soar_partman:',
           '  master: true',
           '  query: |']
    out += ['    ' + line if line else '' for line in exporter_sql(partman_schema).splitlines()]
    out.append('  metrics:')
    out += ['    - database:', '        usage: "LABEL"', '        description: "Database holding the partition set"']
    out += ['    - parent:', '        usage: "LABEL"', '        description: "Parent table of the partition set"']
    for name, kind, text in SET_METRICS:
        out += ['    - %s:' % name, '        usage: "GAUGE"', '        description: %s' % json.dumps(text)]
    for name, text in (('time_based', 'Boolean column, not a metric'), ('covers_now', 'Boolean column, not a metric'),
                       ('default_partition', 'Name of the default partition')):
        out += ['    - %s:' % name, '        usage: "DISCARD"', '        description: %s' % json.dumps(text)]
    return '\n'.join(out) + '\n'


# ----------------------------------------------------------------- the host's check
class HostDb(object):
    """The two reads runs.py and partset.health need (scalar, query), on a psycopg2 connection."""

    def __init__(self, **kwargs):
        self.conn = psycopg2.connect(**kwargs)
        self.conn.autocommit = True

    def scalar(self, query, params=None):
        with self.conn.cursor() as cur:
            cur.execute(query, params)
            row = cur.fetchone()
            return row[0] if row else None

    def query(self, query, params=None):
        with self.conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute(query, params)
            return [dict(r) for r in cur.fetchall()]

    def close(self):
        self.conn.close()


def run_command(argv):
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def parse_args(argv):
    p = argparse.ArgumentParser(prog='soar-partman-health', description=(
        'Write the partition health of a database as Prometheus metrics for the textfile collector. '
        'Exit 0 healthy, 1 unhealthy, 2 the check could not run (the file says so too).'))
    p.add_argument('--textfile', required=True, help='metrics file (written atomically)')
    p.add_argument('--dbname', required=True)
    p.add_argument('--host', default='/var/run/postgresql', help='Unix socket directory or host')
    p.add_argument('--port', type=int, default=5432)
    p.add_argument('--user', default='postgres', help='database role')
    p.add_argument('--run-as', default='', help='OS user for the database part, when started as root')
    p.add_argument('--connect-timeout', type=int, default=10)
    p.add_argument('--partman-schema', default='partman')
    p.add_argument('--backend', default='auto', choices=runs.BACKENDS)
    p.add_argument('--job-name', default='soar-partman-maintenance')
    p.add_argument('--cron-log', default='/var/log/soar-partman/maintenance.log')
    p.add_argument('--pg-cron-database', default='')
    p.add_argument('--postgresql-log', default='')
    p.add_argument('--max-maintenance-age', type=int, default=93600)
    p.add_argument('--allow-no-maintenance', action='store_true')
    return p.parse_args(argv)


def check(args):
    """collect() with the host's own connection; returns (result or None, error text or None)."""
    kw = dict(host=args.host, port=args.port, user=args.user, connect_timeout=args.connect_timeout,
              application_name='soar-partman-health')
    params = {'partman_schema': args.partman_schema, 'backend': args.backend, 'job_name': args.job_name,
              'cron_log': args.cron_log, 'pg_cron_database': args.pg_cron_database,
              'postgresql_log': args.postgresql_log, 'login_db': args.dbname,
              'max_maintenance_age': args.max_maintenance_age, 'allow_no_maintenance': args.allow_no_maintenance}
    try:
        db = HostDb(dbname=args.dbname, **kw)
    except psycopg2.Error as e:
        return None, 'cannot connect to database %s as %s: %s' % (args.dbname, args.user, str(e).strip())
    try:
        return collect(db, params, run_command, lambda name: HostDb(dbname=name, **kw),
                       lambda text: sys.stderr.write('warning: %s\n' % text)), None
    except (psycopg2.Error, HealthError, ps.InfoError) as e:
        return None, str(e).strip()
    finally:
        db.close()


def check_as(user, args):
    """check() in a child process running as `user` (peer authentication, the maintenance logs),
    while this process keeps the right to write into node_exporter's directory."""
    import pwd
    entry = pwd.getpwnam(user)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop to the user, check, send the result as JSON
        os.close(read_fd)
        code = 0
        try:
            os.setgroups(os.getgrouplist(entry.pw_name, entry.pw_gid))
            os.setgid(entry.pw_gid)
            os.setuid(entry.pw_uid)
            result, error = check(args)
            payload = json.dumps({'result': result, 'error': error}, default=str)
        except Exception as e:  # anything: the parent writes it into the file
            payload = json.dumps({'result': None, 'error': 'the health check failed: %s' % e})
            code = 1
        with os.fdopen(write_fd, 'w') as f:
            f.write(payload)
        os._exit(code)
    os.close(write_fd)
    with os.fdopen(read_fd) as f:
        payload = f.read()
    os.waitpid(pid, 0)
    try:
        data = json.loads(payload)
    except ValueError:
        return None, 'the health check (as %s) ended without a result' % user
    return data['result'], data['error']


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    started = time.time()
    if args.run_as and os.geteuid() == 0:
        result, error = check_as(args.run_as, args)
    else:
        result, error = check(args)
    text = exposition(result, started, time.time() - started, error)
    write_textfile(args.textfile, text)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
    if result is None:
        sys.stdout.write('%s soar-partman-health: FAILED %s\n' % (stamp, ' '.join(str(error).split())))
        return 2
    for problem in result['problems']:
        sys.stdout.write('%s soar-partman-health: PROBLEM %s\n' % (stamp, problem))
    sys.stdout.write('%s soar-partman-health: %s database=%s sets=%d\n' % (
        stamp, 'HEALTHY' if result['healthy'] else 'UNHEALTHY', result['database'], len(result['partition_sets'])))
    return 0 if result['healthy'] else 1
