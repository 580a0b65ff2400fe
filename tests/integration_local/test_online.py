# -*- coding: utf-8 -*-
"""Online mode against the local PostgreSQL, with a writer inserting, updating and deleting all the
time and logging each change in the same statement: after the cut-over, and again after the
rollback, the table holds exactly what the log says. Same needs and run command as
test_kill_resume.py."""

from __future__ import absolute_import, division, print_function

import subprocess
import threading
import time

import pytest

import local_pg
from local_pg import NEEDS_CLUSTER, env
from conftest import DB
from test_kill_resume import module_cmd, psql

pytestmark = [NEEDS_CLUSTER, pytest.mark.usefixtures('database')]

TABLE = 'ofixes'


def make_table(rows=40000, days=6):
    psql('DROP TABLE IF EXISTS %(t)s, %(t)s_old, %(t)s_start, expected, wlog CASCADE;'
         'DROP SCHEMA IF EXISTS partman_migrate_online CASCADE;'
         "DROP TABLE IF EXISTS partman.template_public_%(t)s, partman.template_partman_migrate_online_%(t)s;"
         "DELETE FROM partman.part_config WHERE parent_table IN ('public.%(t)s', 'partman_migrate_online.%(t)s');"
         "DO $$ BEGIN IF to_regclass('partman.partman_migrate_state') IS NOT NULL THEN "
         "DELETE FROM partman.partman_migrate_state WHERE table_name = 'public.%(t)s'; END IF; END $$;"
         'CREATE TABLE %(t)s (id bigserial PRIMARY KEY, received_at timestamptz NOT NULL, v integer, '
         '  g integer GENERATED ALWAYS AS (v * 2) STORED);'
         'CREATE INDEX ON %(t)s (received_at);'
         "INSERT INTO %(t)s (received_at, v) SELECT now() - (x %% %(days)d) * interval '1 day' "
         "  - x * interval '1 second', x FROM generate_series(1, %(rows)d) x;"
         'CREATE TABLE wlog (n bigserial, op text, id bigint, received_at timestamptz, v integer);'
         'CREATE TABLE %(t)s_start AS SELECT id, received_at, v FROM %(t)s;'
         % {'t': TABLE, 'rows': rows, 'days': days})


class Writer(object):
    """psql fed statements, each one change and its log line (one statement: atomic)."""

    def __init__(self, rows):
        self.rows = rows
        self.stop = threading.Event()
        self.proc = subprocess.Popen(['su', 'postgres', '-c', 'psql -X -q -At -d %s' % DB], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.sent = 0
        self.thread = threading.Thread(target=self.loop)
        self.thread.start()

    def loop(self):
        t = TABLE
        i = 0
        while not self.stop.is_set():
            i += 1
            stmts = ["WITH c AS (INSERT INTO %s (received_at, v) VALUES (now(), %d) RETURNING id, received_at, v) "
                     "INSERT INTO wlog (op, id, received_at, v) SELECT 'I', id, received_at, v FROM c;" % (t, -i)]
            if i % 3 == 0:
                stmts.append("WITH c AS (UPDATE %s SET v = v + 100000 WHERE id = (SELECT 1 + floor(random() * "
                             "(SELECT max(id) FROM wlog WHERE op = 'I' UNION ALL SELECT %d ORDER BY 1 DESC LIMIT 1))"
                             "::bigint) RETURNING id, received_at, v) "
                             "INSERT INTO wlog (op, id, received_at, v) SELECT 'U', id, received_at, v FROM c;"
                             % (t, self.rows))
            if i % 7 == 0:
                stmts.append("WITH c AS (DELETE FROM %s WHERE id = (SELECT 1 + floor(random() * %d)::bigint) "
                             "RETURNING id, received_at, v) "
                             "INSERT INTO wlog (op, id, received_at, v) SELECT 'D', id, received_at, v FROM c;"
                             % (t, self.rows))
            self.proc.stdin.write('\n'.join(stmts) + '\n')
            self.proc.stdin.flush()
            self.sent += 1
            time.sleep(0.004)

    def finish(self):
        self.stop.set()
        self.thread.join()
        out, err = self.proc.communicate('\\q\n')
        return out, err


def expected_mismatches(table):
    """Rows of table that differ from the start state with the writer's log applied, both ways."""
    psql("DROP TABLE IF EXISTS expected; CREATE TABLE expected AS "
         "SELECT id, received_at, v FROM %(t)s_start s WHERE NOT EXISTS (SELECT 1 FROM wlog w WHERE w.id = s.id) "
         "UNION ALL SELECT id, received_at, v FROM (SELECT DISTINCT ON (id) id, received_at, v, op FROM wlog "
         "ORDER BY id, n DESC) l WHERE op <> 'D'" % {'t': TABLE})
    return psql("SELECT (SELECT count(*) FROM (SELECT id, received_at, v FROM %s EXCEPT ALL "
                "SELECT * FROM expected) a) || ' ' || (SELECT count(*) FROM (SELECT * FROM expected EXCEPT ALL "
                "SELECT id, received_at, v FROM %s) b)" % (table, table))


def run_module(*extra):
    return subprocess.run(module_cmd('login_db=%s' % DB, 'table=public.%s' % TABLE, 'control=received_at',
                                     "interval='1 day'", 'batch_size=2000', 'mode=online', 'progress_interval=1',
                                     *extra),
                          capture_output=True, text=True, env=env(), check=False)


def test_online_cutover_and_rollback_lose_nothing():
    make_table()
    writer = Writer(40000)
    try:
        time.sleep(1)
        res = run_module('phase=prepare')
        assert res.returncode == 0, res.stdout + res.stderr
        assert psql("SELECT relkind FROM pg_class WHERE oid = 'public.%s'::regclass" % TABLE) == 'r'
        time.sleep(2)
        res = run_module('phase=prepare')   # catch up again
        assert res.returncode == 0, res.stdout + res.stderr
        res = run_module('phase=cutover')
        assert res.returncode == 0, res.stdout + res.stderr
        assert psql("SELECT relkind FROM pg_class WHERE oid = 'public.%s'::regclass" % TABLE) == 'p'
        time.sleep(3)
    finally:
        out, err = writer.finish()
    assert writer.sent > 500
    assert expected_mismatches(TABLE) == '0 0', err[-3000:]
    # generated column recomputed, sequence continues
    assert psql("SELECT count(*) FROM %s WHERE g IS DISTINCT FROM v * 2" % TABLE) == '0'
    # right after the cut-over the old table was equal; reverse capture kept the changes since
    writer = Writer(40000)
    try:
        time.sleep(3)
        res = run_module('state=reverted')
        assert res.returncode == 0, res.stdout + res.stderr
        assert psql("SELECT relkind FROM pg_class WHERE oid = 'public.%s'::regclass" % TABLE) == 'r'
        time.sleep(2)
    finally:
        out, err = writer.finish()
    assert expected_mismatches(TABLE) == '0 0', err[-3000:]
    assert psql("SELECT count(*) FROM pg_namespace WHERE nspname = 'partman_migrate_online' AND EXISTS "
                "(SELECT 1 FROM pg_class WHERE relnamespace = pg_namespace.oid AND relkind IN ('r', 'p'))") == '0'
    assert psql("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'public.%s'::regclass AND tgname LIKE "
                "'partman_migrate%%'" % TABLE) == '0'


def step():
    if not psql("SELECT to_regclass('partman.partman_migrate_state')"):
        return '-'
    return psql("SELECT coalesce((SELECT step FROM partman.partman_migrate_state WHERE table_name = 'public.%s'), '-')"
                % TABLE)


def run_killed(until_step, *extra):
    """The module started, killed with SIGKILL once the state reaches until_step (or its backends
    terminated, for the window); returns whether the kill came before the run ended."""
    proc = subprocess.Popen(module_cmd('login_db=%s' % DB, 'table=public.%s' % TABLE, 'control=received_at',
                                       "interval='1 day'", 'batch_size=500', 'mode=online', *extra),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(),
                            start_new_session=True)
    killed = False
    deadline = time.time() + 300
    while proc.poll() is None and time.time() < deadline:
        if step() in until_step:
            subprocess.run(['pkill', '-9', '-f', 'AnsiballZ_partman_migrate'], check=False)
            psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND "
                 "datname = '%s' AND application_name NOT LIKE 'psql%%'" % DB)
            killed = True
            break
        time.sleep(0.05)
    proc.communicate()
    return killed


