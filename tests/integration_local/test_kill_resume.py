# -*- coding: utf-8 -*-
"""partman_migrate against a real local PostgreSQL: kill -9 the module in
the middle of the copy (and of later steps), run it again, and check the
partitioned table holds exactly the original rows; then revert.

Needs: a local cluster reachable as the postgres OS user (su postgres),
pg_partman and PostGIS installed, /usr/bin/python3 with psycopg2, and the
collection linked at .collections (make collection). Run:

    PARTMAN_IT_ROWS=300000 pytest -q tests/integration_local
"""

from __future__ import absolute_import, division, print_function

import json
import os
import signal
import subprocess
import time

import local_pg
from conftest import DB, ROWS
from local_pg import NEEDS_CLUSTER, env

pytestmark = NEEDS_CLUSTER


def psql(sql, db=DB):
    return local_pg.psql(sql, db)


def module_cmd(*args):
    return local_pg.module_cmd('partman_migrate', ' '.join(args))


ARGS = ['login_db=%s' % DB, 'table=public.fixes', 'control=received_at', "interval='1 day'",
        'batch_size=2000', 'progress_interval=1', 'jobs=2']


def run_module(*extra):
    return subprocess.run(module_cmd(*(ARGS + list(extra))), capture_output=True, text=True, env=env(), check=False)


def migrate_table(table, *extra):
    """The module on another table of the test database, daily partitions."""
    return subprocess.run(module_cmd('login_db=%s' % DB, 'table=%s' % table, 'control=received_at',
                                     "interval='1 day'", *extra),
                          capture_output=True, text=True, env=env(), check=False)


def module_pids():
    """The module's processes on this machine, not those of test containers running beside it."""
    out = subprocess.run(['pgrep', '-f', 'AnsiballZ_partman_migrate'], capture_output=True, text=True, check=False)
    own = os.readlink('/proc/self/ns/pid')
    pids = []
    for p in out.stdout.split():
        try:
            if os.readlink('/proc/%s/ns/pid' % p) == own:
                pids.append(int(p))
        except OSError:   # gone meanwhile
            pass
    return pids


def state():
    try:
        return psql("SELECT step || ' ' || coalesce((SELECT sum(rows) FROM partman.partman_migrate_partition), 0) "
                    "FROM partman.partman_migrate_state WHERE table_name = 'public.fixes'")
    except RuntimeError:
        return ''


def kill_when(pred, timeout=300):
    """Start the module, kill -9 it when pred(state) holds; True if killed."""
    proc = subprocess.Popen(module_cmd(*ARGS), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env())
    deadline = time.time() + timeout
    killed = False
    while time.time() < deadline and proc.poll() is None:
        s = state()
        if pred(s):
            for pid in module_pids():
                os.kill(pid, signal.SIGKILL)
                killed = True
            break
        time.sleep(0.05)
    proc.communicate()
    return killed


def same_rows(a, b):
    cols = "id, seq, aircraft_id, received_at, lat, lon, altitude, location, source"
    diff = psql("SELECT (SELECT count(*) FROM (SELECT %s FROM %s EXCEPT ALL SELECT %s FROM %s) x) + "
                "(SELECT count(*) FROM (SELECT %s FROM %s EXCEPT ALL SELECT %s FROM %s) y)"
                % (cols, a, cols, b, cols, b, cols, a))
    return int(diff) == 0 and psql('SELECT count(*) FROM %s' % a) == psql('SELECT count(*) FROM %s' % b)


def test_refused_while_another_run_holds_the_lock(database):
    """A session holding the module's advisory lock on the table (as a first run still copying
    would): the second run fails before changing anything and names the holder's pid."""
    holder = subprocess.Popen(
        ['su', 'postgres', '-c', 'psql -X -q -d %s' % DB], stdin=subprocess.PIPE, text=True)
    holder.stdin.write("SET application_name = 'lock-holder';\n"
                       "SELECT pg_advisory_lock(hashtext('soar.partman.partman_migrate'), hashtext('public.fixes'));\n"
                       "SELECT pg_sleep(120);\n")
    holder.stdin.flush()
    try:
        deadline = time.time() + 30
        while psql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted") == '0':
            assert time.time() < deadline, 'the lock holder did not get its lock'
            time.sleep(0.2)
        res = run_module()
        assert res.returncode != 0, res.stdout
        assert 'another partman_migrate run is migrating public.fixes right now' in res.stdout, res.stdout
        assert 'lock-holder' in res.stdout, res.stdout
        assert psql("SELECT relkind FROM pg_class WHERE oid = 'public.fixes'::regclass") == 'r'
        assert psql("SELECT to_regclass('public.fixes_old') IS NULL") == 't'
    finally:
        psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'lock-holder'")
        holder.wait(timeout=30)


