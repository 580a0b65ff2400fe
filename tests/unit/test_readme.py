# -*- coding: utf-8 -*-
"""README.md: every runbook step as a line to paste against the demo, each naming a playbook that
exists and variables the roles know; the set-up lines set what the Makefile sets."""

import os
import re

import yaml

ROOT = os.path.join(os.path.dirname(__file__), '..', '..')


def readme():
    with open(os.path.join(ROOT, 'README.md')) as f:
        return f.read()


def demo_lines():
    return [l for l in readme().splitlines() if l.startswith('ansible-playbook ') and '-i inventories/demo -l demo' in l]


def role_variables():
    names = set()
    for role in ('migration', 'partman_maintenance', 'service', 'partman', 'pg_cron'):
        with open(os.path.join(ROOT, 'roles', role, 'meta', 'argument_specs.yml')) as f:
            for entry in yaml.safe_load(f)['argument_specs'].values():
                names.update(entry.get('options', {}))
    return names


def playbook_variables():
    """Variables the playbooks read with a default (migration_preflight_only, status_follow, ...)."""
    names = set()
    for name in os.listdir(os.path.join(ROOT, 'playbooks')):
        if name.endswith('.yml'):
            with open(os.path.join(ROOT, 'playbooks', name)) as f:
                names.update(re.findall(r'(\w+) \| default\(', f.read()))
    return names


def test_every_runbook_step_has_a_line_against_the_demo():
    playbooks = [re.match(r'ansible-playbook (playbooks/\S+)', l).group(1) for l in demo_lines()]
    for step in ('migrate', 'status', 'verify', 'rollback', 'maintenance', 'repair', 'finalize'):
        assert 'playbooks/%s.yml' % step in playbooks, step
    assert any('migration_preflight_only=true' in l for l in demo_lines())
    for p in playbooks:
        assert os.path.exists(os.path.join(ROOT, p)), p


def test_the_demo_inventory_has_the_group_the_lines_limit_to():
    with open(os.path.join(ROOT, 'inventories', 'demo', 'hosts.yml')) as f:
        inv = yaml.safe_load(f)
    assert 'demo' in inv['all']['children']


def test_the_set_up_lines_set_what_the_makefile_sets():
    text = readme()
    with open(os.path.join(ROOT, 'Makefile')) as f:
        make = f.read()
    assert 'export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg' in make
    assert 'export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/.collections' in make
    assert '. .venv/bin/activate\nexport ANSIBLE_CONFIG=$PWD/ansible.cfg ANSIBLE_COLLECTIONS_PATH=$PWD/.collections' in text


def test_the_variables_given_with_e_and_listed_are_role_variables():
    known = role_variables() | playbook_variables()
    for l in demo_lines():
        for name in re.findall(r'-e (\w+)=', l):
            assert name in known, name
    table = readme().split('A step that refuses names the variable to set')[1].split('### ')[0]
    listed = set(re.findall(r'`((?:migration|partman_maintenance|rollback)_\w+)`', table))
    assert 'migration_retention_confirm_drop' in listed and 'migration_control' in listed
    assert listed <= known, listed - known