def test_online_killed_in_every_phase_loses_nothing():
    make_table(rows=150000, days=8)
    writer = Writer(150000)
    try:
        assert run_killed(('partitioned',), 'phase=prepare')             # during the copy
        assert run_killed(('constrained', 'caught_up'), 'phase=prepare')  # catch-up / verification
        res = run_module('phase=prepare')
        assert res.returncode == 0, res.stdout + res.stderr
        for _i in range(3):                                                # the window, at random moments
            proc = subprocess.Popen(module_cmd('login_db=%s' % DB, 'table=public.%s' % TABLE,
                                               'control=received_at', "interval='1 day'", 'mode=online',
                                               'phase=cutover'),
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())
            time.sleep(0.3 + 0.4 * _i)
            subprocess.run(['pkill', '-9', '-f', 'AnsiballZ_partman_migrate'], check=False)
            proc.communicate()
            if step() == 'done':
                break
        res = run_module('phase=cutover')
        assert res.returncode == 0, res.stdout + res.stderr
        assert step() == 'done'
        time.sleep(2)
    finally:
        out, err = writer.finish()
    assert expected_mismatches(TABLE) == '0 0', err[-3000:]


def test_online_finalize_ends_the_reverse_capture():
    make_table(rows=20000, days=4)
    writer = Writer(20000)
    try:
        res = run_module()     # phase all
        assert res.returncode == 0, res.stdout + res.stderr
        time.sleep(2)          # deletes and updates since the cut-over: in the reverse log, not in the old table
        res = subprocess.run(local_pg.module_cmd('partman_finalize', 'login_db=%s table=public.%s confirm=true '
                                                 "min_age='0 seconds'" % (DB, TABLE)),
                             capture_output=True, text=True, env=env(), check=False)
        assert res.returncode == 0, res.stdout + res.stderr
        time.sleep(1)
    finally:
        writer.finish()
    assert psql("SELECT to_regclass('public.%s_old') IS NULL" % TABLE) == 't'
    assert psql("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'public.%s'::regclass AND tgname LIKE "
                "'partman_migrate%%'" % TABLE) == '0'
    assert psql("SELECT to_regclass('partman_migrate_online.%s_changes_back') IS NULL" % TABLE) == 't'
    assert expected_mismatches(TABLE) == '0 0'
