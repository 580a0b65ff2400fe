# -*- coding: utf-8 -*-
"""Role soar.partman.migration reads migration_table the way partman_migrate reads its table option
(plan.split_table_name): the key of the state tables, the quoted name for SQL and the old table's name
(plan.truncate_name) agree with the module's, for quoted mixed-case names, quotes inside names and a
62-character name (issue 10: "status reports a quoted mixed-case table as missing", "<name>_old
untruncated")."""

import os

import pytest

from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from ansible_collections.soar.partman.plugins.module_utils import names as plan

ROLE = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'roles', 'migration')


def role_values(table, suffix='_old'):
    loader = DataLoader()
    variables = dict(loader.load_from_file(os.path.join(ROLE, 'defaults', 'main.yml'), trusted_as_template=True))
    variables.update(loader.load_from_file(os.path.join(ROLE, 'vars', 'main.yml'), trusted_as_template=True))
    variables['migration_table'] = table
    variables['migration_old_suffix'] = suffix
    templar = Templar(loader=loader, variables=variables)
    return dict((k, templar.template(trust_as_template('{{ %s }}' % k)))
                for k in ('migration_table_schema', 'migration_table_name', 'migration_table_key',
                          'migration_q_table', 'migration_old_key_computed'))


def quoted(schema, name):
    return '"%s"."%s"' % (schema.replace('"', '""'), name.replace('"', '""'))


@pytest.mark.parametrize('table', [
    'public.fixes', 'fixes', 'public."Fixes"', '"Fixes"', 'public.Fixes', 'public."we""ird"',
    '"My Schema"."Fixes"', 'soar.fixes', 'public.fixes_' + 'x' * 56, 'public.' + 'a' * 63,
])
@pytest.mark.parametrize('suffix', ['_old', '_before_partman'])
def test_role_names_are_the_modules(table, suffix):
    schema, name = plan.split_table_name(table)
    got = role_values(table, suffix)
    assert (got['migration_table_schema'], got['migration_table_name']) == (schema, name)
    assert got['migration_table_key'] == '%s.%s' % (schema, name)           # partman_migrate's state key
    assert got['migration_q_table'] == quoted(schema, name)
    # what the module passes back through its own parser is the same table
    assert plan.split_table_name(got['migration_q_table']) == (schema, name)
    assert got['migration_old_key_computed'] == '%s.%s' % (schema, plan.truncate_name(name, suffix))
