# -*- coding: utf-8 -*-
# Copyright: soar.partman contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Online mode's catch-up: the changes in a change log (capture.py) applied to the other table, in
rounds. A round, in one REPEATABLE READ transaction, takes the oldest pending log entries, deletes
their (key, control) rows from the table written to and inserts the current rows with those keys from
the table read from, then marks the entries applied with the round's number. One snapshot for the log
and the rows: a change committed after it is not seen, and neither is its log entry, which stays
pending for the next round. Re-reading by key makes a round idempotent and order-free: whatever
happened to a key in between, the row ends as the table read from has it (or absent).

Applied entries are kept until a verification has covered them (verify.py), so the cut-over can
verify exactly what changed since the last full verification.

Writes run with session_replication_role = replica: the table's own triggers (already on the
partitioned table) must not fire a second time for rows the application wrote once."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.soar.partman.plugins.module_utils import batches
from ansible_collections.soar.partman.plugins.module_utils import state as st
from ansible_collections.soar.partman.plugins.module_utils.migration import capture
from ansible_collections.soar.partman.plugins.module_utils.progress import Progress

try:
    from psycopg2 import sql
except ImportError:  # the module reports the missing library
    sql = None

# log entries per round: a round is one transaction, and the window's last rounds hold the lock
ROUND_SIZE = 20000
# catch-up before the lock stops when a round applies no more than this (the rest is for the window)
SMALL = 2000
KEYS = 'partman_migrate_keys'


def round_settings(db):
    """Per transaction: the key lookups are few rows against big tables, by index (a hash join
    would read the whole table); the table's own triggers off."""
    for name, value in (('enable_hashjoin', 'off'), ('enable_mergejoin', 'off'),
                        ('session_replication_role', 'replica')):
        db.execute('SELECT set_config(%s, %s, true)', (name, value), record=False)


def last_round(ctx, db, direction, floor=0):
    """The number of the last round: the log's, or floor (the last verified round, whose entries a
    verification removed) when that is higher, so that round numbers only ever grow and "applied
    after the last verification" keeps its meaning."""
    return max(floor or 0, db.scalar(sql.SQL('SELECT coalesce(max(applied_round), 0) FROM {}').format(
        capture.log_table(ctx, direction))))


def apply_round(ctx, db, snap, direction, source, target, round_no, limit=ROUND_SIZE, locked=False):
    """One round from source to target (sql.Identifiers). locked: inside the cut-over's transaction,
    which holds the lock (no new changes can commit; it commits itself). Returns entries applied."""
    log = capture.log_table(ctx, direction)
    cols = capture.key_columns(ctx, snap)
    if not locked:
        db.rollback()  # a new transaction: its isolation is set before any query
        db.execute('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ', record=False)
    round_settings(db)
    upto = db.scalar(sql.SQL('SELECT max(change_id) FROM (SELECT change_id FROM {} WHERE applied_round IS NULL '
                             'ORDER BY change_id LIMIT %s) s').format(log), (limit,))
    if upto is None:
        if not locked:
            db.rollback()
        return 0
    keys = capture.keys_table(db, KEYS, cols, log, 'applied_round IS NULL AND change_id <= %s', (upto,))
    db.execute(sql.SQL('DELETE FROM {} t USING {} k WHERE {}').format(
        target, keys, capture.key_match(cols, 't', 'k')), record=False)
    insert_cols = batches.column_list(snap['columns'])
    db.execute(batches.insert_select(
        target, sql.SQL('{} s').format(source), insert_cols,
        sql.SQL('EXISTS (SELECT 1 FROM {} k WHERE {})').format(keys, capture.key_match(cols, 's', 'k')),
        batches.overriding(snap['columns']),
        select=sql.SQL(', ').join(sql.Identifier('s', c) for c in insert_cols)), record=False)
    db.execute(sql.SQL('UPDATE {} SET applied_round = %s WHERE applied_round IS NULL AND change_id <= %s').format(log),
               (round_no, upto), record=False)
    n = max(db.last_rowcount or 0, 0)
    if not locked:
        db.commit()
    return n


def catch_up(ctx, snap, direction, source, target, until_small=True, what='catching up', floor=0):
    """Rounds until a round applies no more than SMALL entries (until_small) or nothing. Progress:
    entries applied of those pending at the start, rate, time left. Returns entries applied."""
    db = ctx.db
    pending = capture.pending(ctx, db, direction)
    db.rollback()
    progress = Progress(pending, 0, log=ctx.log, every=float(ctx.p['progress_interval']),
                        label='%s (changes)' % what)
    round_no = last_round(ctx, db, direction, floor)
    db.rollback()
    total = 0
    t0 = time.time()
    while True:
        round_no += 1
        n = apply_round(ctx, db, snap, direction, source, target, round_no)
        total += n
        progress.add(n)
        if n == 0 or (until_small and n <= SMALL):
            break
    progress.add(0, force=True)
    ctx.log('%s: %d changes applied in %.1fs, %d rounds' % (what, total, time.time() - t0, round_no))
    return total


def run(ctx, state):
    """Step caught_up: the changes captured while the history was copied, applied."""
    snap = state['snapshot']
    n = catch_up(ctx, snap, capture.FORWARD, ctx.t_source, ctx.t_target,
                 floor=state['extra'].get('verified_round') or 0)
    st.update(ctx.db, ctx.state_schema, ctx.key, extra=dict(state['extra'], caught_up_changes=n))
    ctx.db.commit()
