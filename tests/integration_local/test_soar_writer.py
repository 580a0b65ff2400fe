# -*- coding: utf-8 -*-
"""The stand-in writer (soar_writer.py) and its checker (check_writer_log.py) against a real local
PostgreSQL, on the SOAR schema of the fixture role soar_database, with fixes a plain table and a
partitioned one: the writer inserts, updates and deletes for ~25 s while it is blocked by a lock,
killed -9 and restarted, and has its connection terminated; then the checker finds the table
exactly as the writer's log says, and finds each corruption made by hand.

Needs: a local cluster reachable as the postgres OS user (su postgres; `pg_ctlcluster 15 main
start`), PostGIS (postgresql-15-postgis-3), /usr/bin/python3 with psycopg2. Run (as root):

    pytest -q tests/integration_local/test_soar_writer.py
"""

from __future__ import absolute_import, division, print_function

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from local_pg import NEEDS_CLUSTER, ROOT, psql

pytestmark = NEEDS_CLUSTER

DB = os.environ.get('PARTMAN_WRITER_IT_DB', 'writer_it')
ROWS = int(os.environ.get('PARTMAN_WRITER_IT_ROWS', '5000'))
FILES = os.path.join(ROOT, 'tests', 'fixtures', 'roles', 'soar_writer', 'files')
WRITER = os.path.join(FILES, 'soar_writer.py')
CHECKER = os.path.join(FILES, 'check_writer_log.py')
SCHEMA = os.path.join(ROOT, 'tests', 'fixtures', 'roles', 'soar_database', 'files', 'soar_schema.sql')
APP = 'soar-writer-it'
RATE, UPDATE_RATE, DELETE_RATE, INTERVAL, RETRY = 600, 50, 10, 0.2, 1

DATA = """
INSERT INTO devices (address, registration) SELECT upper(to_hex(x'DD0000'::int + n)), 'D-' || n
FROM generate_series(1, 20) AS n;
INSERT INTO receivers (callsign) SELECT 'Rcv' || n FROM generate_series(1, 5) AS n;
WITH g AS MATERIALIZED (
    SELECT gen_random_uuid() AS mid, now() - interval '3 days' * (n::float8 / %(rows)d) AS ra, n
    FROM generate_series(1, %(rows)d) AS n
), m AS (INSERT INTO aprs_messages (id, raw, received_at) SELECT mid, 'raw' || n, ra FROM g)
INSERT INTO fixes (source, aprs_type, via, "timestamp", latitude, longitude, altitude_msl_feet,
                   device_id, received_at, receiver_id, aprs_message_id)
SELECT 'FLRDD0001', 'OGFLR', ARRAY['qAS'], ra, 46 + (n %% 100) / 100.0, 7 + (n %% 50) / 50.0, n %% 10000,
       (SELECT id FROM devices ORDER BY address LIMIT 1), ra,
       (SELECT id FROM receivers ORDER BY callsign LIMIT 1), mid
FROM g;
-- a fifth of the fixes is referenced (fix_annotations): the writer must skip deleting them
INSERT INTO fix_annotations (fix_id, note) SELECT id, 'annotated' FROM fixes WHERE random() < 0.2;
"""

# fixes partitioned by day on received_at (PRIMARY KEY (id, received_at)) with the same rows;
# the foreign key of fix_annotations goes with the plain table.
PARTITION = """
ALTER TABLE fixes RENAME TO fixes_plain;
CREATE TABLE fixes (LIKE fixes_plain INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING CONSTRAINTS)
    PARTITION BY RANGE (received_at);
ALTER TABLE fixes ADD PRIMARY KEY (id, received_at);
CREATE INDEX ON fixes (received_at);
CREATE TABLE fixes_default PARTITION OF fixes DEFAULT;
DO $$
DECLARE d date;
BEGIN
    FOR d IN SELECT generate_series(current_date - 4, current_date + 2, interval '1 day')::date LOOP
        EXECUTE format('CREATE TABLE %I PARTITION OF fixes FOR VALUES FROM (%L) TO (%L)',
                       'fixes_p' || to_char(d, 'YYYYMMDD'), d, d + 1);
    END LOOP;
END $$;
INSERT INTO fixes SELECT * FROM fixes_plain;
DROP TABLE fixes_plain CASCADE;
"""


