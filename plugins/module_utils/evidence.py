# -*- coding: utf-8 -*-
# Copyright: soar.partman contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Evidence of the last pg_partman maintenance runs, per backend:

- cron: the log the cron line appends to (lines written by the maintenance script);
- systemd: `systemctl show` of the service (Result, ExecMainStatus, timestamps);
- pg_cron: cron.job and cron.job_run_details;
- bgw: part_config.maintenance_last_run (pg_partman 5.x) and the PostgreSQL server log
  (pg_partman_bgw logs every call it made, and PostgreSQL logs a worker that exited with an error).

Parsers are pure and unit-tested; the module feeds them text and rows."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import re

# Written by the maintenance script of role partman_maintenance (cron and systemd backends):
#   2026-05-01T03:00:01Z partman-maintenance: OK database=soar seconds=2
#   2026-05-01T03:00:01Z partman-maintenance: FAILED rc=3 database=soar seconds=0
SCRIPT_MARK = 'partman-maintenance:'
_SCRIPT_LINE = re.compile(r'^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) ' + re.escape(SCRIPT_MARK) + r' (START|OK|FAILED)\b(.*)$')

UTC = datetime.timezone.utc


def parse_utc(text):
    """'2026-05-01T03:00:01Z' -> aware datetime."""
    return datetime.datetime.strptime(text, '%Y-%m-%dT%H:%M:%SZ').replace(tzinfo=UTC)


def empty(backend, source):
    return {'backend': backend, 'source': source, 'last_success': None, 'last_run': None,
            'last_status': 'never', 'message': None, 'details': {}}


def parse_script_log(text, backend='cron', source=None):
    """Last OK / last run from the maintenance script's lines (any other line is psql output)."""
    ev = empty(backend, source)
    last_start = None
    last_failed_detail = None
    for line in (text or '').splitlines():
        m = _SCRIPT_LINE.match(line.strip())
        if not m:
            continue
        ts, word, rest = parse_utc(m.group(1)), m.group(2), m.group(3).strip()
        if word == 'START':
            last_start = ts
            continue
        ev['last_run'] = ts
        if word == 'OK':
            ev['last_success'] = ts
            ev['last_status'] = 'succeeded'
            ev['message'] = rest or None
        else:
            ev['last_status'] = 'failed'
            ev['message'] = rest or None
            last_failed_detail = rest
    if last_start is not None and (ev['last_run'] is None or last_start > ev['last_run']):
        ev['last_status'] = 'running'
        ev['details']['started'] = last_start
    if last_failed_detail:
        ev['details']['last_failure'] = last_failed_detail
    return ev


def _error_lines(text, limit=5):
    """psql's ERROR lines after the last START mark: what a failed run said."""
    lines = (text or '').splitlines()
    start = 0
    for i, line in enumerate(lines):
        if SCRIPT_MARK + ' START' in line:
            start = i
    return [ln.strip() for ln in lines[start:] if 'ERROR' in ln][:limit]


def script_log_evidence(text, backend='cron', source=None):
    ev = parse_script_log(text, backend, source)
    if ev['last_status'] == 'failed':
        errors = _error_lines(text)
        if errors:
            ev['message'] = '%s; %s' % (ev['message'] or 'failed', ' | '.join(errors))
    return ev


def parse_systemctl_show(text):
    out = {}
    for line in (text or '').splitlines():
        if '=' in line:
            k, v = line.split('=', 1)
            out[k.strip()] = v.strip()
    return out


def parse_systemd_timestamp(value):
    """'@1714532401' (--timestamp=unix) or 'Wed 2024-05-01 03:00:01 UTC' -> aware datetime; '' -> None."""
    if not value or value in ('n/a', '0'):
        return None
    if value.startswith('@'):
        try:
            return datetime.datetime.fromtimestamp(int(value[1:].split('.')[0]), UTC)
        except ValueError:
            return None
    m = re.match(r'^\w{3} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) (UTC|GMT)$', value)
    if m:
        return datetime.datetime.strptime(m.group(1), '%Y-%m-%d %H:%M:%S').replace(tzinfo=UTC)
    return None


def systemd_evidence(props, unit):
    """From `systemctl show <unit>.service` properties."""
    ev = empty('systemd', unit)
    ev['details'] = dict((k, props.get(k)) for k in (
        'LoadState', 'ActiveState', 'SubState', 'Result', 'ExecMainStatus',
        'ExecMainStartTimestamp', 'ExecMainExitTimestamp') if k in props)
    if props.get('LoadState') != 'loaded':
        ev['last_status'] = 'never'
        ev['message'] = 'unit %s is %s' % (unit, props.get('LoadState') or 'unknown')
        return ev
    started = parse_systemd_timestamp(props.get('ExecMainStartTimestamp'))
    exited = parse_systemd_timestamp(props.get('ExecMainExitTimestamp'))
    if props.get('ActiveState') in ('activating', 'active', 'reloading') and started and not exited:
        ev['last_status'] = 'running'
        ev['last_run'] = started
        return ev
    if started is None:
        return ev
    ev['last_run'] = exited or started
    if props.get('Result') == 'success' and props.get('ExecMainStatus', '0') == '0':
        ev['last_status'] = 'succeeded'
        ev['last_success'] = exited or started
    else:
        ev['last_status'] = 'failed'
        ev['message'] = 'Result=%s ExecMainStatus=%s (journalctl -u %s)' % (
            props.get('Result'), props.get('ExecMainStatus'), unit)
    return ev


