# -*- coding: utf-8 -*-
"""The scheduled maintenance block (module_utils repair.scheduled_call) retries a lock error that
pg_partman raised from inside its own functions. pg_partman 4.x catches every error there and raises
its text again as a plain exception (SQLSTATE P0001): a lock timeout in run_maintenance() then looked
like any other failure, and the set's maintenance failed at once instead of being retried.

By hand, against the local cluster with pg_partman installed:
`.venv/bin/pytest tests/integration_local/test_scheduled_lock_retry.py`."""

from __future__ import absolute_import, division, print_function

import os
import subprocess
import sys
import time

from local_pg import NEEDS_CLUSTER, ROOT, psql

sys.path.insert(0, os.path.join(ROOT, '.collections'))
from ansible_collections.soar.partman.plugins.module_utils import repair  # noqa: E402  pylint: disable=wrong-import-position

DB = 'scheduled_lock_it'


def _setup():
    psql('DROP DATABASE IF EXISTS %s' % DB, db='postgres')
    psql('CREATE DATABASE %s' % DB, db='postgres')
    psql('CREATE SCHEMA partman; CREATE EXTENSION pg_partman SCHEMA partman;', db=DB)
    version = psql("SELECT extversion FROM pg_extension WHERE extname = 'pg_partman'", db=DB)
    psql('CREATE TABLE public.t (ts timestamptz NOT NULL, v int) PARTITION BY RANGE (ts);', db=DB)
    if version.startswith('4.'):
        psql("SELECT partman.create_parent('public.t', 'ts', 'native', 'daily', p_premake := 2)", db=DB)
    else:
        psql("SELECT partman.create_parent('public.t', 'ts', '1 day', p_premake := 2)", db=DB)
    return version


@NEEDS_CLUSTER
def test_a_lock_error_raised_inside_pg_partman_is_retried():
    version = _setup()
    # A session holds the parent for 5 s: run_maintenance() cannot read it within the 1 s lock_timeout.
    holder = subprocess.Popen(['su', 'postgres', '-c', 'psql -X -q -d %s' % DB], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    holder.stdin.write('BEGIN; LOCK TABLE public.t IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(5); COMMIT;\n')
    holder.stdin.close()
    deadline = time.time() + 10
    while psql("SELECT count(*) FROM pg_locks WHERE relation = 'public.t'::regclass AND mode = 'AccessExclusiveLock'"
               " AND granted", db=DB) != '1':
        assert time.time() < deadline, 'the holding session did not take its lock'
        time.sleep(0.1)
    block = repair.scheduled_call('partman', version, self_heal=False, lock_timeout=1, retry_seconds=60, max_delay=2)
    t0 = time.time()
    out = subprocess.run(['su', 'postgres', '-c', 'psql -X -v ON_ERROR_STOP=1 -d %s' % DB], input=block + ';\n',
                         capture_output=True, text=True, check=False)
    holder.wait(timeout=30)
    assert out.returncode == 0, out.stderr
    # It waited for the holder, through retries, instead of failing at the first timeout.
    assert 'lock timeout' in out.stderr and 'retrying in' in out.stderr, out.stderr
    assert time.time() - t0 >= 3
    if version.startswith('4.'):
        # The error it retried was pg_partman's re-raised one, not PostgreSQL's own.
        assert '(maintenance of public.t); retrying in' in out.stderr, out.stderr
    assert psql("SELECT count(*) FROM pg_inherits WHERE inhparent = 'public.t'::regclass", db=DB) != '0'


@NEEDS_CLUSTER
def test_an_error_that_is_not_about_locks_fails_the_set_at_once():
    version = _setup()
    # Children to create but the template table gone: an error of pg_partman's (P0001 on 4.x) that no
    # retry mends.
    template = psql("SELECT template_table FROM partman.part_config WHERE parent_table = 'public.t'", db=DB)
    psql("INSERT INTO public.t VALUES (now(), 1); UPDATE partman.part_config SET premake = 40"
         " WHERE parent_table = 'public.t'; DROP TABLE %s" % template, db=DB)
    block = repair.scheduled_call('partman', version, self_heal=False, lock_timeout=1, retry_seconds=60, max_delay=2)
    t0 = time.time()
    out = subprocess.run(['su', 'postgres', '-c', 'psql -X -v ON_ERROR_STOP=1 -d %s' % DB], input=block + ';\n',
                         capture_output=True, text=True, check=False)
    assert out.returncode != 0
    assert 'maintenance failed for 1 set(s): public.t' in out.stderr, out.stderr
    assert 'retrying in' not in out.stderr and time.time() - t0 < 10, out.stderr
