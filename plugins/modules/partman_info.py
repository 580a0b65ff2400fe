#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: soar.partman contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: partman_info
short_description: Facts about pg_partman partition sets and their maintenance
version_added: "0.1.0"
description:
  - Reads, for one partition set (O(table)) or every set in C(part_config), its partitions with bounds,
    rows (estimated from the statistics, or exact with O(exact_counts)) and sizes, the rows in the default
    partition (always counted exactly), how many partitions exist ahead of now, the partition covering now,
    the C(part_config) row and what the retention would remove.
  - Finds the last maintenance run where it can be known, for the backend in place (O(backend)) -
    C(cron) from the log the maintenance script appends to, C(systemd) from C(systemctl show) of the
    service (Result, ExecMainStatus, timestamps), C(pg_cron) from C(cron.job_run_details),
    C(bgw) from C(part_config.maintenance_last_run) (pg_partman 5.x) and the PostgreSQL server log.
  - Judges the health the verify playbook relies on - no rows in the default partition, at least
    C(premake) partitions ahead, a partition covering now, and a successful maintenance run no older than
    O(max_maintenance_age) - and returns RV(problems), each with the fix.
  - Returns the maintenance call right for the installed pg_partman (RV(maintenance_call)).
  - With C(migration) in O(gather), reads where the migration of O(table) by M(soar.partman.partman_migrate)
    stands (RV(migration)) - its state row, progress and whether a run holds the migration lock - so that a
    play follows or checks a migration without SQL of its own.
  - Changes nothing, also outside check mode.
author:
  - soar.partman maintainers (@soar)
requirements:
  - psycopg2 on the managed host (Debian package C(python3-psycopg2))
  - pg_partman 4.x or 5.x in the database
extends_documentation_fragment:
  - soar.partman.connection
  - soar.partman.maintenance_evidence
