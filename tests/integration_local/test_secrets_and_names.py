# -*- coding: utf-8 -*-
"""Issue 10 against a real local PostgreSQL (pg_partman 4.7 on 15 here):

- a password given in connect_params (and as login_password / migration_login_password) is in no
  output at -vvv, in no state table row and, where a journal runs, not in the journal;
- partman_info over the whole database with a table named we"ird migrated;
- a refused session setting is not reported as a connection failure; partman_repair refuses a
  negative max_batches; both before any change (changed false);
- role soar.partman.migration on a quoted mixed-case table and on a 62-character name: the
  migration, the verification (old table as the module made it) and the status agree; the async
  job files are in a 0700 directory and removed once read.

Needs root, a local cluster reachable as the postgres OS user, pg_partman, community.postgresql
and the collection linked at .collections (make collection). Run:

    pytest -q tests/integration_local/test_secrets_and_names.py
"""

from __future__ import absolute_import, division, print_function

import glob
import json
import os
import shutil
import subprocess
import textwrap
import time

import pytest

import local_pg
from local_pg import NEEDS_CLUSTER, ansible_bin, env

DB = os.environ.get('PARTMAN_SEC_DB', 'secrets_it')
CANARY = 'S3cr3t-canary'
LONG = 'fixes_' + 'x' * 56                     # 62 characters: <name>_old must be cut to 63 bytes
LONG_OLD = LONG[:59] + '_old'
pytestmark = NEEDS_CLUSTER


def psql(sql, db=DB):
    return local_pg.psql(sql, db)


def module(name, args, check=False):
    """Run soar.partman.<name> at -vvv as postgres; (returncode, stdout+stderr, result dict)."""
    cmd = local_pg.module_cmd(name, json.dumps(args), '-vvv')
    if check:
        cmd.append('--check')
    out = subprocess.run(cmd, capture_output=True, text=True, env=env(), check=False)
    text = out.stdout + out.stderr
    result = {}
    try:
        start = out.stdout.index('{')
        result = json.loads(out.stdout[start:])['plays'][0]['tasks'][0]['hosts']['localhost']
    except (ValueError, KeyError, IndexError):
        pass
    return out.returncode, text, result


def journal_since(since):
    """The journal since `since` (text), or None when no journal runs here."""
    if not shutil.which('journalctl') or not os.path.exists('/run/systemd/journal'):
        return None
    out = subprocess.run(['journalctl', '-q', '--no-pager', '--since', since], capture_output=True, text=True,
                         check=False)
    return out.stdout if out.returncode == 0 else None


TABLE_SQL = """
CREATE TABLE {t} (id bigserial PRIMARY KEY, received_at timestamptz NOT NULL, v int);
INSERT INTO {t} (received_at, v)
SELECT now() - interval '3 days' + g * interval '2 minutes', g FROM generate_series(1, 2000) g;
"""


@pytest.fixture(scope='module')
def database():
    psql('DROP DATABASE IF EXISTS %s' % DB, db='postgres')
    psql('CREATE DATABASE %s' % DB, db='postgres')
    psql('CREATE SCHEMA partman; CREATE EXTENSION pg_partman SCHEMA partman;')
    for t in ('public.canary_fixes', 'public."Fixes"', 'public.%s' % LONG, 'public."we""ird"'):
        psql(TABLE_SQL.format(t=t))
    yield DB
    if not os.environ.get('PARTMAN_SEC_KEEP'):
        psql('DROP DATABASE IF EXISTS %s' % DB, db='postgres')


BASE = {'login_db': DB}
# Two passwords: the same value in login_password (no_log) would mask the one in connect_params too.
LOGIN_CANARY = 'L0gin-canary'
SECRET = {'login_db': DB, 'login_password': LOGIN_CANARY,
          'connect_params': {'application_name': 'sec-it-app', 'connect_timeout': 17, 'password': CANARY}}
MIGRATE = {'control': 'received_at', 'interval': '1 day', 'premake': 3, 'jobs': 1, 'progress_interval': 1}


