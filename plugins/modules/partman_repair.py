#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: soar.partman contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: partman_repair
short_description: Move rows stranded in the default partition into proper children, then run maintenance
version_added: "0.1.0"
description:
  - When maintenance stopped, rows for days without a child land in the default partition, and pg_partman then
    refuses to create those children (C(updated partition constraint for default partition would be violated)).
    This module ends that state for a time-based partition set.
  - It calls pg_partman's own C(partition_data_time) (same arguments in 4.x and 5.x) once per transaction - each
    call moves the rows of one partition interval out of the default into a temporary table, creates the child
    and inserts the rows into it - and commits after each, so an interrupted repair resumes where it stopped.
    Generated columns are left out of the copy (they are computed again).
  - Then runs maintenance for the set (C(run_maintenance)), which creates the partitions ahead again.
  - A second run finds the default empty and changes nothing (unless maintenance creates partitions).
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
      - The partitioned table, schema-qualified (C(public.fixes)).
    type: str
    required: true
  partman_schema:
    description:
      - Schema pg_partman is installed in.
    type: str
    default: partman
  max_batches:
    description:
      - Stop after this many batches (one partition interval each); C(0) moves everything. A negative value is
        refused before anything is changed.
    type: int
    default: 0
  lock_wait:
    description:
      - Seconds C(partition_data_time) waits for the row locks of a batch (writers may hold them); C(0) waits
        without limit.
    type: int
    default: 30
  lock_timeout:
    description:
      - Seconds to wait for table locks (each batch locks the default partition against writes until it commits,
        creating a child locks the parent briefly).
    type: int
    default: 60
  run_maintenance:
    description:
      - Run pg_partman maintenance for the set once the default partition is empty.
    type: bool
    default: true
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Reports the rows in the default partition per interval (RV(buckets)) and moves nothing.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
notes:
  - Writers may keep running; each batch locks the rows it moves (up to O(lock_wait)) and, briefly, the parent.
  - Rows older than a retention with C(retention_keep_table=false) are moved too, and their children are dropped by
    the next maintenance run; the module warns about them.
'''

EXAMPLES = r'''
- name: Empty the default partition of public.fixes and run maintenance
  become: true
  become_user: postgres
  soar.partman.partman_repair:
    login_db: soar
    table: public.fixes
  register: repair

- name: See what is stranded, change nothing
  become: true
  become_user: postgres
  soar.partman.partman_repair:
    login_db: soar
    table: public.fixes
  check_mode: true
'''

RETURN = r'''
table:
  description: The partition set repaired.
  returned: success
  type: str
  sample: public.fixes
partman_version:
  description: The pg_partman version installed in the database.
  returned: success
  type: str
default_partition:
  description: The default partition (none when the set has none).
  returned: success
  type: str
  sample: public.fixes_default
default_rows_before:
  description: Rows in the default partition before the run.
  returned: success
  type: int
default_rows_after:
  description: Rows in the default partition after the run.
  returned: success
  type: int
rows_moved:
  description: Rows moved into children by this run.
  returned: success
  type: int
batches:
  description: Transactions committed (one partition interval each).
  returned: success
  type: int
partitions_created:
  description: Children created by this run (by the moves and by maintenance).
  returned: success
  type: list
  elements: str
buckets:
  description: Rows in the default partition before the run, per partition interval (C(start), C(rows), C(min), C(max)).
  returned: success
  type: list
  elements: dict
maintenance:
  description: Whether maintenance ran for the set.
  returned: success
  type: bool
seconds:
  description: Seconds spent moving rows.
  returned: success
  type: float
notices:
  description: Things to know (rows older than the retention, rows left when O(max_batches) was reached), also shown as warnings.
  returned: success
  type: list
  elements: str
queries:
  description: The statements run (the batch statement once).
  returned: success
  type: list
  elements: str
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.soar.partman.plugins.module_utils.connection import (
    connection_argument_spec, HAS_PSYCOPG2, PSYCOPG2_IMPORT_ERROR, missing_required_lib, protect_secrets,
)
from ansible_collections.soar.partman.plugins.module_utils.repair import run


def argument_spec():
    spec = connection_argument_spec()
    spec.update(
        table=dict(type='str', required=True),
        partman_schema=dict(type='str', default='partman'),
        max_batches=dict(type='int', default=0),
        lock_wait=dict(type='int', default=30),
        lock_timeout=dict(type='int', default=60),
        run_maintenance=dict(type='bool', default=True),
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
