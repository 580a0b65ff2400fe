"""The reliability suite's helper, used on both sides.

Inside the test container (as root, ``python3 reliability.py PHASE cases.json``) it runs the
cases: each in a database of its own (CREATE DATABASE ... TEMPLATE rel_template), the modules
run directly from their files (``python3 <module>.py args.json``, PYTHONPATH = a copy of the
controller's ``ansible`` package and of the collection), test sessions holding locks, kill -9,
pg_terminate_backend, PostgreSQL restarts; it prints one JSON object of observations per case.
It asserts nothing: the controller's tests (test_*.py) do, from these observations.

On the controller (imported by conftest.py) it copies the code into the container and starts
the phases (``Suite``).
"""
import json
import os
import subprocess
import sys
import threading
import time

CODE = '/var/tmp/reliability/code'
WORK = '/var/tmp/reliability/run'
MODULES = CODE + '/ansible_collections/soar/partman/plugins/modules'
TEMPLATE = 'rel_template'
BASE_DB = 'soar'
APP = 'soar.partman'           # application_name of the modules' sessions (their default)

# --------------------------------------------------------------------------- SQL snippets
USER_SCHEMAS = ("n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%%' "
                "AND n.nspname NOT LIKE 'pg\\_temp%%'")

FINGERPRINT = [
    ('relations', "SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                  "WHERE " + USER_SCHEMAS + " ORDER BY 1, 2"),
    ('constraints', "SELECT n.nspname, r.relname, k.conname, k.contype, pg_get_constraintdef(k.oid) FROM pg_constraint k "
                    "JOIN pg_class r ON r.oid = k.conrelid JOIN pg_namespace n ON n.oid = r.relnamespace "
                    "WHERE " + USER_SCHEMAS + " ORDER BY 1, 2, 3"),
    ('indexes', "SELECT schemaname, tablename, indexname, indexdef FROM pg_indexes "
                "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2, 3"),
    ('triggers', "SELECT tgrelid::regclass::text, tgname, pg_get_triggerdef(oid) FROM pg_trigger "
                 "WHERE NOT tgisinternal ORDER BY 1, 2"),
    ('part_config', "SELECT row_to_json(p)::text FROM partman.part_config p ORDER BY parent_table"),
    ('extensions', "SELECT extname, extversion, extnamespace::regnamespace::text FROM pg_extension ORDER BY 1"),
]


def qi(name):
    return '"%s"' % name.replace('"', '""')


# =========================================================================== container side
def pg(db=BASE_DB, autocommit=True, app='reliability'):
    import psycopg2
    conn = psycopg2.connect(dbname=db, user='postgres', host='/var/run/postgresql', application_name=app)
    conn.autocommit = autocommit
    return conn


def q(db, query, args=None):
    conn = pg(db)
    try:
        with conn.cursor() as cur:
            cur.execute(query, args)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


def wait_server(timeout=60):
    deadline = time.time() + timeout
    while True:
        try:
            q(BASE_DB, 'SELECT 1')
            return
        except Exception:
            if time.time() > deadline:
                raise
            time.sleep(0.3)


def make_template():
    """rel_template: the fixture database plus the module's (empty) state tables, so that a lock can
    be held on them before a run and the fingerprint always reads them."""
    sys.path.insert(0, CODE)
    from psycopg2 import sql  # noqa: F401
    from ansible_collections.soar.partman.plugins.module_utils import state as st

    class Db(object):
        def __init__(self, conn):
            self.conn = conn

        def execute(self, stmt, args=None, record=False):
            with self.conn.cursor() as cur:
                cur.execute(stmt, args)
    if q(BASE_DB, 'SELECT 1 FROM pg_database WHERE datname = %s', (TEMPLATE,)):
        return
    q(BASE_DB, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'soar' AND pid <> pg_backend_pid()")
    q('postgres', 'CREATE DATABASE %s TEMPLATE %s' % (TEMPLATE, BASE_DB))
    conn = pg(TEMPLATE)
    for stmt in st.ddl('partman'):
        Db(conn).execute(stmt)
    conn.cursor().execute('VACUUM ANALYZE')
    conn.close()


def clone(db, setup=()):
    q('postgres', 'DROP DATABASE IF EXISTS %s WITH (FORCE)' % qi(db))
    q('postgres', 'CREATE DATABASE %s TEMPLATE %s' % (qi(db), TEMPLATE))
    if setup:
        conn = pg(db)
        with conn.cursor() as cur:
            for stmt in setup:
                cur.execute(stmt)
        conn.close()


def fingerprint(db):
    """The catalog as one text: relations, constraints, indexes, triggers, row counts, part_config and
    the module's state rows."""
    conn = pg(db)
    out = []
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass('partman.part_config')")
            partman = cur.fetchone()[0] is not None
            for title, query in FINGERPRINT:
                if title == 'part_config' and not partman:
                    continue
                cur.execute(query)
                out.append('## ' + title)
                out.extend(' | '.join(str(v) for v in r) for r in cur.fetchall())
            cur.execute("SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                        "WHERE c.relkind IN ('r', 'p') AND " + USER_SCHEMAS + " ORDER BY 1, 2")
            out.append('## rows')
            for schema, name in cur.fetchall():
                cur.execute('SELECT count(*) FROM %s.%s' % (qi(schema), qi(name)))
                out.append('%s.%s | %d' % (schema, name, cur.fetchone()[0]))
            for t in ('partman_migrate_state', 'partman_migrate_partition'):
                cur.execute('SELECT to_regclass(%s)', ('partman.' + t,))
                if cur.fetchone()[0]:
                    cur.execute('SELECT row_to_json(s)::text FROM partman.%s s ORDER BY 1' % t)
                    out.append('## ' + t)
                    out.extend(r[0] for r in cur.fetchall())
    finally:
        conn.close()
    return '\n'.join(out) + '\n'


def relkind(db, table):
    r = q(db, 'SELECT c.relkind::text FROM pg_class c WHERE c.oid = to_regclass(%s)', (table,))
    return r[0][0] if r else None


def data_fp(db, table, control, where='true'):
    """Per-day row counts and row fingerprints (md5 of every row's text, sorted), for a plain or a
    partitioned table; plus the total and the number of distinct rows."""
    if relkind(db, table) is None:
        return None
    rows = q(db, 'SELECT date_trunc(\'day\', t.%s)::text, count(*), md5(string_agg(md5(t::text), \',\' ORDER BY md5(t::text))) '
                 'FROM %s t WHERE %s GROUP BY 1 ORDER BY 1' % (qi(control), table, where))
    total, distinct = q(db, 'SELECT count(*), count(DISTINCT md5(t::text)) FROM %s t WHERE %s' % (table, where))[0]
    return {'days': [list(r) for r in rows], 'total': total, 'distinct': distinct}


def index_count(db, table):
    if relkind(db, table) is None:
        return None
    return q(db, 'SELECT count(*) FROM pg_index WHERE indrelid = to_regclass(%s)', (table,))[0][0]


def module_args(module, args, check=False, db=None):
    a = dict(args)
    if db and module != 'pg_cron_job':
        a.setdefault('login_db', db)
    a['_ansible_check_mode'] = bool(check)
    path = '%s/%s-%d-%d.json' % (WORK, module, os.getpid(), int(time.time() * 1e6))
    with open(path, 'w') as f:
        json.dump({'ANSIBLE_MODULE_ARGS': a}, f)
    return [sys.executable, '%s/%s.py' % (MODULES, module), path]


def module_env():
    env = dict(os.environ, PYTHONPATH=CODE, LANG='C.UTF-8')
    return env


def parse_result(out, rc, err=''):
    for line in reversed(out.strip().splitlines() or ['']):
        line = line.strip()
        if line.startswith('{'):
            try:
                res = json.loads(line)
                res['rc'] = rc
                return res
            except ValueError:
                pass
    return {'failed': True, 'changed': None, 'rc': rc, 'msg': 'no JSON result (rc %s): %s %s' % (rc, out[-2000:], err[-2000:])}


def run_module(module, args, check=False, db=None, timeout=300):
    cmd = module_args(module, args, check, db)
    try:
        p = subprocess.run(cmd, check=False, capture_output=True, text=True, env=module_env(), timeout=timeout)
    except subprocess.TimeoutExpired as e:
        return {'failed': True, 'changed': None, 'rc': None, 'msg': 'timeout after %ss: %s' % (timeout, e)}
    return parse_result(p.stdout, p.returncode, p.stderr)


class Background(object):
    """A module run in the background (kill -9 target)."""

    def __init__(self, module, args, db):
        self.proc = subprocess.Popen(module_args(module, args, db=db), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=module_env())
        self.result = None

    def wait(self, timeout=300):
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
            self.result = {'failed': True, 'changed': None, 'rc': None, 'msg': 'timeout'}
            return self.result
        self.result = parse_result(out, self.proc.returncode, err)
        return self.result

    def kill9(self):
        self.proc.kill()
        self.proc.communicate()
        self.result = {'killed': True}


class Holder(object):
    """A test session holding locks in an open transaction."""

    def __init__(self, db):
        self.conn = pg(db, autocommit=False)
        self.conn.cursor().execute("SET lock_timeout = '60s'")
        self.pid = self.conn.get_backend_pid()

    def run(self, stmt, args=None):
        with self.conn.cursor() as cur:
            cur.execute(stmt, args)
            return cur.fetchall() if cur.description else None

    def hold_when(self, stmt, timeout=20):
        """Repeat a locking SELECT until it returns a row (what it locks exists), then keep it."""
        deadline = time.time() + timeout
        while True:
            if self.run(stmt):
                return True
            self.conn.rollback()
            if time.time() > deadline:
                raise RuntimeError('nothing to lock after %ss: %s' % (timeout, stmt))
            time.sleep(0.005)

    def release(self):
        try:
            self.conn.rollback()
            self.conn.close()
        except Exception:
            pass


def blocked(db, holders, timeout=30):
    """Wait until a session of the module waits for a lock held by one of the test sessions still
    holding; its pid and query."""
    pids = [h.pid for h in holders.values()]
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = q('postgres',
              "SELECT pid, left(query, 200) FROM pg_stat_activity WHERE application_name = %s AND datname = %s "
              "AND wait_event_type = 'Lock' AND pg_blocking_pids(pid) && %s::int[]", (APP, db, pids))
        if r:
            return {'pid': r[0][0], 'query': r[0][1]}
        time.sleep(0.02)
    raise RuntimeError('the module never waited for a lock of the test sessions in %ss' % timeout)


def db_exists(db):
    return bool(q('postgres', 'SELECT 1 FROM pg_database WHERE datname = %s', (db,)))


def sessions_gone(db, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if not q('postgres', 'SELECT 1 FROM pg_stat_activity WHERE application_name = %s AND datname = %s', (APP, db)):
            return True
        time.sleep(0.05)
    return False


def state_row(db, table):
    if not q(db, "SELECT to_regclass('partman.partman_migrate_state')")[0][0]:
        return None
    r = q(db, 'SELECT step, direction, rows_copied FROM partman.partman_migrate_state WHERE table_name = %s', (table,))
    return list(r[0]) if r else None


# ----------------------------------------------------------------------------- the cases
def case_bad(c):
    db = c['db']
    clone(db, c.get('setup', []))
    before = fingerprint(db)
    res = run_module(c['module'], c['args'], check=c.get('check', False), db=db)
    after = fingerprint(db)
    return {'result': res, 'fingerprint_before': before, 'fingerprint_after': after}


def case_migrate(c):
    db, table, control = c['db'], c['args']['table'], c['args']['control']
    clone(db, c.get('setup', []))
    t = ident_of(table)
    before = {'fingerprint': fingerprint(db), 'data': data_fp(db, t, control), 'indexes': index_count(db, t)}
    res = run_module('partman_migrate', c['args'], db=db)
    old = ident_of(table, c['args'].get('old_suffix', '_old'))
    after = {'fingerprint': fingerprint(db), 'data': data_fp(db, t, control), 'indexes': index_count(db, t),
             'relkind': relkind(db, t), 'old_data': data_fp(db, old, control) if old else None,
             'default_rows': q(db, 'SELECT count(*) FROM ONLY %s' % qi_default(db, t))[0][0]
             if relkind(db, t) == 'p' and qi_default(db, t) else None}
    obs = {'result': res, 'before': before, 'after': after}
    if c.get('info_after'):   # partman_info over the whole database must still work
        obs['info'] = run_module('partman_info', {}, db=db)
    return obs


def ident_of(table, suffix=''):
    """'schema.name' as the module takes it -> quoted SQL name; with a suffix, the name the module
    gives the old table (its own truncate_name)."""
    sys.path.insert(0, CODE)
    from ansible_collections.soar.partman.plugins.module_utils import names as pl
    schema, name = pl.split_table_name(table)
    if suffix:
        name = pl.truncate_name(name, suffix)
    return '%s.%s' % (qi(schema), qi(name))


def qi_default(db, t):
    r = q(db, "SELECT c.oid::regclass::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
              "WHERE i.inhparent = to_regclass(%s) AND pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT'", (t,))
    return r[0][0] if r else None


def case_fault(c):
    """ops: hold/hold_when/start/blocked/release/kill/terminate/restart/wait/run/revert/writer..."""
    db = c['db']
    args = c['args']
    table, control = args['table'], args['control']
    t, t_old = ident_of(table), ident_of(table, '_old')
    clone(db, c.get('setup', []))
    where = c.get('where', 'true')     # the rows of the snapshot (a writer adds others)
    snap = data_fp(db, t, control, where)
    fp0 = fingerprint(db)
    idx0 = index_count(db, t)
    holders = {}
    bg = {}
    obs = {'snapshot': snap, 'events': [], 'checks': [], 'results': {}}
    try:
        run_ops(c, db, args, t, control, where, holders, bg, obs)
    finally:   # whatever happened, nothing of this case keeps running
        for h in holders.values():
            h.release()
        for b in bg.values():
            if b.result is None and b.proc.poll() is None:
                b.kill9()
        if obs.get('_writer') is not None and not obs['_writer'].stopped:
            obs['_writer'].stop()
    for name, b in bg.items():
        if name not in obs['results']:
            obs['results'][name] = b.result
    sessions_gone(db)
    writer = obs.pop('_writer', None)
    obs['final'] = {'relkind': relkind(db, t), 'new': data_fp(db, t, control, where),
                    'old': data_fp(db, t_old, control, where), 'indexes': index_count(db, t), 'indexes_before': idx0,
                    'state': state_row(db, table), 'fingerprint_equal': fingerprint(db) == fp0}
    if obs.get('tablespace'):        # the database first, then its tablespace and the tmpfs
        obs['cleanup_errors'] = drop_tablespace(db)
    if writer is not None:
        ids = writer.committed_ids
        # every committed row is in the live table exactly once
        found = q(db, 'SELECT count(*), count(DISTINCT id) FROM %s WHERE id = ANY(%%s)' % t, (ids,))[0]
        obs['writer']['found'] = found[0]
        obs['writer']['found_distinct'] = found[1]
    return obs


def run_ops(c, db, args, t, control, where, holders, bg, obs):
    table = args['table']
    t_old = ident_of(table, '_old')
    writer = None

    def old_now():
        # the plain table holding the original rows: <table>_old once renamed, else <table> itself
        return t_old if relkind(db, t_old) == 'r' else t

    for op in c['ops']:
        kind = op[0]
        ev = {'op': ' '.join(str(x) for x in op)}
        if kind == 'hold':            # ['hold', name, sql]
            holders[op[1]] = Holder(db)
            holders[op[1]].run(op[2])
        elif kind == 'hold_when':     # ['hold_when', name, locking select]
            holders[op[1]] = Holder(db)
            holders[op[1]].hold_when(op[2])
        elif kind == 'release':
            holders.pop(op[1]).release()
        elif kind == 'start':         # ['start', name, extra args]
            bg[op[1]] = Background('partman_migrate', dict(args, **(op[2] if len(op) > 2 else {})), db)
            time.sleep(0.05)
        elif kind == 'blocked':
            ev.update(blocked(db, holders))
            ev['state'] = state_row(db, table)
        elif kind == 'kill':          # kill -9 of the module process
            bg[op[1]].kill9()
            obs['results'][op[1]] = {'killed': True}
        elif kind == 'terminate':     # pg_terminate_backend of the waiting session
            r = blocked(db, holders)
            q('postgres', 'SELECT pg_terminate_backend(%s)', (r['pid'],))
            ev['terminated'] = r
        elif kind == 'restart':         # the test sessions die with the server
            subprocess.run(['systemctl', 'restart', 'postgresql'], check=True)
            wait_server()
            for h in holders.values():
                h.release()
            holders.clear()
        elif kind == 'wait':          # wait for a background run to end
            obs['results'][op[1]] = bg[op[1]].wait()
        elif kind == 'gone':          # all of the module's sessions ended (after a kill)
            for h in list(holders):
                holders.pop(h).release()
            ev['gone'] = sessions_gone(db)
        elif kind == 'check':         # observe the data now
            old = old_now()
            obs['checks'].append({'label': op[1], 'old_table': old, 'old': data_fp(db, old, control, where),
                                  'state': state_row(db, table), 'relkind': relkind(db, t)})
        elif kind == 'run':           # ['run', name, extra args] in the foreground
            obs['results'][op[1]] = run_module('partman_migrate', dict(args, **(op[2] if len(op) > 2 else {})), db=db)
        elif kind == 'writer_start':
            writer = Writer(db, op[1])
            writer.start()
        elif kind == 'writer_stop':
            writer.stop()
            obs['writer'] = writer.report()
        elif kind == 'sleep':
            time.sleep(op[1])
        elif kind == 'tablespace':    # ['tablespace', free fraction]: the table on a small tmpfs
            obs['tablespace'] = small_tablespace(db, t, op[1])
            ev.update(obs['tablespace'])
        elif kind == 'grow':          # ['grow', size]: make room (remount the tmpfs bigger)
            subprocess.run(['mount', '-o', 'remount,size=' + op[1], obs['tablespace']['path']], check=True)
            ev['df'] = df(obs['tablespace']['path'])
        elif kind == 'fingerprint':   # ['fingerprint', label]: the catalog now
            obs.setdefault('fingerprints', {})[op[1]] = fingerprint(db)
        obs['events'].append(ev)
        if writer is not None:
            obs['_writer'] = writer


def df(path):
    st = os.statvfs(path)
    return {'size': st.f_blocks * st.f_frsize, 'free': st.f_bavail * st.f_frsize}


def tablespace_of(db):
    return ('rel_ts_' + db)[:60], '%s/ts_%s' % (os.path.dirname(WORK), db)


def small_tablespace(db, t, free_fraction):
    """A tablespace on a tmpfs of its own, just big enough for the table and `free_fraction` of its
    size more; the table moved there (its indexes stay in pg_default)."""
    name, path = tablespace_of(db)
    drop_tablespace(db, database=False)      # a leftover of an earlier run (clone dropped its database)
    heap = q(db, 'SELECT pg_table_size(%s::regclass)', (t,))[0][0]
    kib = int(heap * (1 + free_fraction) / 4096 + 1) * 4
    os.makedirs(path, exist_ok=True)
    subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=%dk,mode=0700' % kib, 'tmpfs', path], check=True)
    subprocess.run(['chown', 'postgres:postgres', path], check=True)
    q(db, 'CREATE TABLESPACE %s LOCATION %%s' % qi(name), (path,))
    q(db, 'ALTER TABLE %s SET TABLESPACE %s' % (t, qi(name)))
    return {'name': name, 'path': path, 'table_bytes': heap, 'df': df(path)}


def drop_tablespace(db, database=True):
    """The case's database, its tablespace and the tmpfs under it, if there."""
    name, path = tablespace_of(db)
    errors = []
    stmts = ['DROP DATABASE IF EXISTS %s WITH (FORCE)' % qi(db)] if database else []
    for stmt in stmts + ['DROP TABLESPACE IF EXISTS %s' % qi(name)]:
        try:
            q('postgres', stmt)
        except Exception as e:  # noqa: BLE001 - reported
            errors.append(str(e).strip())
    if os.path.ismount(path):
        p = subprocess.run(['umount', path], check=False, capture_output=True, text=True)
        if p.returncode:
            errors.append(p.stderr.strip())
    if os.path.isdir(path) and not os.path.ismount(path):
        os.rmdir(path)
    return errors


class Writer(threading.Thread):
    """Inserts rows through the table's name, one per transaction, and counts what committed."""

    def __init__(self, db, stmt):
        threading.Thread.__init__(self, daemon=True)
        self.db, self.stmt = db, stmt
        self.committed_ids, self.errors, self.stopped = [], [], False

    def run(self):
        conn = pg(self.db, app='reliability-writer')
        conn.cursor().execute("SET lock_timeout = '120s'")
        while not self.stopped:
            try:
                with conn.cursor() as cur:
                    cur.execute(self.stmt)
                    new_id = cur.fetchone()[0]
                self.committed_ids.append(new_id)
            except Exception as e:  # noqa: BLE001 - every failure is reported
                self.errors.append(str(e).strip().splitlines()[0])
                if conn.closed:
                    conn = pg(self.db, app='reliability-writer')
                    conn.cursor().execute("SET lock_timeout = '120s'")
            time.sleep(0.01)
        conn.close()

    def stop(self):
        self.stopped = True
        self.join(30)

    def report(self):
        return {'committed': len(self.committed_ids), 'errors': len(self.errors),
                'error_messages': sorted(set(self.errors))[:10]}


def case_clone(c):
    """For the controller's cases (roles, secrets): a database and its fingerprint before."""
    clone(c['db'], c.get('setup', []))
    res = run_module('partman_migrate', c['migrate'], db=c['db']) if c.get('migrate') else None
    obs = {'fingerprint_before': fingerprint(c['db']), 'migrate': res}
    if c.get('control'):        # the snapshot of a controller fault
        t = ident_of(c['table'])
        obs.update(snapshot=data_fp(c['db'], t, c['control']), indexes=index_count(c['db'], t))
    return obs


def case_after(c):
    db, table = c['db'], c.get('table', 'public.fixes')
    obs = {'fingerprint_after': fingerprint(db), 'state': state_row(db, table), 'relkind': relkind(db, table)}
    if c.get('control'):        # a controller fault: the new and the old table
        t = ident_of(table)
        obs.update(new=data_fp(db, t, c['control']), old=data_fp(db, ident_of(table, '_old'), c['control']),
                   indexes=index_count(db, t))
    return obs


def step_now(db, table, app):
    """For the controller: the state step and whether a session of `app` is still in the database."""
    running = bool(q('postgres', 'SELECT 1 FROM pg_stat_activity WHERE application_name = %s AND datname = %s',
                     (app, db)))
    return {'state': state_row(db, table), 'running': running}


def case_scan(c):
    """Where a secret may end up: the journal, the state tables of every database, files."""
    canaries = c['canaries']
    found, state_dbs = [], []
    j = subprocess.run(['journalctl', '--no-pager', '-o', 'cat', '--since', c.get('since', '-1h')], check=False,
                       capture_output=True, text=True)
    for s in canaries:
        if s in j.stdout:
            found.append('journal: ' + next(line for line in j.stdout.splitlines() if s in line)[:300])
    for (db,) in q('postgres', 'SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate'):
        try:
            if not q(db, "SELECT to_regclass('partman.partman_migrate_state')")[0][0]:
                continue
            text = q(db, 'SELECT coalesce(string_agg(row_to_json(s)::text, E\'\\n\'), \'\') FROM partman.partman_migrate_state s')[0][0]
        except Exception:  # noqa: BLE001
            continue
        if text:
            state_dbs.append(db)
        for s in canaries:
            if s in text:
                found.append('%s: partman.partman_migrate_state holds it' % db)
    grep = ['grep', '-rlsF', '--exclude-dir=reliability'] + sum([['-e', s] for s in canaries], []) + c['paths']
    g = subprocess.run(grep, check=False, capture_output=True, text=True)
    found.extend('file: ' + f for f in g.stdout.split())
    return {'found': found, 'journal_lines': len(j.stdout.splitlines()), 'state_dbs': state_dbs}


CASES = {'bad': case_bad, 'migrate': case_migrate, 'fault': case_fault, 'clone': case_clone,
         'after': case_after, 'scan': case_scan}


def container_main(path):
    os.makedirs(WORK, exist_ok=True)
    with open(path) as f:
        cases = json.load(f)
    wait_server()
    make_template()
    for c in cases:
        t0 = time.time()
        try:
            obs = CASES[c['kind']](c)
        except Exception as e:  # noqa: BLE001 - reported as the case's observation
            import traceback
            obs = {'error': '%s: %s' % (type(e).__name__, e), 'traceback': traceback.format_exc()}
        obs['name'] = c['name']
        obs['seconds'] = round(time.time() - t0, 2)
        if c['kind'] not in ('clone', 'after', 'scan') and not c.get('keep'):
            try:
                q('postgres', 'DROP DATABASE IF EXISTS %s WITH (FORCE)' % qi(c['db']))
            except Exception:  # noqa: BLE001
                pass
        sys.stdout.write(json.dumps(obs, default=str) + '\n')
        sys.stdout.flush()


# ============================================================================ controller side
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))


def upload(container):
    """Copy the ansible package of this venv, the collection's plugins and this file into the container."""
    import ansible
    site = os.path.dirname(os.path.dirname(ansible.__file__))
    tar = ("set -e; d=$(mktemp -d); mkdir -p $d/code/ansible_collections/soar/partman; "
           "cp -a {site}/ansible $d/code/; cp -a {repo}/plugins {repo}/galaxy.yml $d/code/ansible_collections/soar/partman/; "
           "touch $d/code/ansible_collections/__init__.py; "
           "cp {me} $d/code/; tar -C $d --exclude=__pycache__ -cz code; rm -rf $d").format(
        site=site, repo=REPO, me=os.path.abspath(__file__))
    subprocess.run("(%s) | docker exec -i %s sh -c 'rm -rf %s && mkdir -p /var/tmp/reliability %s && "
                   "tar -C /var/tmp/reliability -xz'" % (tar, container, CODE, WORK),
                   shell=True, check=True)


class Phase(object):
    """Runs a list of cases in one container, in the background; results by case name."""

    def __init__(self, container, cases):
        self.container = container
        data = json.dumps(cases)
        path = '%s/cases-%d.json' % (WORK, int(time.time() * 1e6))
        subprocess.run(['docker', 'exec', '-i', container, 'sh', '-c', 'cat > %s' % path],
                       input=data, text=True, check=True)
        self.t0 = time.time()
        self.proc = subprocess.Popen(['docker', 'exec', container, 'python3', CODE + '/reliability.py', path],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self._results = None

    def results(self):
        if self._results is None:
            out, err = self.proc.communicate()
            self.seconds = round(time.time() - self.t0, 1)
            self._results = {}
            for line in out.splitlines():
                if line.startswith('{'):
                    r = json.loads(line)
                    self._results[r['name']] = r
            self._results['__stderr__'] = err
        return self._results


def hold_copy(db, table, app, lock):
    """For the controller: hold `lock` (a locking SELECT, repeated until its row exists), wait until a
    session of `app` waits for it and say so (one JSON line); release when stdin says so (or closes)."""
    h = Holder(db)
    try:
        h.hold_when(lock, timeout=180)
        deadline = time.time() + 120
        waiting = None
        while time.time() < deadline and not waiting:
            waiting = q('postgres', "SELECT pid, left(query, 200) FROM pg_stat_activity WHERE application_name = %s "
                                    "AND datname = %s AND wait_event_type = 'Lock' AND %s = ANY(pg_blocking_pids(pid))",
                        (app, db, h.pid))
            time.sleep(0.02)
        print(json.dumps({'blocked': bool(waiting), 'query': waiting[0][1] if waiting else None,
                          'state': state_row(db, table), 'running': True}))
        sys.stdout.flush()
        sys.stdin.readline()
    finally:
        h.release()


if __name__ == '__main__':
    if sys.argv[1] == 'step':    # reliability.py step DB TABLE APP: one JSON line
        print(json.dumps(step_now(*sys.argv[2:5])))
    elif sys.argv[1] == 'hold':  # reliability.py hold DB TABLE APP LOCK
        hold_copy(*sys.argv[2:6])
    else:
        container_main(sys.argv[1])
