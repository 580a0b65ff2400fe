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


def worker(argv):
    p = argparse.ArgumentParser(prog='bench.py worker')
    p.add_argument('action', choices=['info', 'template', 'fresh', 'method', 'check', 'queries', 'autovacuum'])
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


def run_module(container, jobs):
    sh(['docker', 'exec', container, 'rm', '-f', MAXRSS_FILE])
    params = {'login_db': BENCH_DB, 'table': 'public.fixes', 'control': 'received_at', 'interval': '1 day',
              'jobs': jobs, 'inbound_fks': 'drop', 'verify': 'count'}
    env = dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS='1', ANSIBLE_STDOUT_CALLBACK='ansible.builtin.json')
    cmd = ['ansible', 'all', '-i', container + ',', '-c', 'community.docker.docker', '-b', '--become-user', 'postgres',
           '-e', 'ansible_python_interpreter=' + WRAPPER, '-m', 'soar.partman.partman_migrate',
           '-a', json.dumps(params)]
    with CpuSampler(container) as sampler:
        t0 = time.time()
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, env=env,
                           check=False)
        t1 = time.time()
    wall = t1 - t0
    try:
        doc = json.loads(r.stdout)
        res = doc['plays'][0]['tasks'][0]['hosts'][container]
    except (ValueError, KeyError, IndexError):
        sys.stderr.write(r.stdout[-4000:] + r.stderr[-4000:])
        raise SystemExit('the module run gave no result')
    if r.returncode != 0 or res.get('failed'):
        sys.stderr.write(json.dumps(res, indent=1)[-6000:] + '\n')
        raise SystemExit('the module failed')
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
    finally:
        if args.autovacuum == 'off':
            call_worker(c, 'autovacuum', '--value', 'reset')
    summarize(out, tpl['rows'])
    out['make_bench_seconds_so_far'] = round(time.time() - args.started)
    with open(args.output, 'w') as f:
        json.dump(out, f, indent=1, default=str)
    print('results written to %s' % os.path.relpath(args.output))
    memory_comparison(os.path.dirname(args.output), args.suite)


def run_once(c, args, m, tpl, out, first):
    """One run of method m on a fresh copy of the template; the map queries around the first c1."""
    rows = tpl['rows']
    fresh = call_worker(c, 'fresh', '--template', args.template_db)
    entry = {'label': LABELS[m], 'load_before': loadavg(), 'fresh_copy_seconds': fresh['seconds']}
    if m == 'c1' and first:
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
    if m == 'c1' and first:
        out['queries_after'] = call_worker(c, 'queries', '--end', tpl['max_received_at'],
                                           '--runs', str(args.query_runs))['queries']
    return entry


def run_methods(c, args, methods, tpl, out):
    for m in methods:
        runs = []
        for i in range(max(1, args.repeat)):
            runs.append(run_once(c, args, m, tpl, out, i == 0))
        entry = min(runs, key=lambda e: e['seconds'])
        entry['runs_seconds'] = [e['seconds'] for e in runs]
        entry['runs_cpu_seconds'] = [e.get('bench_host_cpu_seconds') for e in runs]
        out['methods'][m] = entry
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
