# -*- coding: utf-8 -*-
# Copyright: soar.partman contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark driver of `make bench` (bench/run.sh).

Two halves in one file:

* `run` (on the controller, venv python): for each method, asks the worker for a fresh copy of the
  template database, times the method, and finally prints the table and writes the JSON. Method (c)
  is the real module, run through `ansible` ad hoc against the bench host; its wall time is taken
  around that command.
* `worker ...` (inside the bench host, python3 + python3-psycopg2, as postgres): the SQL of the
  methods (a), (b) and (d), the fresh copies, the map queries and the checks. It prints one JSON
  document on stdout.

Methods, all starting from a byte-identical copy of the same table (CREATE DATABASE ... TEMPLATE,
file copy) after VACUUM ANALYZE and CHECKPOINT:

  d   the floor: CREATE TABLE AS SELECT * into a plain table, then the same 17 index builds
      (primary key + 16) in one session, then ANALYZE.
  a   the seed runbook: rename, create the partitioned parent with its primary key and 16
      indexes and every partition (pg_partman create_parent from the oldest day), one
      INSERT ... SELECT into the parent, ANALYZE; then the outgoing foreign keys and the trigger.
  b   pg_partman's partition_data_proc: the same parent and partitions, then
      CALL partition_data_proc(p_source_table => old, p_ignored_columns => generated columns,
      p_interval => '1 day', p_wait => 0), ANALYZE; then the foreign keys and the trigger.
  c1  the module soar.partman.partman_migrate, jobs 1 (its default); c2 the same with jobs 2.

The end state of a, b and c is the same partitioned table (the module also verifies it, which a
and b do not); d is a plain table without foreign keys, as the issue defines the floor.

Measured for each method: wall seconds; CPU seconds of the whole bench host (its cgroup: the
PostgreSQL backends and their parallel workers, the module), per step as well (for the module, per
phase, from the times of its journal lines); the load average of the machine before and after.
autovacuum is off during the methods (restored afterwards), so that its background work on the
freshly written tables does not land on whichever method happens to be running. With --repeat N
every method runs N times, each on a fresh copy, and the fastest run is reported.

The module's peak memory: the module runs under a python3 wrapper (WRAPPER) given as
ansible_python_interpreter; AnsiballZ runs the module inside that python3 process, and the wrapper
records getrusage(RUSAGE_CHILDREN).ru_maxrss once it has exited: the kernel's peak RSS of the
module process, not a sample.
"""

from __future__ import absolute_import, division, print_function

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

BENCH_DB = 'bench'
TABLE = 'fixes'
PROJECT_ROWS = 225000000
# A box over part of the synthetic data (which spans lon 5.9-14.4, lat 45.8-47.6): ~8% of it.
BOX = (7.0, 46.0, 8.5, 46.8)
WINDOWS = [('1 hour', 3600), ('1 day', 86400), ('7 days', 7 * 86400)]
MAXRSS_FILE = '/var/tmp/bench-module-maxrss'
WRAPPER = '/usr/local/bin/bench-python3'
# The module's steps, in the order it runs them (its `seconds` result has one entry each).
MODULE_STEPS = ['preflight', 'prepare', 'partitioned', 'copied', 'indexed', 'constrained', 'verified', 'done']

# Module interpreter that reports the module's peak RSS: python3 runs the AnsiballZ payload (which
# runs the module in the same process), then getrusage(RUSAGE_CHILDREN).ru_maxrss is the peak
# resident set size of that process, measured by the kernel (no sampling).
WRAPPER_SOURCE = r'''#!/usr/bin/python3
# bench/bench.py: run python3 with the given arguments, then append the peak RSS (kB) of that
# child process to %(file)s.
import os, resource, subprocess, sys, time
t0 = time.time()
rc = subprocess.call(['/usr/bin/python3'] + sys.argv[1:])
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
try:
    with open(%(file)r, 'a') as f:
        f.write('%%d %%.3f\n' %% (ru.ru_maxrss, time.time() - t0))
except OSError:
    pass
sys.exit(rc)
''' % {'file': MAXRSS_FILE}


# =============================================================================================
# worker (inside the bench host)
# =============================================================================================

def _connect(db, autocommit=True):
    import psycopg2
    conn = psycopg2.connect(dbname=db, application_name='bench')
    conn.autocommit = autocommit
    return conn


def cpu_usec():
    """CPU time used so far by this host's processes (its cgroup: the bench host), microseconds."""
    try:
        with open('/proc/self/cgroup') as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        _hid, ctrl, path = line.split(':', 2)
        if ctrl == '':
            try:
                with open('/sys/fs/cgroup%s/cpu.stat' % path) as f:
                    for stat in f:
                        if stat.startswith('usage_usec'):
                            return int(stat.split()[1])
            except OSError:
                pass
        if 'cpuacct' in ctrl.split(','):
            for base in ('/sys/fs/cgroup/cpuacct', '/sys/fs/cgroup/cpu,cpuacct'):
                try:
                    with open('%s%s/cpuacct.usage' % (base, path)) as f:
                        return int(f.read().strip()) // 1000
                except (OSError, ValueError):
                    pass
    return None


class Timer(object):
    """Named steps of one method: wall seconds, and CPU seconds of the whole bench host."""

    def __init__(self):
        self.steps = []
        self.cpu = []
        self.t0 = time.time()

    def step(self, name, fn, *args):
        t = time.time()
        c = cpu_usec()
        out = fn(*args)
        c1 = cpu_usec()
        self.steps.append((name, round(time.time() - t, 3)))
        self.cpu.append((name, round((c1 - c) / 1e6, 2) if c is not None and c1 is not None else None))
        return out

    def result(self):
        return {'steps': self.steps, 'step_cpu_seconds': self.cpu, 'seconds': round(time.time() - self.t0, 3)}


def _ex(conn, query, params=None):
    with conn.cursor() as cur:
        cur.execute(query, params)
        if cur.description is not None:
            return cur.fetchall()
        return None


def _one(conn, query, params=None):
    rows = _ex(conn, query, params)
    return rows[0][0] if rows else None


def w_info(args):
    conn = _connect(args.db)
    out = {}
    out['postgresql'] = _one(conn, 'SHOW server_version')
    out['server_version_num'] = int(_one(conn, 'SHOW server_version_num'))
    out['postgis'] = _one(conn, 'SELECT postgis_lib_version()')
    out['partman'] = _one(conn, "SELECT extversion FROM pg_extension WHERE extname = 'pg_partman'")
    out['settings'] = dict(_ex(conn, """
        SELECT name, current_setting(name) FROM pg_settings WHERE name IN (
          'shared_buffers', 'maintenance_work_mem', 'work_mem', 'max_wal_size', 'checkpoint_timeout',
          'max_parallel_maintenance_workers', 'max_parallel_workers_per_gather', 'synchronous_commit',
          'wal_level', 'default_statistics_target', 'effective_cache_size', 'jit', 'TimeZone')"""))
    cpu = {}
    with open('/proc/cpuinfo') as f:
        for line in f:
            if ':' in line:
                k, v = [x.strip() for x in line.split(':', 1)]
                if k in ('model name', 'cpu MHz', 'cache size', 'vendor_id', 'cpu family', 'model') and k not in cpu:
                    cpu[k] = v
    out['cpu'] = cpu
    out['cpus'] = os.cpu_count()
    with open('/proc/meminfo') as f:
        out['mem_kib'] = int(f.readline().split()[1])
    with open('/etc/debian_version') as f:
        out['debian'] = f.read().strip()
    conn.close()
    return out


def w_template(args):
    """Make sure the template is vacuumed and analyzed; describe it."""
    conn = _connect(args.db)
    _ex(conn, 'VACUUM (ANALYZE) public.fixes')
    _ex(conn, 'VACUUM (ANALYZE) public.aprs_messages')
    row = _ex(conn, """
        SELECT count(*), min(received_at)::text, max(received_at)::text,
               count(DISTINCT date_trunc('day', received_at)),
               pg_relation_size('public.fixes'), pg_indexes_size('public.fixes'),
               pg_total_relation_size('public.fixes')
        FROM public.fixes""")[0]
    nidx = _one(conn, "SELECT count(*) FROM pg_index WHERE indrelid = 'public.fixes'::regclass")
    conn.close()
    return {'rows': row[0], 'min_received_at': row[1], 'max_received_at': row[2], 'days_with_data': row[3],
            'heap_bytes': row[4], 'index_bytes': row[5], 'total_bytes': row[6], 'indexes': nidx}


def w_fresh(args):
    """A fresh copy of the template database, vacuumed, analyzed and checkpointed."""
    t0 = time.time()
    conn = _connect('postgres')
    ver = int(_one(conn, 'SHOW server_version_num'))
    _ex(conn, 'DROP DATABASE IF EXISTS %s%s' % (BENCH_DB, ' WITH (FORCE)' if ver >= 130000 else ''))
    owner = _one(conn, 'SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s', (args.template,))
    _ex(conn, 'CREATE DATABASE %s TEMPLATE "%s" OWNER "%s"%s' % (
        BENCH_DB, args.template, owner, ' STRATEGY FILE_COPY' if ver >= 150000 else ''))
    conn.close()
    conn = _connect(BENCH_DB)
    _ex(conn, 'VACUUM (ANALYZE) public.fixes')
    _ex(conn, 'CHECKPOINT')
    conn.close()
    return {'seconds': round(time.time() - t0, 3)}


