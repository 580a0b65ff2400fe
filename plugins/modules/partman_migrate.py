#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: soar.partman contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: partman_migrate
short_description: Convert a plain table into a pg_partman range-partitioned table, resumably
version_added: "0.1.0"
description:
  - Turns a plain (monolithic) table into a table partitioned by range on its time control column and
    managed by pg_partman 4.x or 5.x, during a maintenance window (writers stopped).
  - The table is renamed to C(<table><old_suffix>); a partitioned table with the original name, the same
    columns (types, defaults, NOT NULL, generated expressions, identity), CHECK constraints, comments,
    owner and grants is created and registered with pg_partman (C(create_parent) with named arguments for
    the installed major); one partition is created for every interval bucket holding data, plus O(premake)
    ahead, so nothing lands in the default partition and no empty partitions fill gaps in old data.
    The partitions get the owner and the table privileges of the parent, like the ones pg_partman creates
    later (C(inherit_privileges) is set).
  - Rows are copied in batches straight into each partition (or by heap block ranges through the parent when
    the old table has no index on the control column), committing per batch together with the progress
    recorded in a state table; progress (rows, rows/s, ETA) is logged to the host journal.
  - Indexes, primary key and unique constraints (widened to contain the control column, see RV(pk_changed))
    are built after the copy, optionally on several connections (O(jobs)); then outgoing foreign keys,
    triggers and inbound foreign keys are re-created, the table is analyzed and every partition is verified
    against the old table. The old table is never dropped.
  - With O(state=reverted) the plain table is put back under its name, with rows written to the partitioned
    table since the migration copied back.
author:
  - soar.partman maintainers (@soar)
requirements:
  - psycopg2 on the managed host (Debian package C(python3-psycopg2))
  - PostgreSQL 12 or newer (14 or newer for pg_partman 5 and for O(copy_method=ctid))
  - pg_partman 4.x or 5.x installed in the database (C(CREATE EXTENSION pg_partman SCHEMA partman))
extends_documentation_fragment:
  - soar.partman.connection
