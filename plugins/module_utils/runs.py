# -*- coding: utf-8 -*-
# Copyright: soar.partman contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the last maintenance run is read, for the backend in place: the one reader of that evidence,
used by partman_info (verify.yml) and by the health check (module partman_health and the script that
role partman_health deploys on the host).

Imports nothing from Ansible (only the standard library and evidence.py): role partman_health copies
this file, evidence.py, gucs.py and health.py to the database host, where the timer runs them without
Ansible. The caller passes how to run a command and how to open a connection to another database."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import gzip
import os
import shutil
import time

from ansible_collections.soar.partman.plugins.module_utils import evidence as ev
from ansible_collections.soar.partman.plugins.module_utils.gucs import parse_library_list, GucParseError

BACKENDS = ('auto', 'cron', 'pg_cron', 'systemd', 'bgw', 'none')


def evidence_argument_spec():
    """The options of partman_info and partman_health that say where the last maintenance run is read and
    when it is a problem (doc fragment soar.partman.maintenance_evidence)."""
    return dict(
        backend=dict(type='str', default='auto', choices=list(BACKENDS)),
        job_name=dict(type='str', default='soar-partman-maintenance'),
        cron_log=dict(type='path', default='/var/log/soar-partman/maintenance.log'),
        pg_cron_database=dict(type='str', default=''),
        postgresql_log=dict(type='path', default=''),
        max_maintenance_age=dict(type='int', default=93600),
        allow_no_maintenance=dict(type='bool', default=False),
    )


LOG_TAIL_BYTES = 4 * 1024 * 1024
SYSTEMD_PROPS = ('LoadState', 'ActiveState', 'SubState', 'Result', 'ExecMainStatus',
                 'ExecMainStartTimestamp', 'ExecMainExitTimestamp')


def read_tail(path, limit=LOG_TAIL_BYTES):
    """The last `limit` bytes of a file as text, or None when it cannot be read."""
    try:
        with open(path, 'rb') as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - limit))
            data = f.read()
    except (IOError, OSError):
        return None
    return data.decode('utf-8', 'replace')


def read_rotated(path):
    """The log and, before it, its last rotation (path.1, or path.1.gz): right after logrotate ran,
    the current file is empty and the last run is in the rotated one. None when neither can be read."""
    parts = []
    older = read_tail(path + '.1')
    if older is None and os.path.exists(path + '.1.gz'):
        try:
            with gzip.open(path + '.1.gz', 'rb') as f:
                older = f.read()[-LOG_TAIL_BYTES:].decode('utf-8', 'replace')
        except (IOError, OSError):
            older = None
    if older is not None:
        parts.append(older)
    current = read_tail(path)
    if current is not None:
        parts.append(current)
    return '\n'.join(parts) if parts else None


def local_offset():
    offset = -time.altzone if time.localtime().tm_isdst > 0 else -time.timezone
    return datetime.timedelta(seconds=offset)


def server_facts(db):
    """What the running server says about its database, preload list, pg_cron and the bgw."""
    libs_text = db.scalar("SELECT current_setting('shared_preload_libraries')")
    try:
        libs = parse_library_list(libs_text)
    except GucParseError:
        libs = [x.strip() for x in (libs_text or '').split(',') if x.strip()]
    return {
        'version_num': int(db.scalar("SELECT current_setting('server_version_num')")),
        'database': db.scalar('SELECT current_database()'),
        'preload_libraries': libs,
        'cron_database_name': db.scalar("SELECT current_setting('cron.database_name', true)"),
        'bgw_dbname': db.scalar("SELECT current_setting('pg_partman_bgw.dbname', true)"),
        'bgw_interval': db.scalar("SELECT current_setting('pg_partman_bgw.interval', true)"),
    }