def test_kill_during_copy_then_resume(database):
    # kill once the copy has committed some batches
    killed = kill_when(lambda s: s.startswith('partitioned') and int(s.split()[1] or 0) > ROWS // 5)
    assert killed, 'module finished before it could be killed; raise PARTMAN_IT_ROWS'
    st = state()
    assert st.startswith('partitioned'), st
    # kill again, later in the copy
    kill_when(lambda s: s.startswith('partitioned') and int(s.split()[1] or 0) > ROWS // 2)
    # and once more during the index builds
    kill_when(lambda s: s.startswith('copied'))
    res = run_module()
    assert res.returncode == 0, res.stdout + res.stderr
    assert psql("SELECT step FROM partman.partman_migrate_state WHERE table_name = 'public.fixes'") == 'done'
    assert psql("SELECT relkind FROM pg_class WHERE oid = 'public.fixes'::regclass") == 'p'
    assert psql('SELECT count(*) FROM ONLY fixes_default') == '0'
    assert same_rows('fixes', 'fixes_orig')
    assert same_rows('fixes_old', 'fixes_orig')
    # jobs=2 adds the outgoing foreign key to each partition first: the parent's key took them over
    # (one key per partition, each a child of the parent's) instead of adding and validating its own
    assert psql("SELECT count(*) FROM pg_inherits WHERE inhparent = 'public.fixes'::regclass") == psql(
        "SELECT count(*) FROM pg_constraint k JOIN pg_inherits i ON i.inhrelid = k.conrelid "
        "JOIN pg_constraint pk ON pk.oid = k.conparentid AND pk.conrelid = 'public.fixes'::regclass "
        "WHERE i.inhparent = 'public.fixes'::regclass AND k.contype = 'f' AND k.convalidated")
    assert psql("SELECT count(*) FROM pg_constraint k JOIN pg_inherits i ON i.inhrelid = k.conrelid "
                "WHERE i.inhparent = 'public.fixes'::regclass AND k.contype = 'f' AND k.conparentid = 0") == '0'
    # a second run changes nothing
    res = run_module()
    assert res.returncode == 0 and '"changed": false' in res.stdout, res.stdout


def test_revert_keeps_new_rows(database):
    psql("INSERT INTO fixes (aircraft_id, received_at, lat, lon) "
         "SELECT 7, now() + g * interval '1 second', 1, 1 FROM generate_series(1, 11) g")
    expected = int(psql('SELECT count(*) FROM fixes'))
    res = run_module('state=reverted')
    assert res.returncode == 0, res.stdout + res.stderr
    assert psql("SELECT relkind FROM pg_class WHERE oid = 'public.fixes'::regclass") == 'r'
    assert int(psql('SELECT count(*) FROM fixes')) == expected
    assert psql("SELECT count(*) FROM partman.part_config WHERE parent_table = 'public.fixes'") == '0'
    assert psql("SELECT to_regclass('public.fixes_old') IS NULL") == 't'
    res = run_module('state=reverted')
    assert res.returncode == 0 and '"changed": false' in res.stdout, res.stdout


def test_not_valid_foreign_key_refused_before_any_change(database):
    psql("CREATE TABLE nv_fixes (id bigint PRIMARY KEY, received_at timestamptz NOT NULL, aircraft_id integer);"
         "INSERT INTO nv_fixes VALUES (1, now(), 424242);"
         "ALTER TABLE nv_fixes ADD CONSTRAINT nv_fixes_aircraft_fkey FOREIGN KEY (aircraft_id) "
         "REFERENCES aircraft (id) NOT VALID")
    res = migrate_table('public.nv_fixes', 'jobs=2')
    assert res.returncode != 0, res.stdout
    assert 'foreign key nv_fixes_aircraft_fkey is NOT VALID' in res.stdout, res.stdout
    assert 'VALIDATE CONSTRAINT nv_fixes_aircraft_fkey' in res.stdout, res.stdout
    assert psql("SELECT relkind FROM pg_class WHERE oid = 'public.nv_fixes'::regclass") == 'r'
    assert psql("SELECT to_regclass('public.nv_fixes_old') IS NULL") == 't'
    assert psql('SELECT count(*) FROM nv_fixes') == '1'


def test_jobs_1_adds_each_outgoing_key_to_each_partition_before_the_parent(database):
    # One ALTER TABLE on the parent would validate every partition under one SHARE ROW EXCLUSIVE lock on
    # the referenced table, blocking the application's writes to it for the whole validation (43 s at
    # 10M rows in an online prepare, bench/). Each partition's key in its own transaction, then the
    # parent's, which takes them over.
    psql("CREATE TABLE k_fixes (id bigint PRIMARY KEY, received_at timestamptz NOT NULL,"
         " aircraft_id integer REFERENCES aircraft (id));"
         "INSERT INTO k_fixes SELECT n, now() - n * interval '1 hour', (SELECT min(id) FROM aircraft)"
         " FROM generate_series(1, 100) n")
    res = migrate_table('public.k_fixes', 'jobs=1')
    assert res.returncode == 0, res.stdout + res.stderr
    queries = json.loads(res.stdout)['plays'][0]['tasks'][0]['hosts']['localhost']['queries']
    adds = [i for i, q in enumerate(queries) if 'ADD CONSTRAINT "k_fixes_aircraft_id_fkey" FOREIGN KEY' in q]
    children = int(psql("SELECT count(*) FROM pg_inherits WHERE inhparent = 'public.k_fixes'::regclass"))
    assert len(adds) == children + 1, adds
    assert '"public"."k_fixes" ADD CONSTRAINT' in queries[adds[-1]], queries[adds[-1]]
    # each partition's key added NOT VALID (the referenced table locked for a moment), then validated
    # in a transaction of its own (its scan under ROW SHARE, which the application's writes pass)
    assert all(queries[i].rstrip().endswith('NOT VALID') for i in adds[:-1]), [queries[i] for i in adds]
    validates = [i for i, q in enumerate(queries) if 'VALIDATE CONSTRAINT "k_fixes_aircraft_id_fkey"' in q]
    assert len(validates) == children and all(v > a for a, v in zip(adds, validates)), (adds, validates)
    assert psql("SELECT count(*) FROM pg_constraint k JOIN pg_inherits i ON i.inhrelid = k.conrelid "
                "JOIN pg_constraint pk ON pk.oid = k.conparentid AND pk.conrelid = 'public.k_fixes'::regclass "
                "WHERE i.inhparent = 'public.k_fixes'::regclass AND k.contype = 'f' AND k.convalidated") == str(children)
