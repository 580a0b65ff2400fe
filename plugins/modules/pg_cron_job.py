#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: soar.partman contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: pg_cron_job
short_description: Create, change or remove a pg_cron job by name
version_added: "0.1.0"
description:
  - Keeps one pg_cron job, found by its name in C(cron.job), as described - schedule, command, the database
    it runs in, the role it runs as, whether it is active, and optionally the host it connects to.
  - A missing job is created with C(cron.schedule_in_database) (so it may run in another database than
    C(cron.database_name)); a job that differs is changed in place with C(cron.alter_job) (it keeps its id and
    its history in C(cron.job_run_details)); O(state=absent) removes it with C(cron.unschedule).
  - Reports C(changed) only when something was changed; a second run with the same options changes nothing.
author:
  - soar.partman maintainers (@soar)
requirements:
  - psycopg2 on the managed host (Debian package C(python3-psycopg2))
  - pg_cron 1.4 or later, in the database C(cron.database_name)
extends_documentation_fragment:
  - soar.partman.connection
options:
  name:
    description:
      - The job name (C(cron.job.jobname)); letters, digits, C(_) and C(-) only - the rule of C(/etc/cron.d) file
        names, because role C(soar.partman.partman_maintenance) gives the same name to the job, the cron file and the
        systemd units.
    type: str
    required: true
  var_prefix:
    description:
      - Put in front of the option names in messages, so that a role's user reads the variables they set (a role
        passes C(partman_maintenance_) and a bad O(name) is reported as C(partman_maintenance_name)).
    type: str
    default: ''
  schedule:
    description:
      - Cron syntax (C(0 3 * * *)), or C(N seconds) with pg_cron 1.5 and later.
      - Required with O(state=present).
    type: str
  command:
    description:
      - The SQL the job runs. Required with O(state=present).
    type: str
  database:
    description:
      - Database the job runs in; empty means the database holding pg_cron.
    type: str
    default: ''
  username:
    description:
      - Role the job runs as; empty means O(login_user).
    type: str
    default: ''
  active:
    description:
      - Whether the job is scheduled.
    type: bool
    default: true
  nodename:
    description:
      - Host (or unix socket directory) pg_cron connects to for this job. pg_cron's default is C(localhost) over TCP,
        which needs a password for most roles; the socket directory (C(/var/run/postgresql)) uses peer
        authentication. Empty leaves the value pg_cron chose.
    type: str
    default: ''
  nodeport:
    description:
      - Port pg_cron connects to for this job; C(0) leaves the value pg_cron chose.
    type: int
    default: 0
  state:
    description:
      - Whether the job exists.
    type: str
    choices: [present, absent]
    default: present
  login_db:
    description:
      - Database holding pg_cron; unset or empty means the server's C(cron.database_name), read through a first
        connection to C(postgres).
      - Unlike in the other modules, C(database) is no alias of it here; O(database) is the database the job runs in.
    type: str
    aliases: [db]
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
notes:
  - With O(state=absent), a database without pg_cron has no job to remove; that is not an error.
  - Jobs of the same name owned by other roles are removed with O(state=present), so that the name means one job.
  - Scheduling a job that runs as another role (O(username)) needs O(login_user) to be a superuser.
'''

EXAMPLES = r'''
- name: Run pg_partman maintenance every day at 03:00 (GMT) in database soar
  become: true
  become_user: postgres
  soar.partman.pg_cron_job:
    name: soar-partman-maintenance
    schedule: "0 3 * * *"
    command: CALL partman.run_maintenance_proc(p_analyze := false)
    database: soar
    nodename: /var/run/postgresql

- name: Remove the job
  become: true
  become_user: postgres
  soar.partman.pg_cron_job:
    name: soar-partman-maintenance
    state: absent
'''

RETURN = r'''
job:
  description: The job after the run (empty when absent) - C(jobid), C(jobname), C(schedule), C(command), C(database),
    C(username), C(active), C(nodename), C(nodeport).
  returned: always
  type: dict
  sample: {"jobid": 3, "jobname": "soar-partman-maintenance", "schedule": "0 3 * * *", "database": "soar"}