options:
  table:
    description:
      - The table to convert, schema-qualified (C(public.fixes)); unqualified means C(public).
    type: str
    required: true
  control:
    description:
      - The partition key column; C(timestamp with time zone), C(timestamp) or C(date); must hold no NULL.
    type: str
    required: true
  interval:
    description:
      - Partition interval as PostgreSQL interval text.
      - Supported are C(1 hour), C(1 day), C(1 week) (Monday-aligned), C(1 month), C(3 months) and C(1 year)
        (and their PostgreSQL spellings such as C(1 mon), C(7 days), C(daily)); others are refused.
    type: str
    default: 1 day
  premake:
    description:
      - Partitions pg_partman keeps ready ahead of the current one, 1 to 1000 (pg_partman makes them all in one
        transaction).
    type: int
    default: 3
  retention:
    description:
      - pg_partman retention (interval text such as C(90 days)); none by default. It needs a unit and must be at
        least one O(interval). A number alone (C(30), which C(-e retention=30 days) on a command line passes) is
        refused.
      - When partitions older than the retention hold rows, the first maintenance run would take them away from the
        table, dropping them (O(retention_keep_table=false)) or detaching them (true). The module refuses unless
        O(retention_confirm_drop=true) or O(retention_confirm_detach=true) respectively, and says how many
        partitions and rows that would be.
    type: str
  retention_keep_table:
    description:
      - Whether pg_partman only detaches (true) or drops (false) partitions past O(retention).
    type: bool
    default: true
  retention_confirm_drop:
    description:
      - Confirm that O(retention) with O(retention_keep_table=false) may drop migrated history.
    type: bool
    default: false
  retention_confirm_detach:
    description:
      - Confirm that O(retention) with O(retention_keep_table=true) may detach partitions holding migrated history
        from the table (they stay as plain tables, no longer read through it).
    type: bool
    default: false
  allow_future_rows:
    description:
      - Rows whose O(control) lies beyond now + O(premake) intervals are refused by default, with their number and
        range, because pg_partman's maintenance counts premake from the newest partition, so it would make no partitions
        for new rows until that date and they would land in the default partition.
      - V(true) migrates them anyway (with a warning); the partitions ahead are then yours to keep.
    type: bool
    default: false
  var_prefix:
    description:
      - Prefix put before an option's name where a message names it, so that a role's user reads the variable
        they set (role C(soar.partman.migration) passes C(migration_)).
    type: str
    default: ''
  state:
    description:
      - C(partitioned) migrates (or resumes a migration, or adjusts the pg_partman settings of a finished one).
      - C(reverted) puts the plain table back (see notes).
    type: str
    choices: [partitioned, reverted]
    default: partitioned
  batch_size:
    description:
      - Rows per copy batch (one transaction each).
    type: int
    default: 50000
  copy_pause_ratio:
    description:
      - After each copy batch, pause for this many times the batch's duration (C(1) copies at half the
        speed). For an online C(prepare) beside an application whose commits must stay quick, since the
        copy's WAL and page writes compete with them (see the README's benchmark for the latency it costs).
      - Above C(0), the indexes are built on each partition separately (also with O(jobs=1)) and each build
        is followed by the same pause, instead of one build per index on the parent.
      - C(0), the default, pauses never. Must not be negative.
    type: float
    default: 0.0
  jobs:
    description:
      - Parallel connections. With more than one, the partitions are copied on that many connections, each
        index is built on each partition separately (without parallel maintenance workers) and then attached
        to the parent, ANALYZE runs on one connection beside the index builds (unless an index has
        expressions), and the outgoing foreign keys are added to each partition beside the builds, so
        that the parent's keys take them over instead of validating every partition one after the
        other. Each build may use C(maintenance_work_mem).
      - With I(mode=online) the migration uses these connections and no parallel workers of PostgreSQL
        (C(max_parallel_maintenance_workers) and C(max_parallel_workers_per_gather) are 0 in its sessions),
        so that the cores it does not take stay with the application.
    type: int
    default: 1
  old_suffix:
    description:
      - Suffix of the old table and of its indexes after the rename.
    type: str
    default: _old
  verify:
    description:
      - C(count) compares row counts per partition with the old table; C(checksum) also compares an
        order-independent hash of every row.
    type: str
    choices: [count, checksum]
    default: count
  inbound_fks:
    description:
      - What to do with foreign keys of other tables referencing the table on columns that do not contain
        O(control) (a partitioned table can only be referenced through a key containing the partition key).
      - C(error) refuses before changing anything, naming them; C(drop) drops them and reports it (they are
        restored by O(state=reverted)).
      - Inbound foreign keys whose referenced columns contain O(control) are always re-pointed to the
        partitioned table.
    type: str
    choices: [error, drop]
    default: error
  copy_method:
    description:
      - C(range) copies each partition by slices of the control column and needs a btree index on the old
        table starting with O(control); C(ctid) copies heap block ranges through the parent (PostgreSQL 14+);
        C(auto) picks C(range) when such an index exists.
    type: str
    choices: [auto, range, ctid]
    default: auto
  partman_schema:
    description:
      - Schema pg_partman is installed in.
    type: str
    default: partman
  state_schema:
    description:
      - Schema of the state tables C(partman_migrate_state) and C(partman_migrate_partition); defaults to
        O(partman_schema).
    type: str
  lock_timeout:
    description:
      - Seconds to wait for a lock before failing (writers should be stopped).
    type: int
    default: 60
  maintenance_work_mem:
    description:
      - C(maintenance_work_mem) for the index builds, for example C(1GB); the server setting when unset.
    type: str
  disk_check:
    description:
      - Refuse to start when the free space of the data directory (readable when the module runs on the
        database host) is below the size of the table and its indexes.
    type: bool
    default: true
  run_maintenance:
    description:
      - Run pg_partman maintenance for this table once configured (applies O(retention) immediately).
    type: bool
    default: false
  progress_interval:
    description:
      - Seconds between progress lines in the journal during the copy.
    type: int
    default: 30
  mode:
    description:
      - V(offline) (writers stopped for the whole migration) or V(online).
      - V(online) builds the partitioned table beside the table in use, in the schema
        C(partman_migrate_online) under the table's name, while the application keeps writing to it. Triggers
        on the table record the key of every row inserted, updated or deleted from then on; the history is
        copied, indexes built, the table analyzed, the recorded changes applied in rounds and every partition
        verified under one snapshot. The cut-over (the window) applies the last changes, verifies the rows
        changed since, and swaps the names in one short transaction; it never reads the whole table. From
        then on the old table can be brought up to date again (reverse capture), so that O(state=reverted)
        is a swap back that loses no insert, update or delete; the playbook C(finalize.yml) ends that.
      - Online mode needs a primary key, a btree index on O(control), room for both tables plus the change
        log, and a role that may set C(session_replication_role) (a superuser).
    type: str
    choices: [offline, online]
    default: offline
  phase:
    description:
      - Online mode only. V(prepare) builds, fills and verifies the partitioned table and catches up with
        the changes (again on every later run); V(cutover) is the window (needs a finished V(prepare));
        V(all) is both.
    type: str
    choices: [prepare, cutover, all]
    default: all
  cutover_lock_timeout:
    description:
      - Online mode only. Seconds the cut-over (and the start of the capture) waits for the table's lock before
        it gives up, catches up again and retries. Writers queue behind a waiting lock, so this bounds how long
        they wait when the application is not stopped.
    type: float
    default: 2.0
  cutover_retries:
    description:
      - Online mode only. Attempts to take the lock after the first, before the cut-over fails (changing nothing).
    type: int
    default: 10
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Returns RV(plan) (partitions, rows to copy, indexes to build, disk needed, rough time) and changes nothing.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
notes:
  - Stop the writers first. The module takes an ACCESS EXCLUSIVE lock only in the short prepare step; rows written
    to the table afterwards go into the new partitioned table and are not copied from the old one.
  - One run per table - a run holds a session advisory lock on the table's name until its connection ends; a
    second run meanwhile fails before changing anything and names the session holding it.
  - Resume - every step is recorded in C(<state_schema>.partman_migrate_state) in the same transaction as its work;
    re-running the same task after a failure or a kill (even C(kill -9)) resumes where it stopped. A partition whose
    last batch had not committed is continued from the last committed slice. A finished migration re-run reports
    no change (unless the pg_partman settings differ, which are then updated).
  - Rollback - O(state=reverted) drops the re-pointed inbound foreign keys, copies rows present in the partitioned
    table but not in the old one (anti-join on the original primary key, or newer than the old maximum of
    O(control) when there is none) back into the old table, drops the partitions, the partitioned table and its
    pg_partman configuration, renames the old table and its indexes back and restores the inbound foreign keys.
    Updates and deletes made on the partitioned table after the migration are not carried back.
    Once the old table has been dropped, reverting is refused.
  - The old table C(<table><old_suffix>) is kept after a successful migration; drop it when satisfied.
  - Views and rules depending on the table, row level security policies, exclusion constraints, unique
    indexes on expressions and (before PostgreSQL 18) NOT VALID foreign keys are refused by the preflight
    with the fix to apply.
