# -*- coding: utf-8 -*-
# Copyright: soar.partman contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where a migration stands, as read from outside the run: the state row, the table and the old
table in the catalog, and which session holds the migration lock (the runner's advisory lock).
partman_info returns it (gather: migration); the runner words its lock refusal with lock_message.
The progress line is built here, once, from those facts (pure: progress_line)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.soar.partman.plugins.module_utils import state as st
from ansible_collections.soar.partman.plugins.module_utils.migration.context import mode_steps
from ansible_collections.soar.partman.plugins.module_utils.migration.phases import PHASES
from ansible_collections.soar.partman.plugins.module_utils.progress import phase_figures
from ansible_collections.soar.partman.plugins.module_utils.names import quote_ident, truncate_name

# classid of the advisory lock that serialises runs on one table (objid: hashtext of the table name).
LOCK_NAMESPACE = 'soar.partman.partman_migrate'

# The sessions holding a table's migration lock, with what tells a working run from a stuck one:
# how long the holder has been idle (0 while a statement runs) and how many other sessions of the same
# run (its application_name, same database: the pool of jobs > 1) run a statement now.
LOCK_HOLDERS_SQL = (
    "SELECT a.pid, a.application_name AS application, a.state, a.backend_start::timestamp(0)::text AS since, "
    "CASE WHEN a.state = 'active' THEN 0 ELSE "
    "coalesce(extract(epoch FROM date_trunc('second', now() - a.state_change))::int, 0) END AS idle_seconds, "
    "(SELECT count(*)::int FROM pg_stat_activity b WHERE b.application_name = a.application_name "
    "AND b.datname = a.datname AND b.state = 'active' AND b.pid <> a.pid AND b.pid <> pg_backend_pid()) "
    "AS busy_sessions "
    "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
    "WHERE l.locktype = 'advisory' AND l.granted AND l.classid::int = hashtext(%s) "
    "AND l.objid::int = hashtext(%s) ORDER BY a.pid")

# A holder idle this long, with no session of its run working and its state row not written for as
# long, is stuck: a working run is idle between two statements for a moment only.
STUCK_AFTER_SECONDS = 300

# What the progress line says after each step has committed (the step running now is the next one).
STEP_WORDS = {
    'prepared': 'creating the partitions',
    'copied': 'building indexes',
    'indexed': 'foreign keys, triggers, ANALYZE',
    'constrained': 'verifying every partition against the old table',
    'verified': 'configuring pg_partman',
    'done': 'done',
}
# Online mode (state extra mode: online): what differs.
ONLINE_STEP_WORDS = dict(STEP_WORDS, **{
    'constrained': 'catching up with the changes captured during the copy',
    'caught_up': 'verifying every partition against the table in use, under one snapshot',
    'verified': 'prepared: catching up, then the cut-over',
    'swapped': 'swapped; validating foreign keys, configuring pg_partman',
})
# A revert's steps (the line says "reverting, ..."), without a phase record.
REVERT_WORDS = {
    'revert-copy': 'copying the rows written since the migration back',
    'revert-drop': 'dropping the partitions, renaming the old table back',
}


def lock_holders(db, key):
    """The sessions holding the migration lock of table key (schema.name, raw): pid, application,
    state, since."""
    return db.query(LOCK_HOLDERS_SQL, (LOCK_NAMESPACE, key))


def describe_holders(holders):
    return ', '.join('pid %s (%s, %s, connected since %s)' % (h['pid'], h['application'] or '', h['state'] or '', h['since'] or '')
                     for h in holders)


def is_working(holder, updated_seconds=None):
    """Whether the lock holder is a run at work: its session runs a statement, or another session of
    the run does, or it was idle or wrote its state row less than STUCK_AFTER_SECONDS ago."""
    if holder.get('state') == 'active' or int(holder.get('busy_sessions') or 0) > 0:
        return True
    if updated_seconds is not None and updated_seconds < STUCK_AFTER_SECONDS:
        return True
    idle = holder.get('idle_seconds')
    return idle is not None and int(idle) < STUCK_AFTER_SECONDS


def lock_message(key, holders, updated_seconds=None):
    """The refusal of a second run while holders hold the lock (the runner fails with it), telling a
    run at work (wait; follow it) from a stuck session (look first, then end it). updated_seconds:
    how long ago the state row was written, when the caller has read it."""
    if not holders:
        return ('another partman_migrate run holds the migration lock of %s (its session is gone): nothing was '
                'changed. Run again.' % key)
    if any(is_working(h, updated_seconds) for h in holders):
        return ('another partman_migrate run is migrating %s right now (%s): nothing was changed. It is working: '
                'wait for it to finish and follow it with playbooks/status.yml (partman_info gather: [migration]); '
                'do not end it. Run again once it has finished (a run that finds the migration done changes nothing).'
                % (key, describe_holders(holders)))
    idle = max(int(h.get('idle_seconds') or 0) for h in holders)
    return ('another partman_migrate run holds the migration lock of %s (%s) but looks stuck: idle for %s, no '
            'session of it is working%s: nothing was changed. Check first with playbooks/status.yml (partman_info '
            'gather: [migration]) that nothing moves; if so, end it with SELECT pg_terminate_backend(%s); and run '
            'again: the next run resumes where it stopped.'
            % (key, describe_holders(holders), hms(idle),
               '' if updated_seconds is None else ', its state row was last written %s ago' % hms(updated_seconds),
               holders[0]['pid']))


def hms(seconds):
    """Seconds as HH:MM:SS (hours past 24 kept); None -> None."""
    if seconds is None:
        return None
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return '%02d:%02d:%02d' % (h, m, s)


def progress(row, part_rows, part_seconds, elapsed_seconds):
    """rows done, rate and time left of the copy from the state row and the per-partition sums."""
    if row is None:
        return {'rows_done': 0, 'rows_total': None, 'percent': None, 'rows_per_second': None,
                'eta_seconds': None, 'elapsed_seconds': None}
    if row.get('copy_method') == 'ctid':
        done = int(row.get('rows_copied') or 0)
        rate = (row.get('progress') or {}).get('rows_per_second')
        rate = float(rate) if rate is not None else None
    else:
        done = int(part_rows or 0)
        rate = (float(part_rows or 0) / float(part_seconds)) if part_seconds else None
    total = row.get('rows_total')
    eta = None
    if total is not None and rate:
        eta = int(round((int(total) - done) / rate))
    return {
        'rows_done': done,
        'rows_total': total,
        'percent': round(100.0 * done / max(int(total), 1), 1) if total is not None else None,
        'rows_per_second': int(round(rate)) if rate is not None else None,
        'eta_seconds': eta,
        'elapsed_seconds': elapsed_seconds,
    }


def running_step(row):
    """The step a run of this state row works towards: the one recorded when it is over."""
    if row is None:
        return None
    if row.get('direction') != 'forward':
        return 'revert-drop' if row.get('step') == 'revert-copy' else None
    online = ((row.get('extra') or {}).get('mode') == 'online')
    steps = mode_steps(online)
    i = steps.index(row['step']) if row.get('step') in steps else len(steps) - 1
    return steps[i + 1] if i + 1 < len(steps) else None


def phase_of(row, since_write):
    """The figures of the phase running now (progress.phase_figures), from the state row's
    progress.phase when it is the running step's; None otherwise (a finished or older run)."""
    record = ((row or {}).get('progress') or {}).get('phase')
    if not record or record.get('step') != running_step(row):
        return None
    return phase_figures(record, since_write)


def rate_words(per_second, unit):
    if per_second is None:
        return '? %s/s' % unit
    if per_second < 1:
        return '%.1f %s/min' % (per_second * 60, unit)
    return '%.1f %s/s' % (per_second, unit)


def phase_words(phase):
    """'building indexes: 340 of 680 builds (50.0%), 12.3 builds/s, 00:00:27 left'"""
    return '%s: %d of %d %s (%.1f%%), %s, %s left' % (
        PHASES.get(phase['step'], (phase['step'], ''))[0], phase['done'], phase['total'], phase['unit'],
        phase['percent'], rate_words(phase.get('per_second'), phase['unit']), hms(phase.get('eta_seconds')) or 'unknown')


def progress_line(facts):
    """One line for people: what the migration is doing; the copy's rows, and every later phase's
    units, done of total, with rate and time left; the elapsed time ("copying rows: 188701 of
    1001941 (18.8%), 122799 rows/s, 00:00:07 left, elapsed 00:00:02")."""
    step = facts.get('step')
    p = facts.get('progress') or {}
    phase = facts.get('phase')
    if step is None:
        words = 'preflight and prepare (rename, partitioned parent, create_parent)'
    elif facts.get('direction') != 'forward':
        words = 'reverting, %s' % (phase_words(phase) if phase else REVERT_WORDS.get(step, step))
    elif step == 'partitioned' and p.get('rows_total') is None:
        words = 'counting the rows to copy'
    elif step == 'partitioned':
        words = 'copying rows: %s of %s (%.1f%%), %s rows/s, %s left' % (
            p['rows_done'], p['rows_total'], p['percent'],
            '?' if p.get('rows_per_second') is None else p['rows_per_second'],
            hms(p.get('eta_seconds')) or 'unknown')
    elif phase:
        words = phase_words(phase)
    else:
        words = (ONLINE_STEP_WORDS if facts.get('mode') == 'online' else STEP_WORDS).get(step, step)
    return '%s, elapsed %s' % (words, hms(p.get('elapsed_seconds')) or '-')


def read(db, state_schema, schema, name, old_suffix):
    """Facts about the migration of schema.name: the table (plain, partitioned or missing), the
    state row, the old table (as recorded, else <name><old_suffix> cut to 63 bytes, as the module
    names it) and whether it exists, the sessions holding the lock, the progress and its line."""
    key = '%s.%s' % (schema, name)
    kind = db.scalar('SELECT relkind::text FROM pg_class WHERE oid = to_regclass(%s)', (regclass(schema, name),))
    table_exists = st.exists(db, state_schema)
    row = st.load(db, state_schema, key) if table_exists else None
    if row and row.get('old_table') and '.' in row['old_table']:
        old_schema, old_name = row['old_table'].split('.', 1)
    else:
        old_schema, old_name = schema, truncate_name(name, old_suffix)
    old_exists = db.scalar('SELECT to_regclass(%s) IS NOT NULL', (regclass(old_schema, old_name),))
    holders = lock_holders(db, key)
    part_rows = part_seconds = None
    if row is not None:
        part_rows, part_seconds = st.partition_sums(db, state_schema, key)
    updated = db.scalar('SELECT extract(epoch FROM date_trunc(\'second\', now() - %s::timestamptz))::int',
                        (row['updated_at'],)) if row is not None and row.get('updated_at') else None
    elapsed = db.scalar('SELECT extract(epoch FROM date_trunc(\'second\', now() - %s::timestamptz))',
                        (row['started_at'],)) if row is not None else None
    current_query = None
    if holders:
        current_query = db.scalar(
            "SELECT max(left(regexp_replace(query, '\\s+', ' ', 'g'), 90)) FROM pg_stat_activity "
            "WHERE application_name = ANY(%s) AND state = 'active' AND pid <> pg_backend_pid()",
            (sorted(set(h['application'] for h in holders)),))
    facts = {
        'table': key,
        'kind': {'r': 'plain', 'p': 'partitioned'}.get(kind or '', 'missing'),
        'state_table': bool(table_exists),
        'step': row['step'] if row else None,
        'direction': row['direction'] if row else None,
        'mode': ((row.get('extra') or {}).get('mode') or 'offline') if row else None,
        'copy_method': row['copy_method'] if row else None,
        'rows_total': row['rows_total'] if row else None,
        'rows_copied': row['rows_copied'] if row else None,
        'message': row['message'] if row else None,
        'started_at': iso(row['started_at']) if row else None,
        'finished_at': iso(row['finished_at']) if row else None,
        'old_table': '%s.%s' % (old_schema, old_name),
        'old_recorded': bool(row),
        'old_exists': bool(old_exists),
        'running': bool(holders),
        'lock': [dict(h) for h in holders],
        'lock_message': lock_message(key, holders, updated) if holders else None,
        'current_query': current_query,
        'progress': progress(row, part_rows, part_seconds, revert_elapsed(row, updated, elapsed)),
        'phase': phase_of(row, updated),
        'updated_at': iso(row['updated_at']) if row and row.get('updated_at') else None,
    }
    facts['line'] = progress_line(facts)
    return facts


def revert_elapsed(row, since_write, elapsed):
    """The elapsed time a line shows: since the migration began, or in a revert since the revert began
    (its phase record's seconds, counted on since it was written; unknown before the first record)."""
    if row is not None and row.get('direction') not in (None, 'forward'):
        record = (row.get('progress') or {}).get('phase') or {}
        if record.get('step') != running_step(row) or record.get('seconds') is None:
            return None
        return float(record['seconds']) + float(since_write or 0)
    return float(elapsed) if elapsed is not None else None


def regclass(schema, name):
    """schema.name as text for to_regclass (each part quoted where needed)."""
    return '%s.%s' % (quote_ident(schema), quote_ident(name))


def iso(value):
    return value.isoformat() if hasattr(value, 'isoformat') else value
