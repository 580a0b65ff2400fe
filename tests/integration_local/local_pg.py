# -*- coding: utf-8 -*-
"""What the tests against the local PostgreSQL share: psql as the postgres OS user, the skip when
there is no cluster (or no root), the environment that finds the collection, and the module run
through `ansible` ad hoc as postgres."""

from __future__ import absolute_import, division, print_function

import os
import subprocess

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..'))


def psql(sql, db):
    out = subprocess.run(['su', 'postgres', '-c', 'psql -X -At -v ON_ERROR_STOP=1 -d %s' % db],
                         input=sql, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    return out.stdout.strip()


def have_cluster():
    try:
        psql('SELECT 1', db='postgres')
        return True
    except Exception:
        return False


NEEDS_CLUSTER = pytest.mark.skipif(os.geteuid() != 0 or not have_cluster(),
                                   reason='needs root and a local PostgreSQL cluster')


def env(callback='ansible.builtin.json'):
    e = dict(os.environ)
    e['ANSIBLE_COLLECTIONS_PATH'] = os.path.join(ROOT, '.collections')
    e['ANSIBLE_CONFIG'] = os.path.join(ROOT, 'ansible.cfg')
    e['ANSIBLE_LOCALHOST_WARNING'] = 'False'
    e['ANSIBLE_STDOUT_CALLBACK'] = callback
    e['ANSIBLE_LOAD_CALLBACK_PLUGINS'] = '1'
    e['ANSIBLE_FORCE_COLOR'] = '0'
    return e


def ansible_bin(name='ansible'):
    venv = os.path.join(ROOT, '.venv', 'bin', name)
    return os.environ.get('PARTMAN_IT_ANSIBLE') or (venv if os.path.exists(venv) else name)


def module_cmd(name, args, *extra):
    """`ansible localhost -m soar.partman.<name> -a <args>` as the postgres OS user."""
    return [ansible_bin(), 'localhost'] + list(extra) + [
        '-e', 'ansible_python_interpreter=/usr/bin/python3',
        '--become', '--become-method', 'su', '--become-user', 'postgres',
        '-m', 'soar.partman.' + name, '-a', args]