'''

EXAMPLES = r'''
- name: Partition public.fixes by day (maintenance window, application stopped)
  soar.partman.partman_migrate:
    login_db: soar
    table: public.fixes
    control: received_at
    interval: 1 day
    premake: 3
    jobs: 4
    verify: count
  register: migration

- name: Show what would be done
  soar.partman.partman_migrate:
    login_db: soar
    table: public.fixes
    control: received_at
    interval: 1 day
  check_mode: true
  register: plan

- name: Put the plain table back
  soar.partman.partman_migrate:
    login_db: soar
    table: public.fixes
    control: received_at
    state: reverted
'''

RETURN = r'''
changed:
  description: Whether anything was changed.
  returned: always
  type: bool
partitions:
  description: Partitions of the new table (in check mode, the partitions that would be created).
  returned: always
  type: list
  elements: str
  sample: [public.fixes_p2024_05_01, public.fixes_p2024_05_02, public.fixes_default]
rows_copied:
  description: Rows per partition (after verification, the rows each partition holds).
  returned: always
  type: dict
  sample: {public.fixes_p2024_05_01: 1203311}
seconds:
  description: Seconds spent per step in this run.
  returned: always
  type: dict
  sample: {preflight: 1.2, prepare: 0.3, copied: 512.7, indexed: 301.0}