def pg_cron_evidence(job, last_success, last_run):
    """job: cron.job row or None; last_success: newest end_time of a succeeded run;
    last_run: newest job_run_details row (dict) or None."""
    ev = empty('pg_cron', 'cron.job_run_details')
    if job is None:
        ev['message'] = 'no pg_cron job of that name'
        return ev
    ev['details'] = {'jobid': job.get('jobid'), 'schedule': job.get('schedule'), 'database': job.get('database'),
                     'username': job.get('username'), 'active': job.get('active'), 'nodename': job.get('nodename')}
    ev['last_success'] = last_success
    if last_run:
        ev['last_run'] = last_run.get('end_time') or last_run.get('start_time')
        status = last_run.get('status')
        if status == 'succeeded':
            ev['last_status'] = 'succeeded'
        elif status == 'failed':
            ev['last_status'] = 'failed'
            ev['message'] = last_run.get('return_message')
        else:
            ev['last_status'] = 'running'
            ev['message'] = status
    return ev


# PostgreSQL log lines (Debian's log_line_prefix '%m [%p] %q%u@%d '), the same in pg_partman 4.x and 5.x:
#   ... [123] LOG:  pg_partman dynamic background worker (dbname=soar) dynamic background worker initialized with role postgres on database soar
#   ... [123] LOG:  pg_partman dynamic background worker (dbname=soar): CALL ... called by role postgres on database soar
#   ... [123] ERROR:  updated partition constraint for default partition "fixes_default" would be violated by some row
# A worker that logged "initialized" and then an ERROR (and no "called by role") failed.
_LOG_TS = re.compile(r'^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)(?:\.\d+)? ?(\S+)?')
_LOG_PID = re.compile(r'\[(\d+)\]')


def parse_log_timestamp(line, local_offset=None):
    m = _LOG_TS.match(line)
    if not m:
        return None
    ts = datetime.datetime.strptime(m.group(1), '%Y-%m-%d %H:%M:%S')
    zone = m.group(2) or ''
    if zone in ('UTC', 'GMT', 'Z'):
        return ts.replace(tzinfo=UTC)
    zm = re.match(r'^([+-])(\d\d):?(\d\d)?$', zone)
    if zm:
        minutes = int(zm.group(2)) * 60 + int(zm.group(3) or 0)
        if zm.group(1) == '-':
            minutes = -minutes
        return ts.replace(tzinfo=datetime.timezone(datetime.timedelta(minutes=minutes)))
    # A zone abbreviation (CET, ...): the host's local offset is the best guess.
    if local_offset is not None:
        return ts.replace(tzinfo=datetime.timezone(local_offset))
    return ts.replace(tzinfo=UTC)


def bgw_log_evidence(text, dbname, source=None, local_offset=None):
    ev = empty('bgw', source)
    worker = 'pg_partman dynamic background worker (dbname=%s)' % dbname
    workers = set()
    for line in (text or '').splitlines():
        pid_match = _LOG_PID.search(line[:60])
        pid = pid_match.group(1) if pid_match else None
        if worker in line and 'initialized with role' in line:
            workers.add(pid)
        elif worker in line and 'called by role' in line and ('on database %s' % dbname) in line:
            ts = parse_log_timestamp(line, local_offset)
            ev['last_success'] = ev['last_run'] = ts
            ev['last_status'] = 'succeeded'
            ev['message'] = None
            workers.discard(pid)
        elif pid in workers and (' ERROR: ' in line or ' FATAL: ' in line):
            ev['last_run'] = parse_log_timestamp(line, local_offset)
            ev['last_status'] = 'failed'
            ev['message'] = line.split(':  ', 1)[-1].strip() if ':  ' in line else line.strip()
            workers.discard(pid)
    return ev


def newest_run(backend_ev, script_ev):
    """The evidence of the backend, with the maintenance script's runs (run now) merged in: the newest
    success of either, and the status of whichever ran last. `installed` and `job` stay the backend's."""
    out = dict(backend_ev)
    if script_ev.get('last_success') is not None and (
            out.get('last_success') is None or script_ev['last_success'] > out['last_success']):
        out['last_success'] = script_ev['last_success']
    if script_ev.get('last_run') is not None and (
            out.get('last_run') is None or script_ev['last_run'] > out['last_run']):
        out['last_run'] = script_ev['last_run']
        out['last_status'] = script_ev['last_status']
        out['message'] = script_ev.get('message')
        out['source'] = '%s and %s' % (out.get('source'), script_ev.get('source'))
    return out


def newest(*candidates):
    found = [c for c in candidates if c is not None]
    return max(found) if found else None


def summarise(ev, now):
    """Add age_seconds and render datetimes as ISO text."""
    out = dict(ev)
    last = ev.get('last_success')
    out['age_seconds'] = int((now - last).total_seconds()) if last is not None else None
    for k in ('last_success', 'last_run'):
        if isinstance(out.get(k), datetime.datetime):
            out[k] = out[k].isoformat()
    out['details'] = dict((k, v.isoformat() if isinstance(v, datetime.datetime) else v)
                          for k, v in (ev.get('details') or {}).items())
    return out
