# -*- coding: utf-8 -*-
# Copyright: soar.partman contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Step verified: every partition against the old table, per bucket (count, or count and checksum),
the default partition empty. A failure keeps the old table and the state; the run can be repeated."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.soar.partman.plugins.module_utils import catalog
from ansible_collections.soar.partman.plugins.module_utils import state as st
from ansible_collections.soar.partman.plugins.module_utils.migration import capture, catchup, phases
from ansible_collections.soar.partman.plugins.module_utils.migration.context import MigrationError
from ansible_collections.soar.partman.plugins.module_utils.names import quote_ident

try:
    from psycopg2 import sql
except ImportError:  # the module reports the missing library
    sql = None


# temporary tables of keys: changes pending at a verification, changes since the last one
PENDING = 'partman_migrate_pending'
CHANGED = 'partman_migrate_changed'


def shown(table):
    """A sql.Identifier as the user reads it (no connection needed)."""
    return '.'.join(quote_ident(s) for s in table.strings)


def aggregate(columns, checksum):
    """What is compared per bucket: count(*), and a checksum of the rows (0 unless checksum)."""
    if checksum:
        rowexpr = sql.SQL('ROW({})::text').format(sql.SQL(', ').join(sql.Identifier(c) for c in columns))
        return sql.SQL("count(*), coalesce(sum(('x' || substr(md5({}), 1, 15))::bit(60)::bigint), 0)").format(rowexpr)
    return sql.SQL('count(*), 0')


def run(ctx, state):
    """Offline: the old table is no longer written to; autocommit, one query per bucket."""
    db = ctx.db
    snap = state['snapshot']
    db.set_autocommit(True)
    try:
        compare(ctx, db, snap, ctx.t_source)
    finally:
        db.set_autocommit(False)


def run_online(ctx, state):
    """Online, while the application writes: both tables under one snapshot (REPEATABLE READ), the
    keys with changes not applied yet left out of both sides. The applied log entries this covered
    are then removed; the cut-over verifies only what was applied after them."""
    db = ctx.db
    snap = state['snapshot']
    log = capture.log_table(ctx, capture.FORWARD)
    cols = capture.key_columns(ctx, snap)
    pending_keys, covered = log_snapshot(db, cols, log, state['extra'].get('verified_round'))
    pending = db.scalar(sql.SQL('SELECT count(*) FROM {}').format(pending_keys))
    exclude = sql.SQL('NOT EXISTS (SELECT 1 FROM {} k WHERE {})').format(
        pending_keys, capture.key_match(cols, 'k', 's'))
    progress_db = db.clone(autocommit=True)
    try:
        compare(ctx, db, snap, ctx.t_source, exclude=exclude, progress_db=progress_db)
    finally:
        db.rollback()
        progress_db.close()
    db.execute(sql.SQL('DELETE FROM {} WHERE applied_round <= %s').format(log), (covered,))
    st.update(db, ctx.state_schema, ctx.key, extra=dict(state['extra'], verified_round=covered))
    db.commit()
    ctx.log('verified against %s under one snapshot, %d keys with changes pending left to the cut-over'
            % (ctx.key, pending))


def log_snapshot(db, cols, log, floor):
    """A new REPEATABLE READ transaction on db. Returns the temporary table of the keys with changes
    pending at its snapshot, and the last round applied by then (at least floor)."""
    db.rollback()  # a new transaction: its isolation is set before any query
    db.execute('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ', record=False)
    pending = capture.keys_table(db, PENDING, cols, log, 'applied_round IS NULL')
    covered = max(floor or 0, db.scalar(sql.SQL('SELECT coalesce(max(applied_round), 0) FROM {}').format(log)))
    return pending, covered


def changed_keys(ctx, db, snap, direction, since_round):
    """The temporary table of the keys applied after since_round."""
    return capture.keys_table(db, CHANGED, capture.key_columns(ctx, snap), capture.log_table(ctx, direction),
                              'applied_round > %s', (since_round,))


def verify_applied(ctx, db, snap, direction, source, target, since_round):
    """Before the cut-over's lock, while the application may still write: the rows of every key
    applied after since_round equal in both tables under one snapshot (REPEATABLE READ), the keys
    with changes pending at that snapshot left out (a later round applies them: the window checks
    them). Returns (the last round covered, keys verified): the window verifies only the rounds
    after it, so that the lock is held for the changes of its last seconds, not for those since the
    last prepare. Raises MigrationError."""
    cols = capture.key_columns(ctx, snap)
    pending, covered = log_snapshot(db, cols, capture.log_table(ctx, direction), since_round)
    catchup.round_settings(db)  # key lookups by index, as in a round
    changed = changed_keys(ctx, db, snap, direction, since_round)
    db.execute(sql.SQL('DELETE FROM {} c USING {} p WHERE {}').format(
        changed, pending, capture.key_match(cols, 'c', 'p')), record=False)
    try:
        keys = compare_keys(ctx, db, snap, changed, source, target, 'before the lock')
    finally:
        db.rollback()
    ctx.log('verified the %d keys changed since the last verification, before the lock (the window checks '
            'only those applied after round %d)' % (keys, covered))
    return covered, keys