cron_database:
  description: The database holding pg_cron's tables.
  returned: always
  type: str
  sample: postgres
queries:
  description: The statements run (in check mode, that would be run).
  returned: always
  type: list
  elements: str
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.soar.partman.plugins.module_utils.connection import (
    connection_argument_spec, Database, HAS_PSYCOPG2, PSYCOPG2_IMPORT_ERROR, missing_required_lib,
)
from ansible_collections.soar.partman.plugins.module_utils import pgcron


def argument_spec():
    spec = connection_argument_spec()
    spec['login_db'] = dict(type='str', aliases=['db'])
    spec.update(
        name=dict(type='str', required=True),
        schedule=dict(type='str'),
        command=dict(type='str'),
        database=dict(type='str', default=''),
        username=dict(type='str', default=''),
        active=dict(type='bool', default=True),
        nodename=dict(type='str', default=''),
        nodeport=dict(type='int', default=0),
        state=dict(type='str', default='present', choices=['present', 'absent']),
        var_prefix=dict(type='str', default=''),
    )
    return spec


def open_cron_db(module):
    """Connect to the database holding pg_cron (login_db, else cron.database_name)."""
    params = dict(module.params)
    if not params.get('login_db'):
        params['login_db'] = 'postgres'
        first = Database(params)
        name = first.scalar("SELECT current_setting('cron.database_name', true)") or 'postgres'
        first.close()
        params['login_db'] = name
    return Database(params), params['login_db']


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True,
                           required_if=[('state', 'present', ('schedule', 'command'))])
    if not HAS_PSYCOPG2:
        module.fail_json(msg=missing_required_lib('psycopg2'), exception=PSYCOPG2_IMPORT_ERROR)
    import psycopg2

    if module.params['state'] == 'present':
        try:
            pgcron.check_name(module.params['name'], module.params['var_prefix'] + 'name')
        except pgcron.CronJobError as e:
            module.fail_json(msg=str(e), changed=False)
    try:
        db, cron_db = open_cron_db(module)
    except psycopg2.Error as e:
        module.fail_json(msg='Unable to connect to the pg_cron database: %s' % str(e).strip())
    state = module.params['state']
    result = dict(changed=False, job={}, cron_database=cron_db, queries=db.queries)
    try:
        if not db.scalar("SELECT to_regclass('cron.job') IS NOT NULL"):
            db.rollback()
            if state == 'absent':
                module.exit_json(msg='pg_cron is not installed in database %s: no job to remove' % cron_db, **result)
            module.fail_json(msg='pg_cron is not installed in database %s (cron.database_name): apply role '
                                 'soar.partman.pg_cron first, or set login_db to the database holding pg_cron'
                                 % cron_db, **result)
        login_user = db.scalar('SELECT current_user')
        wanted = pgcron.wanted_job(module.params, cron_db, login_user)
        jobs = pgcron.read_jobs(db, module.params['name'])
        actions = pgcron.plan(jobs, wanted, state)
        before = pgcron.public(jobs[0]) if jobs else {}
        if actions:
            result['changed'] = True
            if module.check_mode:
                for verb, target in actions:
                    db.queries.append('%s %s' % (verb, target if target is not None else wanted['jobname']))
                after = {} if state == 'absent' else dict(before, **dict(
                    (k, v) for k, v in wanted.items() if v is not None))
            else:
                pgcron.apply(db, actions, wanted)
                db.commit()
                rows = pgcron.read_jobs(db, module.params['name'])
                after = pgcron.public(rows[0]) if rows else {}
        else:
            after = before
        db.rollback()
        result['job'] = after
        if module._diff:
            result['diff'] = dict(before=before, after=after)
    except psycopg2.Error as e:
        db.rollback()
        result['changed'] = False  # the transaction was rolled back
        module.fail_json(msg='pg_cron refused the job %s: %s' % (module.params['name'], str(e).strip()), **result)
    finally:
        db.close()
    module.exit_json(**result)


if __name__ == '__main__':
    main()