class Runs(object):
    """Evidence of the last maintenance run.

    db: the connection to the maintained database (scalar(), query()); params: backend, job_name,
    cron_log, pg_cron_database, postgresql_log, login_db; run_command(argv) -> (rc, stdout, stderr);
    connect(dbname) -> a connection to another database of the same server (close() when done);
    warn(text) reports what could not be read without failing."""

    def __init__(self, db, params, run_command, connect, warn=None):
        self.db = db
        self.p = params
        self.run_command = run_command
        self.connect = connect
        self.warn = warn or (lambda text: None)

    def systemd_props(self, unit):
        systemctl = shutil.which('systemctl')
        if not systemctl:
            return {}
        args = [systemctl, 'show', unit] + ['--property=%s' % p for p in SYSTEMD_PROPS]
        rc, out, err = self.run_command(args + ['--timestamp=unix'])
        if rc != 0:
            rc, out, err = self.run_command(args)
        return ev.parse_systemctl_show(out) if rc == 0 else {}

    def cron_db(self, server):
        name = self.p.get('pg_cron_database') or server['cron_database_name'] or 'postgres'
        if name == server['database']:
            return self.db, name
        try:
            return self.connect(name), name
        except Exception as e:  # pg_cron's database unreachable: report, do not fail facts
            self.warn('cannot connect to database %s for pg_cron evidence: %s' % (name, str(e).strip()))
            return None, name

    def pg_cron(self, server):
        db, name = self.cron_db(server)
        out = ev.empty('pg_cron', 'cron.job_run_details in %s' % name)
        if db is None:
            return out, None
        try:
            if not db.scalar("SELECT to_regclass('cron.job') IS NOT NULL"):
                out['message'] = 'pg_cron is not installed in database %s' % name
                return out, None
            jobs = db.query("SELECT jobid, jobname, schedule, command, nodename, nodeport, database, username, active "
                            "FROM cron.job WHERE jobname = %s ORDER BY jobid", (self.p['job_name'],))
            job = jobs[0] if jobs else None
            last_success = last_run = None
            if job:
                last_success = db.scalar("SELECT max(end_time) FROM cron.job_run_details WHERE jobid = %s "
                                         "AND status = 'succeeded'", (job['jobid'],))
                rows = db.query("SELECT status, return_message, start_time, end_time FROM cron.job_run_details "
                                "WHERE jobid = %s ORDER BY runid DESC LIMIT 1", (job['jobid'],))
                last_run = rows[0] if rows else None
            found = ev.pg_cron_evidence(job, last_success, last_run)
            found['source'] = out['source']
            return found, job
        finally:
            if db is not self.db:
                db.close()

    def bgw(self, server, sets):
        dbname = self.p.get('login_db') or server['database']
        log = self.p.get('postgresql_log')
        text = read_tail(log) if log else None
        found = ev.bgw_log_evidence(text, dbname, source=log or None, local_offset=local_offset())
        # Any maintenance run sets it (pg_partman 5.x): evidence of the worker only while it is loaded.
        preloaded = 'pg_partman_bgw' in server['preload_libraries']
        table_runs = [datetime.datetime.fromisoformat(s['maintenance_last_run']) for s in sets
                      if s.get('maintenance_last_run') and preloaded]
        newest_table = max(table_runs) if table_runs else None
        if newest_table is not None and (found['last_success'] is None or newest_table > found['last_success']):
            found['last_success'] = newest_table
            found['source'] = 'part_config.maintenance_last_run' + (' and %s' % log if log else '')
            if found['last_run'] is None or newest_table > found['last_run']:
                found['last_run'] = newest_table
                found['last_status'] = 'succeeded'
        found['details'] = {'pg_partman_bgw_preloaded': preloaded,
                            'dbname': server['bgw_dbname'], 'interval': server['bgw_interval']}
        if not preloaded and found['last_status'] == 'never':
            found['message'] = 'pg_partman_bgw is not in shared_preload_libraries'
        return found

    def detect(self, server):
        """The backend in place: the one named, or the first found."""
        if self.p['backend'] != 'auto':
            return self.p['backend']
        props = self.systemd_props('%s.service' % self.p['job_name'])
        if props.get('LoadState') == 'loaded':
            return 'systemd'
        if os.path.exists(os.path.join('/etc/cron.d', self.p['job_name'])):
            return 'cron'
        if 'pg_partman_bgw' in server['preload_libraries']:
            return 'bgw'
        found, job = self.pg_cron(server)
        if job is not None:
            return 'pg_cron'
        return 'none'

    def evidence(self, server, sets):
        """sets: partition sets with maintenance_last_run (ISO text or None), for the bgw."""
        backend = self.detect(server)
        cron_file = os.path.join('/etc/cron.d', self.p['job_name'])
        if backend == 'cron':
            text = read_rotated(self.p['cron_log'])
            found = ev.script_log_evidence(text, 'cron', self.p['cron_log'])
            if text is None:
                found['message'] = 'log %s does not exist or cannot be read' % self.p['cron_log']
            found['installed'] = os.path.exists(cron_file)
            found['job'] = cron_file
        elif backend == 'systemd':
            unit = '%s.service' % self.p['job_name']
            props = self.systemd_props(unit)
            found = ev.systemd_evidence(props, unit)
            timer = self.systemd_props('%s.timer' % self.p['job_name'])
            found['installed'] = props.get('LoadState') == 'loaded' and timer.get('LoadState') == 'loaded'
            found['job'] = '%s.timer' % self.p['job_name']
        elif backend == 'pg_cron':
            found, job = self.pg_cron(server)
            found['installed'] = job is not None
            found['job'] = 'pg_cron job %s' % self.p['job_name']
        elif backend == 'bgw':
            found = self.bgw(server, sets)
            found['installed'] = 'pg_partman_bgw' in server['preload_libraries']
            found['job'] = 'pg_partman_bgw in shared_preload_libraries'
        else:
            found = ev.empty('none', None)
            found['message'] = 'no maintenance backend'
            found['installed'] = False
            found['job'] = 'any maintenance job'
        if backend in ('pg_cron', 'bgw', 'none'):
            # Run now (and the first run at install) of these backends is the maintenance script, writing
            # to the cron log: the newer of the two runs counts, whichever ran it.
            text = read_rotated(self.p['cron_log'])
            if text:
                found = ev.newest_run(found, ev.script_log_evidence(text, backend, self.p['cron_log']))
        return found