def test_secret_in_connect_params_is_never_printed_or_stored(database):
    since = time.strftime('%Y-%m-%d %H:%M:%S')
    outputs = []
    rc, text, res = module('partman_migrate', dict(SECRET, table='public.canary_fixes', **MIGRATE), check=True)
    outputs.append(text)
    assert rc == 0, text
    rc, text, res = module('partman_migrate', dict(SECRET, table='public.canary_fixes', **MIGRATE))
    outputs.append(text)
    assert rc == 0, text
    # harmless connection values are shown (not masked as no_log), the password is not
    args = res['invocation']['module_args']
    assert args['connect_params']['application_name'] == 'sec-it-app'
    assert args['connect_params']['password'] == 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER'
    assert args['connect_params']['connect_timeout'] == 17  # not masked: no_log values are the secret ones only
    for name, args in (('partman_info', dict(SECRET, table='', max_maintenance_age=0)),
                       ('partman_repair', dict(SECRET, table='public.canary_fixes')),
                       ('partman_finalize', dict(SECRET, table='public.canary_fixes'))):
        rc, text, res = module(name, args, check=True)
        outputs.append(text)
    for text in outputs:
        assert CANARY not in text and LOGIN_CANARY not in text
    stored = psql("SELECT coalesce(string_agg(t::text, ' '), '') FROM partman.partman_migrate_state t")
    assert 'canary_fixes' in stored
    assert CANARY not in stored and LOGIN_CANARY not in stored, 'a password is stored in partman_migrate_state'
    journal = journal_since(since)
    if journal is not None:
        assert CANARY not in journal and LOGIN_CANARY not in journal


def test_connection_string_as_database_is_refused(database):
    rc, text, res = module('partman_info', dict(BASE, login_db='dbname=%s password=%s' % (DB, CANARY)))
    assert rc != 0 and 'login_db is a connection string' in res.get('msg', ''), text
    assert res.get('changed') is False
    assert CANARY not in text


def test_partman_info_reads_every_set_with_a_quote_in_a_name(database):
    psql("""ALTER TABLE public."we""ird" RENAME TO "we""ird_plain";
            CREATE TABLE public."we""ird" (id bigint, received_at timestamptz NOT NULL) PARTITION BY RANGE (received_at);
            SELECT partman.create_parent('public.we"ird', 'received_at', 'native', 'daily');""")
    assert psql("SELECT count(*) FROM partman.part_config WHERE parent_table = 'public.we\"ird'") == '1'
    rc, text, res = module('partman_info', dict(BASE, table='', max_maintenance_age=0))
    assert rc == 0, text
    assert 'public.we"ird' in [s['parent'] for s in res['partition_sets']]
    rc, text, res = module('partman_info', dict(BASE, table='public."we""ird"', max_maintenance_age=0))
    assert rc == 0 and res['partition_set']['parent'] == 'public.we"ird', text


def test_refused_setting_is_not_a_connection_failure(database):
    before = psql("SELECT count(*) FROM pg_class")
    rc, text, res = module('partman_migrate', dict(BASE, table='public."Fixes"', maintenance_work_mem='lots',
                                                   **MIGRATE))
    assert rc != 0, text
    assert 'pg_hba.conf' not in res['msg'] and 'maintenance_work_mem' in res['msg'], res['msg']
    assert res.get('changed') is False
    assert psql("SELECT count(*) FROM pg_class") == before


def test_repair_refuses_negative_max_batches(database):
    rc, text, res = module('partman_repair', dict(BASE, table='public.canary_fixes', max_batches=-1))
    assert rc != 0 and res['msg'].startswith('max_batches is -1'), text
    assert res.get('changed') is False