queries:
  description: The SQL statements run (copy batches are listed once per partition).
  returned: always
  type: list
  elements: str
warnings:
  description: Things to know, for example inbound foreign keys dropped or free disk space unknown.
  returned: always
  type: list
  elements: str
pk_changed:
  description: Primary key and unique constraints widened to contain the control column.
  returned: always
  type: list
  elements: str
  sample: ["PRIMARY KEY (id) -> (id, received_at)"]
partman_version:
  description: The pg_partman version installed in the database.
  returned: when connected
  type: str
  sample: 5.2.4
plan:
  description: The migration plan (partitions, rows_to_copy, indexes_to_build, disk_needed, estimated_time, ...).
  returned: always
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.soar.partman.plugins.module_utils.connection import (
    connection_argument_spec, HAS_PSYCOPG2, PSYCOPG2_IMPORT_ERROR, missing_required_lib, protect_secrets,
)
from ansible_collections.soar.partman.plugins.module_utils.migration.runner import run


def argument_spec():
    spec = connection_argument_spec()
    spec.update(
        table=dict(type='str', required=True),
        control=dict(type='str', required=True),
        interval=dict(type='str', default='1 day'),
        premake=dict(type='int', default=3),
        retention=dict(type='str'),
        retention_keep_table=dict(type='bool', default=True),
        retention_confirm_drop=dict(type='bool', default=False),
        retention_confirm_detach=dict(type='bool', default=False),
        allow_future_rows=dict(type='bool', default=False),
        var_prefix=dict(type='str', default=''),
        state=dict(type='str', default='partitioned', choices=['partitioned', 'reverted']),
        batch_size=dict(type='int', default=50000),
        copy_pause_ratio=dict(type='float', default=0.0),
        jobs=dict(type='int', default=1),
        old_suffix=dict(type='str', default='_old'),
        verify=dict(type='str', default='count', choices=['count', 'checksum']),
        inbound_fks=dict(type='str', default='error', choices=['error', 'drop']),
        copy_method=dict(type='str', default='auto', choices=['auto', 'range', 'ctid']),
        partman_schema=dict(type='str', default='partman'),
        state_schema=dict(type='str'),
        lock_timeout=dict(type='int', default=60),
        maintenance_work_mem=dict(type='str'),
        disk_check=dict(type='bool', default=True),
        run_maintenance=dict(type='bool', default=False),
        progress_interval=dict(type='int', default=30),
        mode=dict(type='str', default='offline', choices=['offline', 'online']),
        phase=dict(type='str', default='all', choices=['prepare', 'cutover', 'all']),
        cutover_lock_timeout=dict(type='float', default=2.0),
        cutover_retries=dict(type='int', default=10),
    )
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    protect_secrets(module)
    if not HAS_PSYCOPG2:
        module.fail_json(msg=missing_required_lib('psycopg2'), exception=PSYCOPG2_IMPORT_ERROR)
    run(module)


if __name__ == '__main__':
    main()