def verify_changed(ctx, db, snap, direction, source, target, since_round):
    """Inside the cut-over (the lock held, the log applied): the rows of every key applied after
    since_round equal in both tables (count and checksum of the rows). Returns the keys checked;
    raises MigrationError."""
    changed = changed_keys(ctx, db, snap, direction, since_round)
    return compare_keys(ctx, db, snap, changed, source, target, 'under the lock')


def compare_keys(ctx, db, snap, keys_table, source, target, when):
    """The rows of the keys in keys_table (a temporary table) equal in source and target: count and
    checksum of the rows. Returns the number of keys; raises MigrationError (saying when: before or
    under the lock)."""
    cols = capture.key_columns(ctx, snap)
    agg = aggregate([c['name'] for c in snap['columns']], True)
    match = sql.SQL('EXISTS (SELECT 1 FROM {} k WHERE {})').format(keys_table, capture.key_match(cols, 'k', 's'))
    keys = db.scalar(sql.SQL('SELECT count(*) FROM {}').format(keys_table))
    got = []
    for table in (source, target):
        got.append(db.execute(sql.SQL('SELECT {} FROM {} s WHERE {}').format(agg, table, match), record=False)[0])
    if tuple(got[0]) != tuple(got[1]):
        raise MigrationError(
            'verification of the %d keys changed since the last verification FAILED (%s): %d rows (checksum '
            '%s) in %s, %d rows (checksum %s) in %s. Nothing was swapped; the table in use is unchanged. Run '
            'again (the changes are applied again), or revert with state: reverted.'
            % (keys, when, got[0][0], got[0][1], shown(source), got[1][0], got[1][1], shown(target)))
    return keys


def compare(ctx, db, snap, source, exclude=None, progress_db=None):
    """Every partition of the table being built against source, bucket by bucket; exclude: a
    condition on rows (alias s) both sides leave out. Raises MigrationError on a difference.
    Progress (the source's scan, then each partition) is recorded on progress_db (default db, in
    autocommit): a progress record commits, which must not end a snapshot kept on db."""
    checksum = ctx.p['verify'] == 'checksum'
    agg = aggregate([c['name'] for c in snap['columns']], checksum)
    where = sql.SQL(' WHERE {}').format(exclude) if exclude is not None else sql.SQL('')
    parts = catalog.partitions(db, ctx.parent_oid())
    phase = phases.start(ctx, progress_db or db, 'verified', len(parts) + 1)
    rows = db.execute(sql.SQL('SELECT date_trunc(%s, {c})::timestamptz, {agg} FROM {t} s{w} GROUP BY 1').format(
        c=sql.Identifier(ctx.control), agg=agg, t=source, w=where), (ctx.interval.trunc,), record=False)
    old = dict((r[0], (r[1], r[2])) for r in rows)
    phase.add(progress_db or db)
    problems = []
    seen = set()
    new_total = 0
    for p in parts:
        got = db.execute(sql.SQL('SELECT {} FROM ONLY {} s{}').format(
            agg, sql.Identifier(p['schema'], p['relname']), where), record=False)[0]
        new_total += got[0]
        phase.add(progress_db or db)
        if p['is_default']:
            if got[0]:
                problems.append('default partition %s holds %d rows' % (p['name'], got[0]))
            continue
        key = catalog.bound_start(db, snap['control_type'], p['lo'])
        seen.add(key)
        want = old.get(key, (0, 0))
        ctx.rows_copied[p['name']] = got[0]
        if got[0] != want[0]:
            problems.append('%s: %d rows, %s has %d in [%s, %s)' % (
                p['name'], got[0], shown(source), want[0], p['lo'], p['hi']))
        elif checksum and got[1] != want[1]:
            problems.append('%s: checksum differs from %s' % (p['name'], shown(source)))
    for key, (n, _h) in old.items():
        if key not in seen and n:
            problems.append('%d rows of %s (bucket %s) have no partition' % (n, shown(source), key))
    old_total = sum(v[0] for v in old.values())
    ctx.plan = dict(ctx.plan or {}, verified_rows=new_total, old_rows=old_total)
    if problems or new_total != old_total:
        msg = ('verification FAILED, %s is intact and was not touched: total %d new vs %d old; %s. '
               'Investigate, then re-run (verification is repeated) or revert with state: reverted.'
               % (shown(source), new_total, old_total, '; '.join(problems[:20])))
        db.rollback()
        st.update(db, ctx.state_schema, ctx.key, message=msg)
        db.commit()
        raise MigrationError(msg)
    ctx.log('verified %d rows in %d partitions (%s)' % (new_total, len(parts), ctx.p['verify']))