def _columns(conn, table='public.fixes'):
    """(all columns, non-generated columns) in attnum order."""
    rows = _ex(conn, """
        SELECT attname, attgenerated <> '' FROM pg_attribute
        WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum""", (table,))
    return [r[0] for r in rows], [r[0] for r in rows if not r[1]]


def _qi(name):
    return '"%s"' % name.replace('"', '""')


def _definitions(conn):
    """What the methods re-create, read from the catalog of the table as loaded."""
    d = {}
    d['indexes'] = _ex(conn, """
        SELECT i.relname, pg_get_indexdef(i.oid), x.indisprimary
        FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
        WHERE x.indrelid = 'public.fixes'::regclass ORDER BY i.relname""")
    d['fks'] = _ex(conn, """
        SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
        WHERE conrelid = 'public.fixes'::regclass AND contype = 'f' ORDER BY conname""")
    d['inbound'] = _ex(conn, """
        SELECT conrelid::regclass::text, conname FROM pg_constraint
        WHERE confrelid = 'public.fixes'::regclass AND contype = 'f'""")
    d['triggers'] = _ex(conn, """
        SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger
        WHERE tgrelid = 'public.fixes'::regclass AND NOT tgisinternal""")
    d['owner'] = _one(conn, "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = 'public.fixes'::regclass")
    d['grants'] = _ex(conn, """
        SELECT pg_get_userbyid(a.grantee), a.privilege_type FROM pg_class c, aclexplode(c.relacl) a
        WHERE c.oid = 'public.fixes'::regclass AND a.grantee <> c.relowner AND a.grantee <> 0""")
    d['all_cols'], d['cols'] = _columns(conn)
    d['generated'] = [c for c in d['all_cols'] if c not in d['cols']]
    return d


def _partman_major(conn):
    v = _one(conn, "SELECT extversion FROM pg_extension WHERE extname = 'pg_partman'")
    return int(v.split('.')[0])


def _runbook_prepare(conn, d):
    """Rename, partitioned parent with primary key and 16 indexes, every partition: one transaction."""
    conn.autocommit = False
    for tbl, con in d['inbound']:
        _ex(conn, 'ALTER TABLE %s DROP CONSTRAINT %s' % (tbl, _qi(con)))
    _ex(conn, 'ALTER TABLE public.fixes RENAME TO fixes_old')
    for name, _def, _pk in d['indexes']:
        _ex(conn, 'ALTER INDEX public.%s RENAME TO %s' % (_qi(name), _qi(name + '_old')))
    _ex(conn, 'CREATE TABLE public.fixes (LIKE public.fixes_old INCLUDING DEFAULTS INCLUDING CONSTRAINTS '
              'INCLUDING GENERATED INCLUDING COMMENTS INCLUDING STORAGE INCLUDING STATISTICS) '
              'PARTITION BY RANGE (received_at)')
    _ex(conn, 'ALTER TABLE public.fixes OWNER TO %s' % _qi(d['owner']))
    for who, priv in d['grants']:
        _ex(conn, 'GRANT %s ON public.fixes TO %s' % (priv, _qi(who)))
    for name, idef, pk in d['indexes']:
        if pk:
            _ex(conn, 'ALTER TABLE public.fixes ADD CONSTRAINT %s PRIMARY KEY (id, received_at)' % _qi(name))
        else:
            _ex(conn, idef)
    start = _one(conn, "SELECT date_trunc('day', min(received_at))::text FROM public.fixes_old")
    if _partman_major(conn) >= 5:
        _ex(conn, "SELECT partman.create_parent(p_parent_table => 'public.fixes', p_control => 'received_at', "
                  "p_interval => '1 day', p_type => 'range', p_premake => 3, p_start_partition => %s)", (start,))
    else:
        _ex(conn, "SELECT partman.create_parent(p_parent_table => 'public.fixes', p_control => 'received_at', "
                  "p_type => 'native', p_interval => 'daily', p_premake => 3, p_start_partition => %s)", (start,))
    conn.commit()
    conn.autocommit = True


def _fks_and_triggers(conn, d):
    for name, fdef in d['fks']:
        _ex(conn, 'ALTER TABLE public.fixes ADD CONSTRAINT %s %s' % (_qi(name), fdef))
    for _name, tdef in d['triggers']:
        _ex(conn, tdef)


def w_method(args):
    conn = _connect(BENCH_DB)
    d = _definitions(conn)
    t = Timer()
    m = args.method
    cols = ', '.join(_qi(c) for c in d['cols'])
    if m == 'd':
        t.step('create table as', _ex, conn, 'CREATE TABLE public.fixes_floor AS SELECT * FROM public.fixes')

        def indexes():
            for name, idef, pk in d['indexes']:
                if pk:
                    _ex(conn, 'ALTER TABLE public.fixes_floor ADD CONSTRAINT fixes_floor_pkey PRIMARY KEY (id)')
                else:
                    _ex(conn, idef.replace(' ON public.fixes ', ' ON public.fixes_floor ', 1)
                        .replace('INDEX %s ' % name, 'INDEX %s ' % _qi(name + '_floor'), 1))
        t.step('17 index builds', indexes)
        t.step('analyze', _ex, conn, 'ANALYZE public.fixes_floor')
    elif m in ('a', 'b'):
        t.step('rename, parent, indexes, partitions', _runbook_prepare, conn, d)
        if m == 'a':
            t.step('insert into parent', _ex, conn,
                   'INSERT INTO public.fixes (%s) SELECT %s FROM public.fixes_old' % (cols, cols))
        else:
            t.step('partition_data_proc', _ex, conn,
                   "CALL partman.partition_data_proc(p_parent_table => 'public.fixes', p_interval => '1 day', "
                   "p_wait => 0, p_source_table => 'public.fixes_old', p_ignored_columns => %s::text[])",
                   (d['generated'],))
        t.step('analyze', _ex, conn, 'ANALYZE public.fixes')
        t.step('foreign keys, trigger', _fks_and_triggers, conn, d)
    else:
        raise SystemExit('unknown method %s' % m)
    res = t.result()
    conn.close()
    return res


def w_autovacuum(args):
    """autovacuum off (or back to its configured value) for the timed part; see README."""
    conn = _connect('postgres')
    if args.value == 'off':
        _ex(conn, 'ALTER SYSTEM SET autovacuum = off')
    else:
        _ex(conn, 'ALTER SYSTEM RESET autovacuum')
    _ex(conn, 'SELECT pg_reload_conf()')
    time.sleep(0.5)
    val = _one(conn, 'SHOW autovacuum')
    conn.close()
    return {'autovacuum': val}


def w_check(args):
    """The end state of a method: what fixes is, how many rows, partitions and indexes it has."""
    conn = _connect(BENCH_DB)
    table = 'public.fixes_floor' if args.method == 'd' else 'public.fixes'
    out = {}
    out['relkind'] = _one(conn, 'SELECT relkind FROM pg_class WHERE oid = %s::regclass', (table,))
    out['rows'] = _one(conn, 'SELECT count(*) FROM %s' % table)
    out['partitions'] = _one(conn, 'SELECT count(*) FROM pg_inherits WHERE inhparent = %s::regclass', (table,))
    out['indexes'] = _one(conn, 'SELECT count(*) FROM pg_index WHERE indrelid = %s::regclass', (table,))
    out['fks'] = _one(conn, "SELECT count(*) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'f'",
                      (table,))
    out['triggers'] = _one(conn, 'SELECT count(*) FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal',
                           (table,))
    out['analyzed_partitions'] = _one(conn, """
        SELECT count(*) FROM pg_inherits i JOIN pg_stat_user_tables s ON s.relid = i.inhrelid
        WHERE i.inhparent = %s::regclass AND s.last_analyze IS NOT NULL""", (table,))
    out['total_bytes'] = _one(conn, """
        SELECT coalesce(sum(pg_total_relation_size(i.inhrelid)), 0) + pg_total_relation_size(%s::regclass)
        FROM pg_inherits i WHERE i.inhparent = %s::regclass""", (table, table))
    conn.close()
    return out


QUERY = """SELECT count(DISTINCT device_id) FROM public.fixes
WHERE location_geom && ST_MakeEnvelope(%s, %s, %s, %s, 4326) AND received_at >= {since}"""
# the time as a constant (what a client binding a computed time sends): pruned when planning;
# as an expression like now() - interval '1 hour' (stable, not immutable): pruned when executing
SINCE_FORMS = [('constant', '%s::timestamptz'), ('expression', "%s::timestamptz - %s::interval")]