options:
  table:
    description:
      - The partitioned table, schema-qualified (C(public.fixes)); empty means every partition set in C(part_config).
      - With C(migration) in O(gather), the table whose migration is read (it need not be partitioned yet).
    type: str
    default: ''
  gather:
    description:
      - What to read - C(partition_sets) (RV(partition_sets), RV(partition_set)), C(maintenance) (RV(maintenance),
        the maintenance checks of RV(problems)), C(migration) (RV(migration), needs O(table)).
      - Without C(partition_sets) and C(maintenance), pg_partman need not be installed and RV(partman_version) is
        null.
    type: list
    elements: str
    choices: [partition_sets, maintenance, migration]
    default: [partition_sets, maintenance]
  old_suffix:
    description:
      - With C(migration) in O(gather), the suffix of the old table when no state row records it (as
        O(soar.partman.partman_migrate#module:old_suffix)).
    type: str
    default: _old
  partman_schema:
    description:
      - Schema pg_partman is installed in.
    type: str
    default: partman
  exact_counts:
    description:
      - Count the rows of every partition exactly (a scan of each); otherwise the planner's estimate
        (C(reltuples)) is returned. The default partition is always counted exactly.
    type: bool
    default: false
  retention:
    description:
      - Judge the retention as if it were this (interval text such as C(90 days)) for O(table), instead of the
        value in C(part_config).
    type: str
  retention_keep_table:
    description:
      - Judge the retention as if C(retention_keep_table) were this for O(table).
    type: bool
  maintenance_analyze:
    description:
      - Value of C(p_analyze) in RV(maintenance_call).
    type: bool
    default: false
  maintenance_job:
    description:
      - Make RV(maintenance_call) the SQL of the scheduled job of role C(partman_maintenance) - one C(DO) block that
        moves rows out of default partitions (with O(self_heal)), then runs every set's maintenance, one set per
        transaction, retrying lock timeouts with backoff for O(retry_seconds) - instead of pg_partman's
        C(run_maintenance_proc) call.
    type: bool
    default: false
  self_heal:
    description:
      - With O(maintenance_job), move the rows of each time-based set's default partition into proper children
        (C(partition_data_time), newest interval first, one interval per transaction, each batch rolled back unless
        the child holds every row that left the default), then create the children missing between now and the
        newest child. Rows older than a retention that drops tables are left for a person.
    type: bool
    default: true
  self_heal_max_batches:
    description:
      - With O(maintenance_job) and O(self_heal), at most this many intervals moved per set and run (the next run
        continues).
    type: int
    default: 50
  lock_wait:
    description:
      - With O(maintenance_job), seconds C(partition_data_time) waits for the row locks of a batch.
    type: int
    default: 30
  lock_timeout:
    description:
      - With O(maintenance_job), the job's C(lock_timeout) in seconds; a lock not had within it is retried.
    type: int
    default: 10
  retry_seconds:
    description:
      - With O(maintenance_job), seconds after which a lock failure is no longer retried (backoff 1, 2, 4 ... 60 s).
    type: int
    default: 600
  var_prefix:
    description:
      - Put in front of option names in the messages of RV(problems), so that a playbook passing its variables'
        prefix (C(partman_verify_)) gets messages naming its variables.
    type: str
    default: ''
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: The module never changes anything.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
notes:
  - Run it on the database host as the cluster owner (C(become_user=postgres)) so the unix socket, the logs and
    C(systemctl show) are at hand.
  - The systemd evidence is what systemd remembers of the service's last run; after a reboot it is empty until the
    timer runs the service again (the journal keeps the history, C(journalctl -u <job_name>)).
'''

EXAMPLES = r'''
- name: Read the state of public.fixes and its maintenance
  become: true
  become_user: postgres
  soar.partman.partman_info:
    login_db: soar
    table: public.fixes
    backend: systemd
  register: info

- name: Fail when rows are stranded in the default partition
  ansible.builtin.assert:
    that: info.partition_set.default_rows == 0
    fail_msg: "{{ info.problems | join('; ') }}"

- name: Health of every partition set, a just-migrated table allowed to have no maintenance run yet
  become: true
  become_user: postgres
  soar.partman.partman_info:
    login_db: soar
    allow_no_maintenance: true
  register: all_sets

- name: Where the migration of public.fixes stands (who holds its lock, its progress line)
  become: true
  become_user: postgres
  soar.partman.partman_info:
    login_db: soar
    table: public.fixes
    gather: [migration]
  register: info

- name: Show it
  ansible.builtin.debug:
    msg: "{{ info.migration.table }}: {{ info.migration.line }}"
'''

RETURN = r'''
partman_version:
  description: The pg_partman version installed in the database (null when not installed and not needed).
  returned: success
  type: str
  sample: 5.2.4
partman_major:
  description: Its major version.
  returned: success
  type: int
  sample: 5
partman_schema:
  description: Schema of pg_partman.
  returned: success
  type: str
  sample: partman
partition_sets:
  description:
    - One entry per partition set read, with C(parent), C(control), C(interval), C(premake), C(config)
      (the C(part_config) row), C(partitions) (C(name), C(from), C(to), C(is_default), C(rows), C(rows_exact),
      C(bytes), C(ahead)), C(partition_count), C(default_partition), C(default_rows), C(partitions_ahead),
      C(current_partition), C(newest_partition_end), C(retention) (what it would remove) and
      C(maintenance_last_run) (pg_partman 5.x).
  returned: success
  type: list
  elements: dict
partition_set:
  description: The entry of RV(partition_sets) for O(table); empty when O(table) is empty.
  returned: success
  type: dict
  sample: {"parent": "public.fixes", "default_rows": 0, "partitions_ahead": 3, "premake": 3,
           "current_partition": "public.fixes_p20260501"}
maintenance:
  description:
    - Evidence of the last maintenance run - C(backend), C(source), C(last_success), C(last_run) (ISO 8601),
      C(last_status) (C(succeeded), C(failed), C(running) or C(never)), C(message), C(age_seconds) (since the
      last success), C(installed) (the backend's job is in place), C(job) (what was looked for) and C(details).
    - With C(pg_cron), C(bgw) or no backend, runs of the maintenance script logged in O(cron_log) (run now) count
      too - the newer run wins.
  returned: success
  type: dict
  sample: {"backend": "pg_cron", "last_status": "succeeded", "last_success": "2026-05-01T03:00:01.2+00:00",
           "age_seconds": 3600}
maintenance_call:
  description: SQL of one maintenance run of every partition set, for the installed pg_partman.
  returned: success
  type: str
  sample: CALL partman.run_maintenance_proc(p_analyze := false)
server:
  description: C(version_num), C(database), C(preload_libraries) (running), C(cron_database_name), C(bgw_dbname), C(bgw_interval).
  returned: success
  type: dict
summary:
  description: One line per partition set and one about maintenance, for people.
  returned: success
  type: list
  elements: str
  sample: ["public.fixes: 12 partitions, 3 ahead (premake 3), current public.fixes_p20260501, default partition 0 rows",
           "maintenance by systemd: last success 2026-05-01T03:00:01+00:00, last run 2026-05-01T03:00:01+00:00 (succeeded)"]
healthy:
  description: True when RV(problems) is empty.
  returned: success
  type: bool
problems:
  description: What is wrong, each with the fix.
  returned: success
  type: list
  elements: str
notes:
  description: Things accepted but worth knowing (for example no maintenance run yet with O(allow_no_maintenance)).
  returned: success
  type: list
  elements: str
retention_drops:
  description:
    - Partition sets whose retention (with C(retention_keep_table) false) would drop partitions holding rows at the
      next maintenance run - C(parent), C(retention), C(partitions), C(rows_estimate), C(bytes), C(message).
  returned: success
  type: list
  elements: dict
now:
  description: The database server's now(), the reference for ages and partitions ahead.
  returned: success
  type: str
migration:
  description:
    - Where the migration of O(table) stands - C(table), C(kind) (C(plain), C(partitioned) or C(missing)),
      C(state_table) (the state table exists), from the state row C(step), C(direction), C(copy_method),
      C(rows_total), C(rows_copied), C(message), C(started_at), C(finished_at) (null without a row),
      C(old_table) (as recorded, else computed from O(old_suffix)), C(old_recorded), C(old_exists),
      C(running) (a run holds the migration lock), C(lock) (its sessions - C(pid), C(application), C(state),
      C(since), C(idle_seconds), C(busy_sessions), the other sessions of the run running a statement), C(lock_message) (the
      refusal a second run gets; it says to wait for a run at work, to check and then end a stuck one), C(current_query), C(progress) (C(rows_done),
      C(rows_total), C(percent), C(rows_per_second), C(eta_seconds), C(elapsed_seconds)), C(phase) (the phase after
      the copy running now, from the state row's C(progress.phase) - C(step), C(unit), C(done), C(total), C(percent),
      C(per_second), C(eta_seconds); null when none runs or an older version wrote the row), C(updated_at) (when the
      state row was last written) and C(line) (one line for people).
  returned: when O(gather) contains C(migration)
  type: dict
  sample: {"table": "public.fixes", "kind": "partitioned", "step": "partitioned", "direction": "forward",
           "running": true, "line": "copying rows: 188701 of 1001941 (18.8%), 122799 rows/s, 00:00:07 left, elapsed 00:00:02"}
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.soar.partman.plugins.module_utils.connection import (
    connection_argument_spec, HAS_PSYCOPG2, PSYCOPG2_IMPORT_ERROR, missing_required_lib, protect_secrets,
)
from ansible_collections.soar.partman.plugins.module_utils.info import run, GATHER
from ansible_collections.soar.partman.plugins.module_utils.runs import evidence_argument_spec


def argument_spec():
    spec = connection_argument_spec()
    spec.update(evidence_argument_spec())
    spec.update(
        table=dict(type='str', default=''),
        partman_schema=dict(type='str', default='partman'),
        exact_counts=dict(type='bool', default=False),
        retention=dict(type='str'),
        retention_keep_table=dict(type='bool'),
        maintenance_analyze=dict(type='bool', default=False),
        maintenance_job=dict(type='bool', default=False),
        self_heal=dict(type='bool', default=True),
        self_heal_max_batches=dict(type='int', default=50),
        lock_wait=dict(type='int', default=30),
        lock_timeout=dict(type='int', default=10),
        retry_seconds=dict(type='int', default=600),
        var_prefix=dict(type='str', default=''),
        gather=dict(type='list', elements='str', choices=list(GATHER), default=['partition_sets', 'maintenance']),
        old_suffix=dict(type='str', default='_old'),
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