PLAYBOOK = """
- name: Migrate with the role, then verify and read the status
  hosts: localhost
  gather_facts: false
  vars:
    ansible_python_interpreter: /usr/bin/python3
    ansible_become_method: su
    migration_table: {table}
    migration_database: {db}
    migration_jobs: 1
    migration_progress_interval: 1
    migration_login_password: {canary}
  tasks:
    - name: Preflight
      ansible.builtin.include_role:
        name: soar.partman.migration
        tasks_from: preflight.yml
    - name: Migrate
      ansible.builtin.include_role:
        name: soar.partman.migration
    - name: Verify
      ansible.builtin.include_role:
        name: soar.partman.migration
        tasks_from: verify.yml
    - name: Status
      ansible.builtin.include_role:
        name: soar.partman.migration
        tasks_from: status.yml
    - name: Write the outcome
      ansible.builtin.copy:
        dest: {out}
        mode: "0600"
        content: "{{{{ {{'status': migration_status, 'outcome': migration_outcome,
                         'verification': migration_verification}} | to_json }}}}"
"""


def run_role(table, tmp_path):
    book = tmp_path / 'play.yml'
    result = tmp_path / 'outcome.json'
    book.write_text(textwrap.dedent(PLAYBOOK.format(table=json.dumps(table), db=DB, canary=CANARY,
                                                    out=json.dumps(str(result)))))
    out = subprocess.run([ansible_bin('ansible-playbook'), '-vvv', '-i', 'localhost,', '-c', 'local', str(book)],
                         capture_output=True, text=True, env=env('ansible.builtin.default'), check=False)
    found = json.loads(result.read_text()) if result.exists() else {}
    return out.returncode, out.stdout + out.stderr, found


@pytest.mark.parametrize('table, key, old', [
    ('public."Fixes"', 'public.Fixes', 'public.Fixes_old'),
    ('"Fixes2"', None, None),
    ('public.' + LONG, 'public.' + LONG, 'public.' + LONG_OLD),
])
def test_role_migrates_verifies_and_reports_odd_names(database, tmp_path, table, key, old):
    if key is None:  # unqualified quoted mixed case: schema public
        psql(TABLE_SQL.format(t='public."Fixes2"'))
        key, old = 'public.Fixes2', 'public.Fixes2_old'
    rc, text, found = run_role(table, tmp_path)
    assert rc == 0, text[-6000:]
    assert CANARY not in text
    assert found['status']['table'] == 'partitioned', found
    assert found['status']['old_exists'] in (True, 'True'), found
    assert found['status']['old_table'] == old and found['outcome']['old_table'] == old, found
    assert found['status']['state']['step'] == 'done'
    assert int(found['verification']['new_rows']) == int(found['verification']['old_rows']) == 2000
    # the async job files: in a directory only postgres can enter, and removed once read
    jobdir = os.path.expanduser('~postgres/.ansible_async_soar_partman')
    st = os.stat(jobdir)
    assert oct(st.st_mode & 0o777) == '0o700', oct(st.st_mode)
    assert psql("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)" % sql_literal(
        '"public"."%s"' % key.split('.', 1)[1].replace('"', '""'))) == 'p'
    leftover = [f for f in os.listdir(jobdir) if not f.startswith('.')]
    assert leftover == [], leftover
    # nor the module's payload (its arguments hold the password) in the system temporary directories
    payloads = glob.glob('/var/tmp/ansible-tmp-*/AnsiballZ_partman_migrate.py') + glob.glob(
        '/tmp/ansible-tmp-*/AnsiballZ_partman_migrate.py')
    assert payloads == [], payloads


def sql_literal(text):
    return "'" + text.replace("'", "''") + "'"


def test_finalize_failed_drop_reports_no_change(database):
    """A DROP that fails (a view depends on the old table) is rolled back: changed must be false."""
    assert psql("SELECT step FROM partman.partman_migrate_state WHERE table_name = 'public.canary_fixes'") == 'done'
    psql('CREATE VIEW canary_old_view AS SELECT * FROM public.canary_fixes_old')
    try:
        rc, text, res = module('partman_finalize', dict(BASE, table='public.canary_fixes', confirm=True,
                                                        min_age='0 seconds'))
        assert rc != 0 and 'DROP TABLE public.canary_fixes_old failed' in res['msg'], text
        assert res['changed'] is False and res['dropped'] is False
        assert psql("SELECT to_regclass('public.canary_fixes_old') IS NOT NULL") == 't'
    finally:
        psql('DROP VIEW canary_old_view')