def w_queries(args):
    """The map query (devices seen inside a box since a time) for each window and each form of the
    time: median of runs, warm cache; client wall time, and planning / execution time from EXPLAIN
    ANALYZE (TIMING OFF) runs."""
    conn = _connect(BENCH_DB)
    _ex(conn, 'CHECKPOINT')  # as before the first measurement: no write-back of the migration under way
    out = []
    for form, since_sql in SINCE_FORMS:
        for label, secs in WINDOWS:
            since = _one(conn, "SELECT (%s::timestamptz - make_interval(secs => %s))::text", (args.end, secs))
            q = QUERY.format(since=since_sql)
            params = BOX + ((since,) if form == 'constant' else (args.end, label))
            plan = '\n'.join(r[0] for r in _ex(conn, 'EXPLAIN (COSTS OFF) ' + q, params))
            for _i in range(3):  # warm up: cache, hint bits
                _ex(conn, q, params)
            times, planning, execution = [], [], []
            result = None
            for _i in range(args.runs):
                t = time.perf_counter()
                result = _one(conn, q, params)
                times.append((time.perf_counter() - t) * 1000.0)
                j = _one(conn, 'EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) ' + q, params)
                j = j[0] if isinstance(j, list) else json.loads(j)[0]
                planning.append(j.get('Planning Time'))
                execution.append(j.get('Execution Time'))
            out.append({'form': form, 'window': label, 'since': since, 'devices': result,
                        'ms_median': round(statistics.median(times), 3),
                        'planning_ms_median': round(statistics.median(planning), 3),
                        'execution_ms_median': round(statistics.median(execution), 3),
                        'ms_all': [round(x, 2) for x in times], 'plan': plan})
    conn.close()
    return {'queries': out}


PREPARED_DB = 'bench_prepared'


def _pg_version(conn):
    return int(_one(conn, 'SHOW server_version_num'))


def w_clone(args):
    """A byte copy of the bench database as it is (no session may be connected to it): the state
    of an online migration after phase prepare, so that both cut-overs start from the same one."""
    t0 = time.time()
    conn = _connect('postgres')
    ver = _pg_version(conn)
    _ex(conn, 'DROP DATABASE IF EXISTS %s%s' % (PREPARED_DB, ' WITH (FORCE)' if ver >= 130000 else ''))
    owner = _one(conn, 'SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s', (BENCH_DB,))
    _ex(conn, 'CREATE DATABASE %s TEMPLATE %s OWNER "%s"%s' % (
        PREPARED_DB, BENCH_DB, owner, ' STRATEGY FILE_COPY' if ver >= 150000 else ''))
    conn.close()
    return {'seconds': round(time.time() - t0, 3)}


def w_restore(args):
    """The bench database replaced by the copy w_clone made (the copy is renamed: it is used once)."""
    t0 = time.time()
    conn = _connect('postgres')
    ver = _pg_version(conn)
    _ex(conn, 'DROP DATABASE IF EXISTS %s%s' % (BENCH_DB, ' WITH (FORCE)' if ver >= 130000 else ''))
    _ex(conn, 'ALTER DATABASE %s RENAME TO %s' % (PREPARED_DB, BENCH_DB))
    conn.close()
    return {'seconds': round(time.time() - t0, 3)}


def w_dropcopy(args):
    conn = _connect('postgres')
    ver = _pg_version(conn)
    _ex(conn, 'DROP DATABASE IF EXISTS %s%s' % (PREPARED_DB, ' WITH (FORCE)' if ver >= 130000 else ''))
    conn.close()
    return {}


def w_analyze(args):
    """ANALYZE of the migrated (partitioned) table on its own, timed: the fixed cost per partition
    that the module's runs hide beside the index builds (jobs > 1)."""
    conn = _connect(BENCH_DB)
    table = 'public.fixes_floor' if args.method == 'd' else 'public.fixes'
    _ex(conn, 'CHECKPOINT')
    t = time.time()
    c = cpu_usec()
    _ex(conn, 'ANALYZE %s' % table)
    c1 = cpu_usec()
    wall = time.time() - t
    parts = _one(conn, 'SELECT count(*) FROM pg_inherits WHERE inhparent = %s::regclass', (table,))
    conn.close()
    return {'table': table, 'seconds': round(wall, 3), 'partitions': parts,
            'cpu_seconds': round((c1 - c) / 1e6, 2) if c is not None and c1 is not None else None}


ONLINE_SCHEMA = 'partman_migrate_online'


def w_sizes(args):
    """Disk of an online migration after prepare: the table in use, the partitioned table built
    beside it (all its partitions), the change log; changes pending."""
    conn = _connect(BENCH_DB)
    out = {'table_bytes': _one(conn, "SELECT pg_total_relation_size('public.fixes')")}
    out['built_bytes'] = _one(conn, """
        SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'r' AND (n.nspname = %s AND c.relname NOT LIKE '%%changes%%'
              OR c.oid IN (SELECT relid FROM pg_partition_tree(to_regclass(%s)) WHERE isleaf))""",
                              (ONLINE_SCHEMA, ONLINE_SCHEMA + '.fixes'))
    log = _one(conn, "SELECT to_regclass(%s)", (ONLINE_SCHEMA + '.fixes_changes',))
    out['change_log_bytes'] = _one(conn, 'SELECT pg_total_relation_size(%s::regclass)', (log,)) if log else None
    out['change_log_rows'] = _one(conn, 'SELECT count(*) FROM %s' % log) if log else None
    out['pending_changes'] = _one(conn, 'SELECT count(*) FROM %s WHERE applied_round IS NULL' % log) if log else None
    conn.close()
    return out


def w_oprate(args):
    """The writer's committed operations per second between two unix times (its log, soar_writer_log):
    the rate it actually reached (it does not catch up after a stall)."""
    conn = _connect(BENCH_DB)
    row = _ex(conn, """
        SELECT count(*) FILTER (WHERE op = 'I'), count(*) FILTER (WHERE op = 'U'), count(*) FILTER (WHERE op = 'D')
        FROM soar_writer_log WHERE logged_at >= to_timestamp(%s) AND logged_at < to_timestamp(%s)""",
              (args.since, args.until))[0]
    conn.close()
    secs = max(args.until - args.since, 1e-9)
    return {'inserts_per_second': round(row[0] / secs, 1), 'updates_per_second': round(row[1] / secs, 1),
            'deletes_per_second': round(row[2] / secs, 1)}


def worker(argv):
    p = argparse.ArgumentParser(prog='bench.py worker')
    p.add_argument('action', choices=['info', 'template', 'fresh', 'method', 'check', 'queries', 'autovacuum',
                                      'clone', 'restore', 'dropcopy', 'analyze', 'sizes', 'oprate'])
    p.add_argument('--since', type=float)
    p.add_argument('--until', type=float)
    p.add_argument('--value')
    p.add_argument('--db', default=BENCH_DB)
    p.add_argument('--template')
    p.add_argument('--method')
    p.add_argument('--end')
    p.add_argument('--runs', type=int, default=7)
    args = p.parse_args(argv)
    fn = globals()['w_' + args.action]
    print(json.dumps(fn(args), default=str))


# =============================================================================================
# controller
# =============================================================================================

def sh(cmd, input_text=None, check=True):
    r = subprocess.run(cmd, input=input_text, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, check=False)
    if check and r.returncode != 0:
        sys.stderr.write(r.stdout[-4000:] + r.stderr[-4000:])
        raise SystemExit('command failed (%d): %s' % (r.returncode, ' '.join(cmd)[:300]))
    return r


def call_worker(container, *args):
    r = sh(['docker', 'exec', '-u', 'postgres', '-w', '/tmp', container, 'python3', '/usr/local/lib/bench.py',
            'worker'] + list(args))
    return json.loads(r.stdout.strip().splitlines()[-1])


def loadavg():
    with open('/proc/loadavg') as f:
        return float(f.read().split()[0])


_CPU_FILES = {}


def cgroup_cpu_usec(container):
    """CPU time used so far by the bench host's processes (its cgroup), microseconds. The file is
    found once per container: the sampler reads it every 0.25 s without starting any process."""
    if container not in _CPU_FILES:
        cid = sh(['docker', 'inspect', '-f', '{{.Id}}', container]).stdout.strip()
        _CPU_FILES[container] = None
        for path, kind in (('/sys/fs/cgroup/system.slice/docker-%s.scope/cpu.stat' % cid, 'v2'),
                           ('/sys/fs/cgroup/docker/%s/cpu.stat' % cid, 'v2'),
                           ('/sys/fs/cgroup/cpuacct/docker/%s/cpuacct.usage' % cid, 'v1'),
                           ('/sys/fs/cgroup/cpu,cpuacct/docker/%s/cpuacct.usage' % cid, 'v1')):
            if os.path.exists(path):
                _CPU_FILES[container] = (path, kind)
                break
    found = _CPU_FILES[container]
    if found is None:
        return None
    path, kind = found
    try:
        with open(path) as f:
            if kind == 'v1':
                return int(f.read().strip()) // 1000
            for line in f:
                if line.startswith('usage_usec'):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def install_wrapper(container):
    sh(['docker', 'exec', '-i', container, 'sh', '-c', 'cat > %s && chmod 755 %s' % (WRAPPER, WRAPPER)],
       input_text=WRAPPER_SOURCE)


