# -*- coding: utf-8 -*-
# Copyright: soar.partman contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_cron jobs by name (pg_cron 1.4 and later): read cron.job, create with
cron.schedule_in_database (the job may run in another database than cron.database_name),
change with cron.alter_job, remove with cron.unschedule(jobid). Named arguments throughout."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

# What Debian's cron runs in /etc/cron.d (run-parts names); the role gives one name to the job,
# the cron file and the units, so a job name follows that rule too.
NAME_RE = re.compile(r'^[A-Za-z0-9_-]+$')

COMPARED = ('schedule', 'command', 'database', 'username', 'active')
NODE = ('nodename', 'nodeport')


class CronJobError(Exception):
    """Fails the module; the message names the problem and the fix."""


def check_name(name, variable='name'):
    if not NAME_RE.match(name or ''):
        raise CronJobError("%s %r: use only letters, digits, '_' and '-' (for example soar-partman-maintenance). "
                           "The same name is given to /etc/cron.d files, which Debian's cron ignores when the name "
                           "has a dot or any other character, so maintenance would never run. Nothing was changed."
                           % (variable, name))


def normalise_schedule(text):
    return ' '.join(str(text or '').split())


def wanted_job(params, cron_database, login_user):
    return {
        'jobname': params['name'],
        'schedule': normalise_schedule(params['schedule']),
        'command': params['command'],
        'database': params['database'] or cron_database,
        'username': params['username'] or login_user,
        'active': params['active'],
        'nodename': params['nodename'] or None,
        'nodeport': params['nodeport'] or None,
    }


def differences(current, wanted):
    """Fields of `current` (a cron.job row) that differ from `wanted`; node fields only when wanted."""
    out = []
    for k in COMPARED:
        cur, want = current.get(k), wanted.get(k)
        if k == 'schedule':
            cur, want = normalise_schedule(cur), normalise_schedule(want)
        if k == 'command':
            cur, want = (cur or '').strip(), (want or '').strip()
        if cur != want:
            out.append(k)
    for k in NODE:
        if wanted.get(k) is not None and current.get(k) != wanted.get(k):
            out.append(k)
    return out


def plan(jobs, wanted, state):
    """Actions for the jobs named wanted['jobname'] (rows of cron.job):
    ('unschedule', jobid), ('create', None), ('alter', jobid), ('node', jobid)."""
    actions = []
    if state == 'absent':
        return [('unschedule', j['jobid']) for j in jobs]
    mine = [j for j in jobs if j.get('username') == wanted['username']]
    keep = mine[0] if mine else None
    for j in jobs:
        if keep is None or j['jobid'] != keep['jobid']:
            actions.append(('unschedule', j['jobid']))
    if keep is None:
        actions.append(('create', None))
        if wanted.get('nodename') is not None or wanted.get('nodeport') is not None:
            actions.append(('node', None))
        return actions
    diff = differences(keep, wanted)
    if any(k in COMPARED for k in diff):
        actions.append(('alter', keep['jobid']))
    if any(k in NODE for k in diff):
        actions.append(('node', keep['jobid']))
    return actions


def public(job):
    if not job:
        return {}
    return dict((k, job.get(k)) for k in ('jobid', 'jobname') + COMPARED + NODE)


def read_jobs(db, name):
    return db.query("SELECT jobid, jobname, schedule, command, nodename, nodeport, database, username, active "
                    "FROM cron.job WHERE jobname = %s ORDER BY jobid", (name,))


def apply(db, actions, wanted):
    """Run the actions; returns the job id kept or created."""
    jobid = None
    for verb, target in actions:
        if verb == 'unschedule':
            db.execute('SELECT cron.unschedule(job_id := %s::bigint)', (target,))
        elif verb == 'create':
            rows = db.execute(
                'SELECT cron.schedule_in_database(job_name := %s, schedule := %s, command := %s, '
                'database := %s, username := %s, active := %s)',
                (wanted['jobname'], wanted['schedule'], wanted['command'], wanted['database'],
                 wanted['username'], wanted['active']))
            jobid = rows[0][0]
        elif verb == 'alter':
            jobid = target
            db.execute('SELECT cron.alter_job(job_id := %s::bigint, schedule := %s, command := %s, '
                       'database := %s, username := %s, active := %s)',
                       (target, wanted['schedule'], wanted['command'], wanted['database'],
                        wanted['username'], wanted['active']))
        elif verb == 'node':
            jobid = target if target is not None else jobid
            db.execute('UPDATE cron.job SET nodename = coalesce(%s, nodename), nodeport = coalesce(%s, nodeport) '
                       'WHERE jobid = %s', (wanted.get('nodename'), wanted.get('nodeport'), jobid))
    return jobid
