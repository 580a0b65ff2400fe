# -*- coding: utf-8 -*-
"""playbooks/templates/runbook_failure.j2: the journal command it prints finds the module's log."""

import os
import re

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))


def journal_identifier(module):
    """The syslog identifier AnsibleModule.log uses: 'ansible-' + the module's name as the controller
    passes it (_ansible_module_name: the FQCN the roles call it by)."""
    with open(os.path.join(ROOT, 'galaxy.yml')) as f:
        galaxy = yaml.safe_load(f)
    return 'ansible-%s.%s.%s' % (galaxy['namespace'], galaxy['name'], module)


def journal_commands(path):
    with open(os.path.join(ROOT, path)) as f:
        return re.findall(r'journalctl -t (\S+?)[`).]*(?:\s|$)', f.read())


def test_the_failure_message_names_the_module_journal_identifier():
    found = journal_commands('playbooks/templates/runbook_failure.j2')
    assert found == [journal_identifier('partman_migrate')]


def test_the_readme_names_the_module_journal_identifier():
    found = journal_commands('README.md')
    assert found and set(found) == {journal_identifier('partman_migrate')}


def test_the_roles_call_the_module_by_its_fqcn():
    # the identifier holds the name the task used: the FQCN, as every role writes it
    with open(os.path.join(ROOT, 'roles/migration/tasks/main.yml')) as f:
        text = f.read()
    assert 'soar.partman.partman_migrate:' in text
    assert not re.search(r'^\s+partman_migrate:', text, re.M)