def journal_lines(container, since_epoch):
    """The module's log lines (module.log goes to the host journal) since a time: [(epoch, text)]."""
    r = sh(['docker', 'exec', container, 'journalctl', '-q', '-o', 'short-unix', '--no-pager',
            '--since', '@%d' % int(since_epoch)], check=False)
    out = []
    for line in r.stdout.splitlines():
        if 'partman_migrate public.fixes: ' not in line:
            continue
        try:
            t = float(line.split(' ', 1)[0])
        except ValueError:
            continue
        out.append((t, line.split('partman_migrate public.fixes: ', 1)[1]))
    return out


class CpuSampler(object):
    """Samples the bench host's CPU counter (cgroup) every `every` seconds in a thread, so that the
    CPU time of each step of the module can be read from the step boundaries in its log."""

    def __init__(self, container, every=0.25):
        import threading
        self.container = container
        self.every = every
        self.samples = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop)
        self.path = None

    def loop(self):
        while not self.stop.is_set():
            v = cgroup_cpu_usec(self.container)
            if v is not None:
                self.samples.append((time.time(), v))
            self.stop.wait(self.every)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()

    def at(self, t):
        """CPU seconds used up to time t (linear between samples)."""
        s = self.samples
        if not s:
            return None
        if t <= s[0][0]:
            return s[0][1] / 1e6
        for (t0, v0), (t1, v1) in zip(s, s[1:]):
            if t0 <= t <= t1:
                return (v0 + (v1 - v0) * (t - t0) / max(t1 - t0, 1e-9)) / 1e6
        return s[-1][1] / 1e6


def module_phases(log, t_start, t_end, sampler):
    """Wall and CPU seconds of the module's phases, from the times of its log lines."""
    marks = [('start (ansible, connect, preflight, prepare)', t_start)]
    indexed = False
    for t, msg in log:
        if msg.startswith('prepared:'):
            marks.append(('partitions', t))
        elif msg == 'step partitioned done':
            marks.append(('copy', t))
        elif msg == 'step copied done':
            marks.append(('indexes', t))
        elif msg == 'step indexed done':
            indexed = True
            marks.append(('foreign keys, triggers', t))
        elif msg.startswith('ANALYZE in ') and not indexed:
            # ANALYZE ran beside the index builds (jobs > 1)
            marks = [(n + ' + analyze' if n == 'indexes' else n, mt) for n, mt in marks]
        elif msg.startswith('ANALYZE in '):
            try:
                secs = float(msg.split(' in ', 1)[1].rstrip('s'))
            except ValueError:
                continue
            marks.append(('analyze', t - secs))
            marks.append(('(end of analyze)', t))
        elif msg == 'step constrained done':
            marks.append(('verify, configure, result', t))
    marks.append(('end', t_end))
    phases = []
    for (name, t0), (_n, t1) in zip(marks, marks[1:]):
        if name.startswith('(end of'):
            name = 'state update'
        c0, c1 = sampler.at(t0), sampler.at(t1)
        phases.append((name, round(t1 - t0, 2), round(c1 - c0, 2) if c0 is not None and c1 is not None else None))
    merged = []
    for name, w, c in phases:
        if merged and merged[-1][0].split(' (')[0] == name.split(' (')[0]:
            pw, pc = merged[-1][1], merged[-1][2]
            merged[-1] = (merged[-1][0].split(' (')[0], round(pw + w, 2),
                          round(pc + c, 2) if pc is not None and c is not None else None)
        else:
            merged.append((name, w, c))
    return merged


def ansible_module(container, params):
    """partman_migrate run through `ansible` ad hoc against the bench host (as postgres, under the
    peak-RSS wrapper). Returns (result, start, end, CPU sampler); exits when the module failed."""
    sh(['docker', 'exec', container, 'rm', '-f', MAXRSS_FILE])
    env = dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS='1', ANSIBLE_STDOUT_CALLBACK='ansible.builtin.json')
    cmd = ['ansible', 'all', '-i', container + ',', '-c', 'community.docker.docker', '-b', '--become-user', 'postgres',
           '-e', 'ansible_python_interpreter=' + WRAPPER, '-m', 'soar.partman.partman_migrate',
           '-a', json.dumps(params)]
    with CpuSampler(container) as sampler:
        t0 = time.time()
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, env=env,
                           check=False)
        t1 = time.time()
    try:
        doc = json.loads(r.stdout)
        res = doc['plays'][0]['tasks'][0]['hosts'][container]
    except (ValueError, KeyError, IndexError):
        sys.stderr.write(r.stdout[-4000:] + r.stderr[-4000:])
        raise SystemExit('the module run gave no result')
    if r.returncode != 0 or res.get('failed'):
        sys.stderr.write(json.dumps(res, indent=1)[-6000:] + '\n')
        raise SystemExit('the module failed')
    return res, t0, t1, sampler


MODULE_PARAMS = {'login_db': BENCH_DB, 'table': 'public.fixes', 'control': 'received_at', 'interval': '1 day',
                 'inbound_fks': 'drop', 'verify': 'count'}
# what the role passes in online mode besides jobs (roles/migration/defaults/main.yml)
ONLINE_ROLE_DEFAULTS = {'copy_pause_ratio': 1.0}


def online_params(args):
    """The online runs' parameters besides jobs: the role's defaults, then --online-params."""
    return dict(ONLINE_ROLE_DEFAULTS, **json.loads(args.online_params or '{}'))


def run_module(container, jobs):
    res, t0, t1, sampler = ansible_module(container, dict(MODULE_PARAMS, jobs=jobs))
    wall = t1 - t0
    rss = sh(['docker', 'exec', container, 'cat', MAXRSS_FILE], check=False).stdout.split()
    lines = [x for x in journal_lines(container, t0 - 1) if t0 - 0.5 <= x[0] <= t1 + 0.5]
    phases = module_phases(lines, t0, t1, sampler)
    return {'seconds': round(wall, 3), 'module_seconds': res.get('seconds'), 'phases': phases,
            'peak_rss_kib': int(rss[0]) if rss else None, 'interpreter_seconds': float(rss[1]) if rss else None,
            'partitions': len(res.get('partitions') or []), 'warnings': res.get('warnings'),
            'pk_changed': res.get('pk_changed'), 'log': lines,
            'steps': sorted((res.get('seconds') or {}).items(),
                            key=lambda kv: MODULE_STEPS.index(kv[0]) if kv[0] in MODULE_STEPS else 99)}


def analyze_seconds(log):
    for _t, line in log:
        if line.startswith('ANALYZE in '):
            try:
                return float(line.rsplit(' in ', 1)[1].rstrip('s'))
            except ValueError:
                pass
    return None


LABELS = {
    'd': '(d) floor: CTAS + 17 index builds + ANALYZE',
    'a': '(a) seed runbook: parent with indexes, one INSERT',
    'b': '(b) pg_partman partition_data_proc',
    'c1': '(c) partman_migrate, jobs 1',
    'c2': '(c) partman_migrate, jobs 2',
}


def controller(argv):
    p = argparse.ArgumentParser(prog='bench.py run')
    p.add_argument('--container', required=True)
    p.add_argument('--suite', required=True)
    p.add_argument('--rows', type=int, required=True)
    p.add_argument('--days', type=int, required=True)
    p.add_argument('--template-db', required=True)
    p.add_argument('--methods', default='d a b c1 c2')
    p.add_argument('--query-runs', type=int, default=7)
    p.add_argument('--autovacuum', choices=['on', 'off'], default='off')
    p.add_argument('--repeat', type=int, default=1)
    p.add_argument('--output', required=True)
    p.add_argument('--started', type=float, default=time.time())
    p.add_argument('--window-sizes', default='', help='rows of the tables of the online windows ("" = none)')
    p.add_argument('--window-offline', default='d c2', help='offline methods run at a window size other than --rows')
    p.add_argument('--online-jobs', type=int, default=1)
    p.add_argument('--online-params', default='', help="more of partman_migrate's parameters for the online runs (JSON)")
    p.add_argument('--cutover-lock-timeout', type=float, default=2.0)
    p.add_argument('--latency-seconds', type=float, default=120.0)
    p.add_argument('--window-gap', type=float, default=2.0)
    p.add_argument('--analyze-alone', type=int, default=1)
    p.add_argument('--plot', default='')
    args = p.parse_args(argv)
    c = args.container
    methods = args.methods.split()
    out = {'suite': args.suite, 'rows_requested': args.rows, 'days': args.days, 'repeat': args.repeat,
           'started': time.strftime('%Y-%m-%dT%H:%M:%S%z')}
    out['host'] = call_worker(c, 'info', '--db', args.template_db)
    print('== %s: PostgreSQL %s, PostGIS %s, pg_partman %s; %d CPU (%s), %.1f GiB' % (
        args.suite, out['host']['postgresql'], out['host']['postgis'], out['host']['partman'], out['host']['cpus'],
        out['host']['cpu'].get('model name'), out['host']['mem_kib'] / 1048576.0))
    tpl = call_worker(c, 'template', '--db', args.template_db)
    out['table'] = tpl
    print('   fixes: %d rows over %d days, heap %.0f MiB, %d indexes %.0f MiB' % (
        tpl['rows'], tpl['days_with_data'], tpl['heap_bytes'] / 1048576.0, tpl['indexes'], tpl['index_bytes'] / 1048576.0))
    out['methods'] = {}
    out['autovacuum_during_methods'] = args.autovacuum
    if args.autovacuum == 'off':
        call_worker(c, 'autovacuum', '--value', 'off')
    try:
        run_methods(c, args, methods, tpl, out)
        if args.window_sizes.strip():
            run_windows(c, args, tpl, out)
    finally:
        if args.window_sizes.strip():
            writer(c, 'stop')
        if args.autovacuum == 'off':
            call_worker(c, 'autovacuum', '--value', 'reset')
    summarize(out, tpl['rows'])
    summarize_windows(out)
    out['load_average_end'] = loadavg()
    if args.plot and out.get('windows'):
        print('plot: %s' % os.path.relpath(window_plot(out, args.plot, os.path.dirname(args.output))))
    out['make_bench_seconds_so_far'] = round(time.time() - args.started)
    with open(args.output, 'w') as f:
        json.dump(out, f, indent=1, default=str)
    print('results written to %s' % os.path.relpath(args.output))
    memory_comparison(os.path.dirname(args.output), args.suite)