@pytest.fixture(params=['plain', 'partitioned'])
def database(request):
    psql('DROP DATABASE IF EXISTS %s' % DB, db='postgres')
    psql('CREATE DATABASE %s' % DB, db='postgres')
    psql('CREATE EXTENSION postgis; CREATE EXTENSION pgcrypto;', db=DB)
    with open(SCHEMA) as handle:
        psql(handle.read(), db=DB)
    psql(DATA % {'rows': ROWS}, db=DB)
    if request.param == 'partitioned':
        # LIKE cannot copy generated columns into an INSERT ... SELECT *: name the others
        columns = psql("SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute"
                       " WHERE attrelid = 'fixes'::regclass AND attnum > 0 AND NOT attisdropped"
                       " AND attgenerated = ''", db=DB)
        psql(PARTITION.replace('INSERT INTO fixes SELECT * FROM fixes_plain',
                               'INSERT INTO fixes (%s) SELECT %s FROM fixes_plain' % (columns, columns)), db=DB)
        assert psql("SELECT relkind FROM pg_class WHERE oid = 'fixes'::regclass", db=DB) == 'p'
    psql('ANALYZE', db=DB)
    yield request.param
    psql('DROP DATABASE IF EXISTS %s' % DB, db='postgres')


@pytest.fixture
def workdir():
    path = tempfile.mkdtemp(prefix='soar-writer-it-', dir='/tmp')
    os.chmod(path, 0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def as_postgres(cmd, **kwargs):
    env = dict(os.environ, PGHOST='/var/run/postgresql', PGDATABASE=DB, PGUSER='postgres', PGAPPNAME=APP)
    env.update(kwargs.pop('env', {}))
    kwargs.setdefault('stdout', subprocess.PIPE)
    kwargs.setdefault('stderr', subprocess.STDOUT)
    return subprocess.Popen(cmd, user='postgres', group='postgres', cwd='/tmp', env=env, text=True, **kwargs)


def start_writer(workdir, output):
    return as_postgres(['python3', WRITER], env={
        'SOAR_WRITER_RATE': str(RATE), 'SOAR_WRITER_UPDATE_RATE': str(UPDATE_RATE),
        'SOAR_WRITER_DELETE_RATE': str(DELETE_RATE), 'SOAR_WRITER_BATCH_INTERVAL': str(INTERVAL),
        'SOAR_WRITER_RETRY_DELAY': str(RETRY), 'SOAR_WRITER_LOG_INTERVAL': '5',
        'SOAR_WRITER_STATE_FILE': os.path.join(workdir, 'committed'),
        'SOAR_WRITER_LATENCY_FILE': os.path.join(workdir, 'latency'),
    }, stdout=output)


def check(*args):
    proc = as_postgres(['python3', CHECKER, '--dbname', DB] + list(args), stderr=subprocess.PIPE)
    out, err = proc.communicate(timeout=120)
    assert err == '' or proc.returncode in (0, 1), err
    return proc.returncode, json.loads(out)


def value(sql):
    return psql(sql, db=DB)


def run_writer(workdir):
    """~25 s of writing: a 2 s lock, a kill -9 and a restart, a terminated connection."""
    with open(os.path.join(workdir, 'writer.out'), 'a') as output:
        writer = start_writer(workdir, output)
        time.sleep(4)
        # blocked, not failed: the wait shows in the latency file
        psql('BEGIN; LOCK TABLE fixes IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(2); COMMIT;', db=DB)
        time.sleep(4)
        os.kill(writer.pid, signal.SIGKILL)
        assert writer.wait(timeout=10) == -signal.SIGKILL
        writer = start_writer(workdir, output)
        time.sleep(4)
        # failed, then retried after a reconnection: the wait shows too
        assert value("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                     " WHERE application_name = '%s' AND datname = '%s'" % (APP, DB)) == '1'
        time.sleep(10)
        writer.send_signal(signal.SIGTERM)
        assert writer.wait(timeout=30) == 0
    with open(os.path.join(workdir, 'writer.out')) as handle:
        return handle.read()


def test_writer_log_is_the_table_and_the_checker_finds_each_corruption(database, workdir):
    out = run_writer(workdir)
    assert out.count('soar-writer starting') == 2, out
    assert out.count('batch failed') >= 1, out             # the terminated connection

    # -- the writer's log says exactly what the table holds
    rc, report = check()
    assert rc == 0 and report['ok'] and report['mismatches'] == 0, report
    logged = report['logged']
    with open(os.path.join(workdir, 'committed')) as handle:
        committed = int(handle.read())
    # the state file is written just after each commit: a kill -9 in between loses one batch
    assert 0 <= logged['inserts'] - committed <= 2 * RATE * INTERVAL, (logged, committed)
    assert logged['inserts'] > RATE * 10 and logged['updates'] > UPDATE_RATE * 5 and logged['deletes'] > DELETE_RATE * 5
    assert report['expected_absent'] > 0
    # targets came from the writer's own inserts and from the older rows
    older = int(value("SELECT count(DISTINCT fix_id) FROM soar_writer_log l WHERE op <> 'I' AND NOT EXISTS"
                      " (SELECT 1 FROM soar_writer_log i WHERE i.op = 'I' AND i.fix_id = l.fix_id)"))
    own = int(value("SELECT count(DISTINCT fix_id) FROM soar_writer_log l WHERE op <> 'I' AND EXISTS"
                    " (SELECT 1 FROM soar_writer_log i WHERE i.op = 'I' AND i.fix_id = l.fix_id)"))
    assert older > 0 and own > 0, (older, own)
    assert value("SELECT count(*) FROM (SELECT fix_id FROM soar_writer_log WHERE op = 'I'"
                 " GROUP BY fix_id HAVING count(*) > 1) d") == '0'
    if database == 'plain':
        # referenced fixes were skipped, not deleted (the foreign key would have refused)
        assert value("SELECT count(*) FROM fix_annotations a WHERE NOT EXISTS"
                     " (SELECT 1 FROM fixes f WHERE f.id = a.fix_id)") == '0'

    # -- latency: one line per committed transaction; the lock wait and the retry are visible
    with open(os.path.join(workdir, 'latency')) as handle:
        lines = [line.split() for line in handle]
    assert all(len(fields) == 2 for fields in lines)
    waits = [float(fields[1]) for fields in lines]
    assert len(waits) > 20 / INTERVAL * 0.8 and all(w > 0 for w in waits)
    assert max(waits) >= 1.8, sorted(waits)[-5:]             # the 2 s lock
    assert sum(1 for w in waits if w >= RETRY) >= 2, sorted(waits)[-5:]  # the lock and the retry
    assert sorted(waits)[len(waits) // 2] < 0.5

    # -- a copy compares equal, row for row
    value('CREATE TABLE fixes_copy AS SELECT * FROM fixes')
    rc, report = check('--table', 'public.fixes_copy', '--compare-table', 'fixes')
    assert rc == 0 and report['ok'] and report['columns'] == 30, report
    assert report['only_in_table'] == report['only_in_compare'] == report['different'] == 0

    # -- corrupt the copy by hand: each corruption is reported, and only once
    present = value("SELECT string_agg(fix_id::text, ' ') FROM (SELECT fix_id FROM (SELECT DISTINCT ON (fix_id)"
                    " fix_id, op FROM soar_writer_log ORDER BY fix_id, op_id DESC) e WHERE op <> 'D' LIMIT 4) p"
                    ).split()
    gone = value("SELECT fix_id FROM soar_writer_log WHERE op = 'D' ORDER BY op_id LIMIT 1")
    missing, stale, doubled, other = present
    value("DELETE FROM fixes_copy WHERE id = '%s'" % missing)
    value("UPDATE fixes_copy SET altitude_msl_feet = altitude_msl_feet + 1 WHERE id = '%s'" % stale)
    value("INSERT INTO fixes_copy SELECT * FROM fixes_copy WHERE id = '%s'" % doubled)
    value("INSERT INTO fixes_copy SELECT * FROM fixes_copy WHERE id = '%s'" % other)
    value("UPDATE fixes_copy SET id = '%s' WHERE ctid = (SELECT max(ctid) FROM fixes_copy WHERE id = '%s')"
          % (gone, other))
    value("UPDATE fixes_copy SET source = 'CORRUPT' WHERE id = '%s'" % other)   # no logged column
    rc, report = check('--table', 'fixes_copy', '--compare-table', 'public.fixes')
    assert rc == 1 and not report['ok'], report
    keys = ('missing', 'stale', 'doubled', 'resurrected', 'only_in_table', 'only_in_compare', 'different',
            'doubled_in_table', 'doubled_in_compare')
    got = dict((k, report[k]) for k in keys)
    assert got == {'missing': 1, 'stale': 1, 'doubled': 1, 'resurrected': 1, 'only_in_table': 1,
                   'only_in_compare': 1, 'different': 2, 'doubled_in_table': 1, 'doubled_in_compare': 0}, report
    assert report['mismatches'] == 9
    examples = report['examples']
    assert examples['missing'] == [missing] and examples['stale'] == [stale]
    assert examples['doubled'] == [doubled] and examples['resurrected'] == [gone]
    assert examples['only_in_table'] == [gone] and examples['only_in_compare'] == [missing]
    assert sorted(examples['different']) == sorted([stale, other])

    # -- a table that does not exist: cannot check (2), said in the JSON
    rc, report = check('--table', 'no_such_table')
    assert rc == 2 and 'no_such_table' in report['error']
