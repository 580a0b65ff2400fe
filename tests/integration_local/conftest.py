# -*- coding: utf-8 -*-
"""The database of test_kill_resume.py and test_attack_fixes.py: the SOAR-like fixture with
PARTMAN_IT_ROWS fixes, made anew for each test file."""

from __future__ import absolute_import, division, print_function

import os
import subprocess

import pytest

from local_pg import HERE, psql

DB = os.environ.get('PARTMAN_IT_DB', 'migrate_it')
ROWS = int(os.environ.get('PARTMAN_IT_ROWS', '300000'))


@pytest.fixture(scope='module')
def database():
    psql('DROP DATABASE IF EXISTS %s' % DB, db='postgres')
    psql('CREATE DATABASE %s' % DB, db='postgres')
    out = subprocess.run(['su', 'postgres', '-c', 'psql -X -q -d %s -v rows=%d -f %s' % (
        DB, ROWS, os.path.join(HERE, 'fixture.sql'))], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    psql("CREATE TABLE fixes_orig AS SELECT * FROM fixes", db=DB)
    yield DB