def run_once(c, args, m, tpl, out, first, template_db=None, queries=True):
    """One run of method m on a fresh copy of the template; the map queries around the first c1."""
    rows = tpl['rows']
    fresh = call_worker(c, 'fresh', '--template', template_db or args.template_db)
    entry = {'label': LABELS[m], 'load_before': loadavg(), 'fresh_copy_seconds': fresh['seconds']}
    if m == 'c1' and first and queries:
        out['queries_before'] = call_worker(c, 'queries', '--end', tpl['max_received_at'],
                                            '--runs', str(args.query_runs))['queries']
    cpu0 = cgroup_cpu_usec(c)
    if m in ('c1', 'c2'):
        entry.update(run_module(c, 1 if m == 'c1' else 2))
        a = analyze_seconds(entry['log'])
        if a is not None:
            entry['analyze_seconds'] = a
    else:
        entry.update(call_worker(c, 'method', '--method', m))
    cpu1 = cgroup_cpu_usec(c)
    entry['load_after'] = loadavg()
    if cpu0 is not None and cpu1 is not None:
        entry['bench_host_cpu_seconds'] = round((cpu1 - cpu0) / 1e6, 1)
    entry['check'] = call_worker(c, 'check', '--method', m)
    if entry['check']['rows'] != rows:
        raise SystemExit('%s ended with %s rows instead of %d' % (m, entry['check']['rows'], rows))
    if m == 'c2' and first and args.analyze_alone:
        # ANALYZE of the finished partitioned table once more, alone: its cost, which jobs 2 hides
        # beside the index builds
        entry['analyze_alone'] = call_worker(c, 'analyze', '--method', m)
    if m == 'c1' and first and queries:
        out['queries_after'] = call_worker(c, 'queries', '--end', tpl['max_received_at'],
                                           '--runs', str(args.query_runs))['queries']
    return entry


def run_methods(c, args, methods, tpl, out, template_db=None, into=None, queries=True):
    into = out['methods'] if into is None else into
    for m in methods:
        runs = []
        for i in range(max(1, args.repeat)):
            runs.append(run_once(c, args, m, tpl, out, i == 0, template_db, queries))
        entry = min(runs, key=lambda e: e['seconds'])
        entry['runs_seconds'] = [e['seconds'] for e in runs]
        entry['runs_cpu_seconds'] = [e.get('bench_host_cpu_seconds') for e in runs]
        into[m] = entry
        print('== %s%s' % (LABELS[m], ('   (best of %d runs: %s s)' % (
            len(runs), ', '.join('%.1f' % x for x in entry['runs_seconds']))) if len(runs) > 1 else ''))
        if entry.get('phases'):
            steps = [(n, w) for n, w, _c in entry['phases']]
            cpu = dict((n, c) for n, _w, c in entry['phases'])
        else:
            steps = entry['steps']
            cpu = dict(entry.get('step_cpu_seconds') or [])
        for name, s in steps:
            print('   %-44s %8.1f s%s' % (name, s, ('   (CPU %.1f s)' % cpu[name]) if cpu.get(name) is not None else ''))
        print('   %-44s %8.1f s   (CPU %s s; load average %.1f -> %.1f)' % (
            'total (wall)', entry['seconds'], entry.get('bench_host_cpu_seconds'), entry['load_before'],
            entry['load_after']))
        if entry.get('analyze_alone'):
            print('   %-44s %8.1f s   (CPU %s s; %d partitions)' % (
                'ANALYZE of the result again, alone', entry['analyze_alone']['seconds'],
                entry['analyze_alone'].get('cpu_seconds'), entry['analyze_alone']['partitions']))


def summarize(out, rows):
    ms = out['methods']
    floor = ms.get('d', {}).get('seconds')
    print()
    print('%-50s %8s %9s %8s %8s %12s' % ('method, %d rows' % rows, 'wall s', 'rows/s', 'x floor', 'CPU s',
                                          '225M rows h'))
    for m, e in ms.items():
        rate = rows / e['seconds'] if e['seconds'] else None
        ratio = e['seconds'] / floor if floor else None
        proj_h = PROJECT_ROWS / rate / 3600.0 if rate else None
        e['rows_per_second'] = int(rate) if rate else None
        e['ratio_to_floor'] = round(ratio, 2) if ratio else None
        e['projected_hours_225m_linear'] = round(proj_h, 2) if proj_h else None
        print('%-50s %8.1f %9.0f %8s %8s %12s' % (
            e['label'], e['seconds'], rate or 0, ('%.2f' % ratio) if ratio else '-',
            e.get('bench_host_cpu_seconds', '-'), ('%.1f' % proj_h) if proj_h else '-'))
    print('CPU s: CPU time of the whole bench host (PostgreSQL and its workers, the module) during the method.')
    print('225M rows: linear from rows/s at this N (ANALYZE costs per partition, not per row: see README).')
    targets = {}
    a = ms.get('a', {}).get('seconds')
    for m in ('c1', 'c2'):
        if m in ms and floor and a:
            targets[m] = {'ratio_to_floor': round(ms[m]['seconds'] / floor, 2),
                          'at_most_1.3x_floor': ms[m]['seconds'] <= 1.3 * floor,
                          'speedup_vs_a': round(a / ms[m]['seconds'], 2),
                          'at_least_1.7x_faster_than_a': a / ms[m]['seconds'] >= 1.7}
            print('%s: %.2fx the floor (target <= 1.3: %s), %.2fx faster than (a) (target >= 1.7: %s)' % (
                LABELS[m], targets[m]['ratio_to_floor'], 'met' if targets[m]['at_most_1.3x_floor'] else 'MISSED',
                targets[m]['speedup_vs_a'], 'met' if targets[m]['at_least_1.7x_faster_than_a'] else 'MISSED'))
    out['targets'] = targets
    for m in ('c1', 'c2'):
        if m in ms and ms[m].get('peak_rss_kib'):
            print('%s: module peak RSS %.1f MiB' % (LABELS[m], ms[m]['peak_rss_kib'] / 1024.0))
    qb, qa = out.get('queries_before'), out.get('queries_after')
    if qb and qa:
        print()
        print('map query: distinct devices inside a box since a time; median of %d runs, warm cache, ms' % len(qb[0]['ms_all']))
        print('(client wall; in brackets planning + execution from EXPLAIN ANALYZE)')
        print('%-10s %-8s %22s %22s %9s %8s' % ('time as', 'window', 'plain table', 'partitioned', 'speed-up', 'devices'))
        qs = []
        for b, af in zip(qb, qa):
            sp = b['ms_median'] / af['ms_median'] if af['ms_median'] else None
            same = b['devices'] == af['devices']
            qs.append({'form': b['form'], 'window': b['window'], 'before_ms': b['ms_median'], 'after_ms': af['ms_median'],
                       'before_planning_ms': b['planning_ms_median'], 'after_planning_ms': af['planning_ms_median'],
                       'before_execution_ms': b['execution_ms_median'],
                       'after_execution_ms': af['execution_ms_median'],
                       'speedup': round(sp, 2) if sp else None, 'same_result': same})
            print('%-10s %-8s %8.2f (%5.2f+%6.2f) %8.2f (%5.2f+%6.2f) %8.1fx %8s%s' % (
                b['form'], b['window'], b['ms_median'], b['planning_ms_median'], b['execution_ms_median'],
                af['ms_median'], af['planning_ms_median'], af['execution_ms_median'], sp or 0, af['devices'],
                '' if same else ' (DIFFERENT RESULT)'))
        out['queries'] = qs


