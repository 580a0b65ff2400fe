#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: soar.partman contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: partman_config
short_description: Set or remove the retention of one pg_partman partition set, guarded
version_added: "0.1.0"
description:
  - Writes C(retention) and C(retention_keep_table) of one row of pg_partman's C(part_config).
  - Before writing, refuses a retention that is not a PostgreSQL interval with a unit (a bare number such as C(30) is
    read by PostgreSQL as seconds) or that is shorter than the set's C(partition_interval).
  - Computes what the next maintenance run would remove with the new settings (children whose range ends before
    C(now() - retention)) and refuses, changing nothing, when that would DROP partitions holding rows without
    O(retention_confirm_drop), or DETACH them from the table (O(retention_keep_table=true), or a C(retention_schema))
    without O(retention_confirm_detach). The message gives the partitions, rows and bytes.
  - Reports C(changed) only when C(part_config) differs from the wanted values.
author:
  - soar.partman maintainers (@soar)
requirements:
  - psycopg2 on the managed host (Debian package C(python3-psycopg2))
  - pg_partman 4.x or 5.x in the database
extends_documentation_fragment:
  - soar.partman.connection
options:
  table:
    description:
      - The partition set (its parent table), schema-qualified (C(public.fixes)); unqualified means C(public).
    type: str
    required: true
  partman_schema:
    description:
      - Schema pg_partman is installed in.
    type: str
    default: partman
  retention:
    description:
      - The retention as PostgreSQL interval text with a unit, at least the partition interval (C(30 days)).
      - C(none) removes the retention (C(part_config.retention) becomes NULL; nothing is removed any more).
      - Unset leaves the retention as it is.
    type: str
  retention_keep_table:
    description:
      - C(true) - partitions past the retention are detached and kept as tables; C(false) - they are dropped.
      - Unset leaves the value as it is.
    type: bool
  retention_confirm_drop:
    description:
      - Confirm that the next maintenance run may DROP partitions holding rows.
    type: bool
    default: false
  retention_confirm_detach:
    description:
      - Confirm that the next maintenance run may DETACH partitions holding rows from the table (the application no
        longer sees those rows).
    type: bool
    default: false
  var_prefix:
    description:
      - Put in front of the option names in messages, so that a role's user reads the variables they set (a role
        passes C(partman_maintenance_) and the messages name C(partman_maintenance_retention_confirm_detach)).
    type: str
    default: ''
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
notes:
  - Only time-based partition sets (a timestamp or date control column) are supported.
'''

EXAMPLES = r'''
- name: Keep 400 days of public.fixes; older partitions are detached, kept as tables
  become: true
  become_user: postgres
  soar.partman.partman_config:
    login_db: soar
    table: public.fixes
    retention: 400 days
    retention_keep_table: true
    retention_confirm_detach: true

- name: Remove the retention of public.fixes
  become: true
  become_user: postgres
  soar.partman.partman_config:
    login_db: soar
    table: public.fixes
    retention: none
'''

RETURN = r'''
parent:
  description: The partition set, as in C(part_config.parent_table).
  returned: success
  type: str
  sample: public.fixes
before:
  description: C(retention) and C(retention_keep_table) before the run.
  returned: success
  type: dict
  sample: {"retention": null, "retention_keep_table": true}
after:
  description: C(retention) and C(retention_keep_table) after the run (in check mode, what they would be).
  returned: success
  type: dict
  sample: {"retention": "400 days", "retention_keep_table": true}
retention:
  description:
    - What the next maintenance run would remove with the settings of RV(after) - C(action) (C(drop), C(detach),
      C(move to schema ...) or C(none)), C(cutoff), C(partitions), C(holding_data), C(rows_estimate), C(bytes),
      C(would_drop), C(would_detach), C(message).
  returned: success
  type: dict
queries:
  description: The statement run (in check mode, that would be run).
  returned: success
  type: list
  elements: str
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.soar.partman.plugins.module_utils.connection import (
    connection_argument_spec, HAS_PSYCOPG2, PSYCOPG2_IMPORT_ERROR, missing_required_lib,
)
from ansible_collections.soar.partman.plugins.module_utils.partman_config import run


def argument_spec():
    spec = connection_argument_spec()
    spec.update(
        table=dict(type='str', required=True),
        partman_schema=dict(type='str', default='partman'),
        retention=dict(type='str'),
        retention_keep_table=dict(type='bool'),
        retention_confirm_drop=dict(type='bool', default=False),
        retention_confirm_detach=dict(type='bool', default=False),
        var_prefix=dict(type='str', default=''),
    )
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    if not HAS_PSYCOPG2:
        module.fail_json(msg=missing_required_lib('psycopg2'), exception=PSYCOPG2_IMPORT_ERROR)
    run(module)


if __name__ == '__main__':
    main()
