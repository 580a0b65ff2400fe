#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: soar.partman contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: partman_finalize
short_description: Drop the old table a partman_migrate migration kept, once that is safe
version_added: "0.1.0"
description:
  - After M(soar.partman.partman_migrate) the plain table is kept as C(<table><old_suffix>) so that the migration can
    be reverted. This module drops it, and only when all of these hold
    - the migration recorded in partman_migrate's state table is finished;
    - the table is the partitioned one;
    - the migration finished at least O(min_age) ago;
    - every row of the old table is in the partitioned table (anti-join on the old table's primary key and the
      control column, or on every stored column when there is no primary key), checked while the old table is
      locked against writes;
    - O(confirm=true).
  - Every condition is checked and reported even when an earlier one fails; a refusal fails the task and lists
    everything that is missing.
  - Once dropped, the migration can no longer be reverted.
author:
  - soar.partman maintainers (@soar)
requirements:
  - psycopg2 on the managed host (Debian package C(python3-psycopg2))
extends_documentation_fragment:
  - soar.partman.connection
options:
  table:
    description:
      - The migrated table, schema-qualified (C(public.fixes)); unqualified means C(public).
    type: str
    required: true
  old_suffix:
    description:
      - Suffix the migration gave the old table (the state table's record wins when present).
    type: str
    default: _old
  min_age:
    description:
      - How long ago the migration must have finished, as PostgreSQL interval text (C(7 days), C(12 hours)).
    type: str
    default: 7 days
  confirm:
    description:
      - Must be true for anything to be dropped.
    type: bool
    default: false
  partman_schema:
    description:
      - Schema of pg_partman, where partman_migrate keeps its state tables by default.
    type: str
    default: partman
  state_schema:
    description:
      - Schema of partman_migrate's state tables, when not O(partman_schema).
    type: str
  lock_timeout:
    description:
      - Seconds to wait for the locks on the old table.
    type: int
    default: 60
attributes:
  check_mode:
    description: Runs every check and says whether the table would be dropped; drops nothing.
    support: full
  diff_mode:
    description: Not supported.
    support: none
notes:
  - The row check reads both tables in full; on a large table it takes about as long as a sequential scan of each.
'''

EXAMPLES = r'''
- name: Drop public.fixes_old a week after the migration, once every row is found in public.fixes
  become: true
  become_user: postgres
  soar.partman.partman_finalize:
    login_db: soar
    table: public.fixes
    min_age: 7 days
    confirm: true

- name: Only check (nothing is dropped without confirm)
  soar.partman.partman_finalize:
    login_db: soar
    table: public.fixes
  check_mode: true
  register: finalize
'''

RETURN = r'''
dropped:
  description: Whether the old table was dropped by this run.
  returned: always
  type: bool
table:
  description: The partitioned table.
  returned: always
  type: str
  sample: public.fixes
old_table:
  description: The old table.
  returned: always
  type: str
  sample: public.fixes_old
old_rows:
  description: Rows in the old table (null when it does not exist).
  returned: always
  type: int
missing_rows:
  description: Rows of the old table not found in the partitioned table (null when not compared).
  returned: always
  type: int
finished_at:
  description: When the migration finished.
  returned: always
  type: str
age:
  description: Time since the migration finished.
  returned: always
  type: str
  sample: "8 days 02:11:07"
checks:
  description: Every condition with whether it holds and why.
  returned: always
  type: list
  elements: dict
  sample: [{"name": "age", "ok": false, "detail": "the migration finished only 00:05:00 ago; min_age is 7 days"}]
queries:
  description: The statements run.
  returned: always
  type: list
  elements: str
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.soar.partman.plugins.module_utils.connection import (
    connection_argument_spec, HAS_PSYCOPG2, PSYCOPG2_IMPORT_ERROR, missing_required_lib, protect_secrets,
)
from ansible_collections.soar.partman.plugins.module_utils.finalize import run


def argument_spec():
    spec = connection_argument_spec()
    spec.update(
        table=dict(type='str', required=True),
        old_suffix=dict(type='str', default='_old'),
        min_age=dict(type='str', default='7 days'),
        confirm=dict(type='bool', default=False),
        partman_schema=dict(type='str', default='partman'),
        state_schema=dict(type='str'),
        lock_timeout=dict(type='int', default=60),
    )
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    if not HAS_PSYCOPG2:
        module.fail_json(msg=missing_required_lib('psycopg2'), exception=PSYCOPG2_IMPORT_ERROR)
    protect_secrets(module)
    run(module)


if __name__ == '__main__':
    main()