# =============================================================================================
# online windows (controller): the stand-in writer running, phase prepare, then both cut-overs
# =============================================================================================

WRITER_SERVICE = 'soar-run.service'
LATENCY_FILE = '/var/lib/soar-writer/latency'
WRITER_STATE_FILE = '/var/lib/soar-writer/committed'
CHECKER = '/usr/local/bin/soar-check-writer-log'


def writer(container, action):
    """systemctl start|stop of the writer; stop returns once it has stopped (after its batch)."""
    sh(['docker', 'exec', container, 'systemctl', action, WRITER_SERVICE])


def writer_reset(container):
    writer(container, 'stop')
    sh(['docker', 'exec', container, 'rm', '-f', LATENCY_FILE, WRITER_STATE_FILE])


def latencies(container):
    """The writer's latency file: [(unix time of the commit, seconds from the batch's first attempt)]."""
    r = sh(['docker', 'exec', container, 'cat', LATENCY_FILE], check=False)
    out = []
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                out.append((float(parts[0]), float(parts[1])))
            except ValueError:
                pass
    return out


def wait_for_commit(container, after, timeout=60):
    """The time of the writer's first commit after `after` (polls its latency file)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        later = [t for t, _s in latencies(container) if t > after]
        if later:
            return min(later)
        time.sleep(0.2)
    raise SystemExit('the writer committed nothing within %ds' % timeout)


def percentile(xs, q):
    """Nearest-rank percentile of a sorted list."""
    if not xs:
        return None
    k = max(0, min(len(xs) - 1, int(-(-q * len(xs) // 100)) - 1))
    return xs[k]


def latency_stats(lines, t0, t1):
    """Transactions committed in [t0, t1]: count, p50, p99, max of their latency (ms)."""
    xs = sorted(s for t, s in lines if t0 <= t <= t1)

    def ms(v):
        return round(v * 1000.0, 1) if v is not None else None
    return {'transactions': len(xs), 'p50_ms': ms(percentile(xs, 50)), 'p99_ms': ms(percentile(xs, 99)),
            'max_ms': ms(xs[-1] if xs else None), 'seconds': round(t1 - t0, 1)}


def latency_by_step(lines, prepare):
    """The writer's latency during each step of a prepare run (from the module's "step X done" lines):
    {step: stats}, so that the steps that cost the application's latency show."""
    marks = [(t, m.split()[1]) for t, m in prepare.get('log') or [] if m.startswith('step ') and m.endswith(' done')]
    out, t_prev = {}, prepare['start']
    for t, step in marks:
        out[step] = latency_stats(lines, t_prev, t)
        t_prev = t
    return out


def longest_gap(lines, t0, t1):
    """The longest time between two consecutive commits of the writer around [t0, t1] (from the last
    commit before t0 to the first after t1): how long the application could not write."""
    ts = sorted(t for t, _s in lines)
    before = [t for t in ts if t < t0]
    after = [t for t in ts if t > t1]
    inside = [t for t in ts if t0 <= t <= t1]
    seq = ([before[-1]] if before else []) + inside + ([after[0]] if after else [])
    gaps = [b - a for a, b in zip(seq, seq[1:])]
    return round(max(gaps), 3) if gaps else None


def writer_errors(container, since):
    """The writer's failed batches / connections since a time (its journal)."""
    r = sh(['docker', 'exec', container, 'journalctl', '-q', '-o', 'short-unix', '--no-pager', '-u', WRITER_SERVICE,
            '--since', '@%d' % int(since)], check=False)
    return [line.split(' ', 1)[1] for line in r.stdout.splitlines()
            if 'batch failed' in line or 'cannot connect' in line]


def check_writer_log(container):
    """soar-check-writer-log on the bench database: the table against the writer's operation log."""
    t0 = time.time()
    r = sh(['docker', 'exec', '-u', 'postgres', '-w', '/tmp', container, CHECKER, '--dbname', BENCH_DB,
            '--table', 'public.fixes'], check=False)
    try:
        rep = json.loads(r.stdout)
    except ValueError:
        rep = {'ok': False, 'error': (r.stdout + r.stderr)[-500:]}
    rep['seconds'] = round(time.time() - t0, 1)
    return rep


def online_module(container, phase, args):
    """partman_migrate mode online, one phase. Returns wall time and what the module reported."""
    params = dict(MODULE_PARAMS, jobs=args.online_jobs, mode='online', phase=phase,
                  cutover_lock_timeout=args.cutover_lock_timeout, **online_params(args))
    res, t0, t1, _sampler = ansible_module(container, params)
    lines = [x for x in journal_lines(container, t0 - 1) if t0 - 0.5 <= x[0] <= t1 + 0.5]
    plan = res.get('plan') or {}
    verified = None
    for _t, line in lines:
        m = re.search(r'cut-over: swapped .* (\d+) keys verified', line)
        if m:
            verified = int(m.group(1))
    return {'window_keys_verified': verified, 'start': t0, 'end': t1, 'seconds': round(t1 - t0, 3), 'module_seconds': res.get('seconds'),
            'window_seconds': plan.get('window_seconds'), 'lock_attempts': plan.get('lock_attempts'),
            'window_changes': plan.get('window_changes'), 'pending_changes': plan.get('pending_changes'),
            'keys_verified_before_lock': plan.get('keys_verified_before_lock'), 'log': lines}


def run_online(c, args, template_db):
    """One table size: a fresh copy with the writer running; its latency before; phase prepare (the
    latency during it); the latency with only the capture on; then the prepared database copied, and
    on each copy one cut-over: (b) lock-only, the writer left running; (a) application-stopped, the
    writer stopped around it (as the runbook does). After each, the table against the writer's log."""
    e = {'load_before': loadavg(), 'prepare_jobs': args.online_jobs,
         'prepare_params': online_params(args)}
    writer_reset(c)
    e['fresh_copy_seconds'] = call_worker(c, 'fresh', '--template', template_db)['seconds']
    writer(c, 'start')
    t_w = wait_for_commit(c, time.time() - 1)
    time.sleep(args.latency_seconds)
    t_b = time.time()
    e['latency_before'] = latency_stats(latencies(c), t_w + 2, t_b)

    print('   prepare (writer running) ...', flush=True)
    e['prepare'] = online_module(c, 'prepare', args)
    p = e['prepare']
    lines = latencies(c)
    e['latency_prepare'] = latency_stats(lines, p['start'], p['end'])
    e['latency_prepare_by_step'] = latency_by_step(lines, p)
    time.sleep(args.latency_seconds)
    e['latency_capture_only'] = latency_stats(latencies(c), p['end'] + 1, time.time())
    e['sizes_after_prepare'] = call_worker(c, 'sizes')
    for key, (a, b) in (('writer_rate_before', (t_w + 2, t_b)), ('writer_rate_prepare', (p['start'], p['end']))):
        e[key] = call_worker(c, 'oprate', '--since', str(a), '--until', str(b))
    e['writer_errors_prepare'] = writer_errors(c, p['start'])
    # prepare once more, as migrate.yml does right before its window (and an operator who prepared
    # the day before): it catches up with what the writer did since, so that the cut-over finds only
    # the changes of the last seconds
    print('   prepare again: catch up (writer running) ...', flush=True)
    e['prepare_again'] = online_module(c, 'prepare', args)

    # both cut-overs from the same prepared database: a byte copy of it, the writer stopped meanwhile
    writer(c, 'stop')
    e['copy_prepared_seconds'] = call_worker(c, 'clone')['seconds']

    # (b) lock-only: the writer keeps running through the cut-over
    writer(c, 'start')
    wait_for_commit(c, time.time())
    time.sleep(args.window_gap)
    print('   cut-over, lock only (writer running) ...', flush=True)
    b = online_module(c, 'cutover', args)
    time.sleep(3)
    wait_for_commit(c, b['end'])
    lines = latencies(c)
    b['writer_max_wait_ms'] = latency_stats(lines, b['start'], b['end'] + 3)['max_ms']
    b['writer_during'] = latency_stats(lines, b['start'], b['end'] + 3)
    b['longest_commit_gap_seconds'] = longest_gap(lines, b['start'], b['end'])
    b['writer_errors'] = writer_errors(c, b['start'])
    b['check'] = check_writer_log(c)
    e['lock_only'] = b

    # (a) application stopped: the copy of the prepared database back, the writer on it for a moment
    # (changes since prepare, as between migrate.yml's prepare and its stop), then stop, cut-over, start
    writer(c, 'stop')
    call_worker(c, 'restore')
    writer(c, 'start')
    wait_for_commit(c, time.time())
    time.sleep(args.window_gap)
    print('   cut-over, application stopped ...', flush=True)
    t_stop = time.time()
    writer(c, 'stop')
    t_stopped = time.time()
    a = online_module(c, 'cutover', args)
    writer(c, 'start')
    t_started = time.time()
    first = wait_for_commit(c, t_started - 0.5)
    lines = latencies(c)
    a['application_stopped_seconds'] = round(t_started - t_stop, 3)
    a['writer_stop_seconds'] = round(t_stopped - t_stop, 3)
    a['last_commit_before'] = max(t for t, _s in lines if t < t_stop)
    a['first_commit_after'] = first
    a['no_commit_seconds'] = round(first - a['last_commit_before'], 3)
    a['writer_errors'] = writer_errors(c, t_started)
    time.sleep(2)
    a['check'] = check_writer_log(c)
    e['app_stopped'] = a
    writer(c, 'stop')
    e['load_after'] = loadavg()
    return e


def run_windows(c, args, tpl, out):
    """Every size of --window-sizes: the offline methods (those of the main run at its size, else
    --window-offline on that size's template), and the online run."""
    out['windows'] = {}
    for size in [int(x) for x in args.window_sizes.split()]:
        if size == args.rows:
            tdb, wtpl, offline = args.template_db, tpl, out['methods']
        else:
            tdb = 'soar_n%d_d%d' % (size, args.days)
            wtpl = call_worker(c, 'template', '--db', tdb)
            offline = {}
        w = {'rows': wtpl['rows'], 'table': wtpl}
        print()
        print('== window at %d rows (heap %.0f MiB, indexes %.0f MiB)' % (
            wtpl['rows'], wtpl['heap_bytes'] / 1048576.0, wtpl['index_bytes'] / 1048576.0))
        if size != args.rows:
            run_methods(c, args, args.window_offline.split(), wtpl, out, template_db=tdb, into=offline,
                        queries=False)
        w['offline'] = offline
        w['online'] = run_online(c, args, tdb)
        print_online(w)
        out['windows'][str(wtpl['rows'])] = w
    call_worker(c, 'dropcopy')


def offline_window(w):
    """The offline window at a size: the module with jobs 2 (c2) if run, else jobs 1 (c1)."""
    for m in ('c2', 'c1'):
        if m in w['offline']:
            return m, w['offline'][m]['seconds']
    return None, None


def print_online(w):
    o = w['online']
    p, a, b = o['prepare'], o['app_stopped'], o['lock_only']
    label = 'prepare (writer running, jobs %s), module wall' % o.get('prepare_jobs', '?')
    print('   %-58s %8.1f s' % (label, p['seconds']))
    print('   %-58s %8.1f s   (%s changes pending after it)' % (
        'prepare again (catch-up), module wall', o['prepare_again']['seconds'], o['prepare_again']['pending_changes']))
    for key, label in (('latency_before', 'writer latency before'), ('latency_prepare', 'writer latency during prepare'),
                       ('latency_capture_only', 'writer latency after prepare (capture only)')):
        st = o[key]
        print('   %-58s p50 %6.1f ms  p99 %7.1f ms  max %7.1f ms  (%d transactions)' % (
            label, st['p50_ms'] or 0, st['p99_ms'] or 0, st['max_ms'] or 0, st['transactions']))
    for step, st in (o.get('latency_prepare_by_step') or {}).items():
        print('   %-58s p50 %6.1f ms  p99 %7.1f ms  max %7.1f ms  (%d transactions)' % (
            '  during step ' + step, st['p50_ms'] or 0, st['p99_ms'] or 0, st['max_ms'] or 0, st['transactions']))
    for key, label in (('writer_rate_before', 'writer reached, before'), ('writer_rate_prepare', 'writer reached, during prepare')):
        r = o.get(key)
        if r:
            print('   %-58s %.0f inserts/s, %.1f updates/s, %.1f deletes/s' % (
                label, r['inserts_per_second'], r['updates_per_second'], r['deletes_per_second']))
    sz = o['sizes_after_prepare']
    print('   %-58s table %.0f MiB, built %.0f MiB, change log %.1f MiB' % (
        'disk after prepare', sz['table_bytes'] / 1048576.0, sz['built_bytes'] / 1048576.0,
        (sz['change_log_bytes'] or 0) / 1048576.0))
    print('   %-58s %8.1f s   (module wall %.1f s, window %.2f s, %s attempt(s), %s changes)' % (
        '(a) application stopped: writer stop -> start', a['application_stopped_seconds'], a['seconds'],
        a['window_seconds'] or 0, a['lock_attempts'], a['window_changes']))
    print('   %-58s %8.1f s' % ('    no commit of the writer for', a['no_commit_seconds']))
    print('   %-58s %8.2f s   (module wall %.1f s, %s attempt(s), %s changes)' % (
        '(b) lock only: window (lock held)', b['window_seconds'] or 0, b['seconds'], b['lock_attempts'],
        b['window_changes']))
    print('   %-58s (a) %s, (b) %s' % (
        'keys verified in the window (its log line)', a.get('window_keys_verified'), b.get('window_keys_verified')))
    print('   %-58s (a) %s, (b) %s' % (
        'keys verified before the lock', a.get('keys_verified_before_lock'), b.get('keys_verified_before_lock')))
    print('   %-58s %8.2f s   (longest time without a commit %.2f s; %d failed batches)' % (
        '    longest writer transaction', (b['writer_max_wait_ms'] or 0) / 1000.0,
        b['longest_commit_gap_seconds'] or 0, len(b['writer_errors'])))
    m, secs = offline_window(w)
    if secs:
        print('   %-58s %8.1f s   (%s)' % ('(c) offline: module wall (application stopped throughout)', secs, m))
    for name, r in (('(a)', a), ('(b)', b)):
        ck = r['check']
        print('   %-58s %s' % ('table vs the writer\'s log after %s' % name, check_line(ck)))


def check_line(ck):
    if 'logged' not in ck:
        return 'NOT CHECKED: %s' % ck.get('error')
    return '%s: %d inserts, %d updates, %d deletes logged; missing %d, doubled %d, stale %d, resurrected %d' % (
        'ok' if ck.get('ok') else 'MISMATCH', ck['logged']['inserts'], ck['logged']['updates'],
        ck['logged']['deletes'], ck.get('missing', 0), ck.get('doubled', 0), ck.get('stale', 0),
        ck.get('resurrected', 0))


def summarize_windows(out):
    ws = out.get('windows')
    if not ws:
        return
    print()
    print('%-12s %10s %10s %10s %12s %10s %10s %12s %10s' % (
        'rows', 'offline s', '(a) app', '(a) lock', '(b) lock s', '(b) wait', 'p50 ms', 'p99 ms', 'checks'))
    print('%-12s %10s %10s %10s %12s %10s %10s %12s %10s' % (
        '', '', 'stopped s', 'held s', 'held', 'max s', 'bef/prep', 'bef/prep', ''))
    targets = {}
    for key in sorted(ws, key=int):
        w = ws[key]
        o = w['online']
        a, b = o['app_stopped'], o['lock_only']
        _m, off = offline_window(w)
        lb, lp = o['latency_before'], o['latency_prepare']
        ok = a['check'].get('ok') and b['check'].get('ok')
        print('%-12s %10s %10.1f %10.2f %12.2f %10.2f %4.0f/%-5.0f %5.0f/%-6.0f %10s' % (
            key, ('%.1f' % off) if off else '-', a['application_stopped_seconds'], a['window_seconds'] or 0,
            b['window_seconds'] or 0, (b['writer_max_wait_ms'] or 0) / 1000.0, lb['p50_ms'] or 0, lp['p50_ms'] or 0,
            lb['p99_ms'] or 0, lp['p99_ms'] or 0, 'ok' if ok else 'MISMATCH'))
        t = {'online_window_at_most_15s': max(a['application_stopped_seconds'], b['window_seconds'] or 0) <= 15,
             'lock_only_no_wait_over_2s': (b['writer_max_wait_ms'] or 0) <= 2000,
             'prepare_p99_within_2x_before': (lp['p99_ms'] or 0) <= 2 * (lb['p99_ms'] or 0),
             'writer_log_checks_ok': bool(ok)}
        t.update(p99_verdict(lb['p99_ms'], lp['p99_ms'], (o.get('latency_capture_only') or {}).get('p99_ms')))
        floor = w['offline'].get('d', {}).get('seconds')
        if floor and off:
            t['offline_ratio_to_floor'] = round(off / floor, 2)
            t['offline_within_1.1x_floor'] = off <= 1.1 * floor
            an = w['offline'].get('c2', {}).get('analyze_alone')
            dan = dict(w['offline']['d'].get('steps', [])).get('analyze')
            if an:
                t['analyze_partitioned_seconds'] = an['seconds']
                t['analyze_plain_seconds'] = dan
                t['offline_ratio_to_floor_without_analyze_difference'] = round(
                    (off - an['seconds'] + (dan or 0)) / floor, 2)
        targets[key] = t
    out['window_targets'] = targets
    print('(a): seconds from the writer\'s stop to its start around phase cutover, and the module\'s window '
          '(lock held); (b): the writer left running, the window and its longest transaction; latency: the '
          'writer\'s transactions (600 inserts/s + updates + deletes, one transaction per 0.2 s), p50/p99 '
          'before the migration and during prepare.')
    for key in sorted(targets, key=int):
        t = targets[key]
        print('targets at %s rows: online window <= 15 s: %s; lock-only, no writer wait > 2 s: %s; writer p99 during '
              'prepare within 2x of before (%.2fx; %.2fx of after): %s; table = writer\'s log: %s%s' % (
                  key, met(t['online_window_at_most_15s']), met(t['lock_only_no_wait_over_2s']),
                  t['prepare_p99_ratio'] or 0, t['prepare_p99_ratio_to_after'] or 0, t['prepare_p99_verdict'],
                  met(t['writer_log_checks_ok']),
                  ('; offline %.2fx the floor (target <= 1.1: %s; ANALYZE of the partitions alone %.1f s against '
                   '%.1f s for the plain table)' % (
                       t['offline_ratio_to_floor'], met(t['offline_within_1.1x_floor']),
                       t.get('analyze_partitioned_seconds') or 0, t.get('analyze_plain_seconds') or 0))
                  if 'offline_ratio_to_floor' in t else ''))


def met(flag):
    return 'met' if flag else 'MISSED'


# The writer's p99 is measured before prepare (no capture) and after it (capture on, no copy). On the
# 2-vCPU VM the two drifted apart by 1.3x within minutes (121 ms before, 91 after, 2026-11-30; the capture
# cannot make commits quicker), so neither alone is the baseline. They bracket it: the target is met when
# the p99 during prepare is within 2x of the lower of the two, missed when above 2x of the higher, and
# undecided in between (the verdict then depends on which end is taken).


def p99_verdict(before, during, after):
    """The latency target (p99 during prepare within 2x of its value before), judged against both ends of
    the baseline: 'met' within 2x of both, 'MISSED' beyond 2x of both, 'undecided' between."""
    def ratio(a, b):
        return round(a / b, 2) if a and b else None
    out = {'prepare_p99_ratio': ratio(during, before), 'prepare_p99_ratio_to_after': ratio(during, after),
           'baseline_drift': ratio(after, before)}
    if not (before and during and after):
        out['prepare_p99_verdict'] = 'undecided (a period without transactions)'
    elif during <= 2 * min(before, after):
        out['prepare_p99_verdict'] = 'met'
    elif during > 2 * max(before, after):
        out['prepare_p99_verdict'] = 'MISSED'
    else:
        out['prepare_p99_verdict'] = 'undecided (p99 %.0f ms before, %.0f after: within 2x of one only)' % (
            before, after)
    return out


# ---------------------------------------------------------------------------------- the plot

def suite_windows(out, results_dir):
    """The windows of this run, and those of earlier result files of the same suite for sizes this
    run did not measure (the newest file first): {rows: (window, file)}."""
    found = {}
    for key, w in (out.get('windows') or {}).items():
        found[key] = (w, 'this run')
    docs = []
    for name in os.listdir(results_dir):
        if re.match(r'^%s-[0-9]+\.json$' % re.escape(out['suite']), name):
            try:
                with open(os.path.join(results_dir, name)) as f:
                    docs.append((json.load(f), name))
            except (OSError, ValueError):
                continue
    for doc, name in sorted(docs, key=lambda d: d[0].get('started', ''), reverse=True):
        for key, w in (doc.get('windows') or {}).items():
            found.setdefault(key, (w, name))
    return found


def window_plot(out, path, results_dir):
    """An SVG (written by hand, no plotting library): window seconds against the table's rows, log
    scale, for the offline migration and both online cut-overs; sizes this run did not measure are
    taken from earlier result files of the suite."""
    found = suite_windows(out, results_dir)
    ws = dict((k, w) for k, (w, _f) in found.items())
    out['plot_sources'] = dict((k, f) for k, (_w, f) in found.items())
    sizes = sorted(int(k) for k in ws)
    if not sizes:
        return None
    series = [
        ('offline: application stopped for the whole migration', '#c0392b',
         [(n, offline_window(ws[str(n)])[1]) for n in sizes]),
        ('online, application stopped: writer stop -> start', '#2471a3',
         [(n, ws[str(n)]['online']['app_stopped']['application_stopped_seconds']) for n in sizes]),
        ('online, lock only: lock held (window_seconds)', '#239b56',
         [(n, ws[str(n)]['online']['lock_only']['window_seconds']) for n in sizes]),
        ('online, lock only: longest writer transaction', '#7d3c98',
         [(n, (ws[str(n)]['online']['lock_only']['writer_max_wait_ms'] or 0) / 1000.0) for n in sizes]),
    ]
    import math
    vals = [v for _l, _c, pts in series for _n, v in pts if v]
    lo = 10 ** math.floor(math.log10(max(min(vals), 0.01)))
    hi = 10 ** math.ceil(math.log10(max(vals)))
    if hi <= lo:
        hi = lo * 10
    W, H, L, R, T, B = 720, 440, 70, 20, 40, 150
    pw, ph = W - L - R, H - T - B
    xmax = max(sizes) * 1.1

    def X(n):
        return L + pw * n / xmax

    def Y(v):
        v = max(v, lo)
        return T + ph * (1 - (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)))

    e = []
    e.append('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
             'font-family="sans-serif" font-size="12">' % (W, H, W, H))
    e.append('<rect width="100%" height="100%" fill="white"/>')
    e.append('<text x="%d" y="22" font-size="14" font-weight="bold">Window against table size (%s, PostgreSQL %s, '
             'pg_partman %s)</text>' % (L, out['suite'], out['host']['postgresql'], out['host']['partman']))
    d = lo
    while d <= hi * 1.0001:
        y = Y(d)
        e.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>' % (L, y, L + pw, y))
        e.append('<text x="%d" y="%.1f" text-anchor="end">%s s</text>' % (L - 6, y + 4, ('%g' % d)))
        d *= 10
    step = 2000000 if xmax > 4000000 else (500000 if xmax > 1000000 else 100000)
    n = 0
    while n <= xmax:
        x = X(n)
        e.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#eee"/>' % (x, T, x, T + ph))
        e.append('<text x="%.1f" y="%d" text-anchor="middle">%gM</text>' % (x, T + ph + 16, n / 1e6))
        n += step
    e.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#333"/>' % (L, T, pw, ph))
    e.append('<text x="%d" y="%d" text-anchor="middle">rows in fixes</text>' % (L + pw / 2, T + ph + 34))
    e.append('<text transform="translate(16,%d) rotate(-90)" text-anchor="middle">seconds (log scale)</text>'
             % (T + ph / 2))
    for i, (label, color, pts) in enumerate(series):
        pts = [(n, v) for n, v in pts if v]
        if len(pts) > 1:
            e.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>' % (
                color, ' '.join('%.1f,%.1f' % (X(n), Y(v)) for n, v in pts)))
        for n, v in pts:
            e.append('<circle cx="%.1f" cy="%.1f" r="4" fill="%s"/>' % (X(n), Y(v), color))
            e.append('<text x="%.1f" y="%.1f" fill="%s">%s</text>' % (X(n) + 7, Y(v) - 6, color,
                                                                      ('%.1f' % v) if v >= 1 else ('%.2f' % v)))
        ly = T + ph + 56 + i * 20
        e.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"/>' % (L, ly - 4, L + 24, ly - 4,
                                                                                           color))
        e.append('<text x="%d" y="%d">%s</text>' % (L + 32, ly, label))
    e.append('</svg>')
    with open(path, 'w') as f:
        f.write('\n'.join(e) + '\n')
    return path


def memory_comparison(results_dir, suite):
    """Module peak RSS of every result file of this suite, to show it does not grow with N."""
    seen = []
    for name in sorted(os.listdir(results_dir)):
        if not re.match(r'^%s-[0-9]+\.json$' % re.escape(suite), name):
            continue
        try:
            with open(os.path.join(results_dir, name)) as f:
                doc = json.load(f)
        except (OSError, ValueError):
            continue
        for m in ('c1', 'c2'):
            e = doc.get('methods', {}).get(m)
            if e and e.get('peak_rss_kib'):
                seen.append((doc['table']['rows'], m, e['peak_rss_kib']))
    if len(set(r for r, _m, _k in seen)) > 1:
        print()
        print('module peak RSS by N (%s):' % suite)
        for r, m, k in sorted(seen):
            print('   %10d rows  %-3s %7.1f MiB' % (r, m, k / 1024.0))


def main():
    if len(sys.argv) > 1 and sys.argv[1] == 'worker':
        worker(sys.argv[2:])
    elif len(sys.argv) > 1 and sys.argv[1] == 'install-wrapper':
        p = argparse.ArgumentParser(prog='bench.py install-wrapper')
        p.add_argument('--container', required=True)
        install_wrapper(p.parse_args(sys.argv[2:]).container)
    elif len(sys.argv) > 1 and sys.argv[1] == 'run':
        controller(sys.argv[2:])
    else:
        sys.stderr.write(__doc__)
        sys.exit(2)


if __name__ == '__main__':
    main()
