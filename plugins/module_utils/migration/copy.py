# -*- coding: utf-8 -*-
# Copyright: soar.partman contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Step copied: the old table's rows into the partitions, child by child (range) or by heap block
ranges (ctid), on one connection or `jobs`; the batches themselves are in module_utils/batches.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import threading

from ansible_collections.soar.partman.plugins.module_utils import batches
from ansible_collections.soar.partman.plugins.module_utils import catalog
from ansible_collections.soar.partman.plugins.module_utils import state as st
from ansible_collections.soar.partman.plugins.module_utils.migration.context import MigrationError
from ansible_collections.soar.partman.plugins.module_utils.ddl import qualified_ident
from ansible_collections.soar.partman.plugins.module_utils.names import quote_ident
from ansible_collections.soar.partman.plugins.module_utils.progress import Progress

try:
    from psycopg2 import sql
except ImportError:  # the module reports the missing library
    sql = None


class _LockedProgress(object):
    """A Progress shared by threads: add() under a lock."""

    def __init__(self, progress):
        self.progress = progress
        self.lock = threading.Lock()

    def add(self, rows, where='', force=False):
        with self.lock:
            return self.progress.add(rows, where=where, force=force)


def run(ctx, state):
    db = ctx.db
    snap = state['snapshot']
    cols = batches.column_list(snap['columns'])
    over = batches.overriding(snap['columns'])
    parts = st.partitions(db, ctx.state_schema, ctx.key)
    db.rollback()
    counts = snap.get('bucket_counts') or {}
    total_est = sum(counts.values()) if counts else snap['table']['reltuples']
    done_rows = sum(p['rows'] for p in parts) if state['copy_method'] == 'range' else state['rows_copied']
    if state['rows_total'] is None:
        total = db.scalar(sql.SQL('SELECT count(*) FROM {}').format(ctx.t_source)) if not counts else total_est
        st.update(db, ctx.state_schema, ctx.key, rows_total=total)
        db.commit()
    else:
        total = state['rows_total']
    progress = Progress(total, done_rows, log=ctx.log, every=float(ctx.p['progress_interval']))
    if state['copy_method'] == 'ctid':
        copy_ctid(ctx, state, snap, cols, over, progress)
    else:
        todo = [p for p in parts if not p['done']]
        if ctx.p['jobs'] > 1 and len(todo) > 1:
            # each child on its own connection, `jobs` at a time; every slice still commits together
            # with that child's progress row, so resuming works as with one connection
            shared = _LockedProgress(progress)
            errors = ctx.in_parallel(todo, lambda conn, p: copy_partition(
                ctx, conn, p, snap, cols, over, counts, total_est, shared))
            if errors:
                if len(errors) > 1:
                    ctx.log('copying partitions: %d connections failed; first error re-raised: %s'
                            % (len(errors), '; '.join(str(e).strip() for e in errors)))
                raise errors[0]
        else:
            for p in todo:
                copy_partition(ctx, db, p, snap, cols, over, counts, total_est, progress)
    progress.add(0, force=True)
    st.update(db, ctx.state_schema, ctx.key, rows_copied=progress.done, progress=progress.snapshot())
    db.commit()


def copy_partition(ctx, db, p, snap, cols, over, counts, total_est, progress):
    """Copy one child (range method) on connection db."""
    # A child holds exactly what the state says was committed into it: each slice commits together
    # with its state row. Anything else was written or deleted by someone else, and a row this
    # module did not write is never deleted by it.
    have = db.scalar(sql.SQL('SELECT count(*) FROM ONLY {}').format(qualified_ident(p['partition'])))
    db.rollback()
    if have != p['rows']:
        raise MigrationError(
            "%s holds %d rows but the migration committed %d into it: something else %s the new table "
            "(directly into the partition, or before the write guard existed). Nothing was deleted. Stop "
            "whatever writes to %s, then revert (state: reverted copies rows missing from %s.%s back into it) "
            "and run the migration again." % (p['partition'], have, p['rows'],
                                              'wrote into' if have > p['rows'] else 'deleted rows of',
                                              ctx.key, ctx.schema, ctx.old_name))
    est = None
    lo_key = catalog.bound_start(db, snap['control_type'], p['lo'])
    db.rollback()
    if lo_key is not None and lo_key.isoformat() in counts:
        est = counts[lo_key.isoformat()]
    elif lo_key is not None and lo_key.isoformat() not in snap['buckets']:
        est = 0
    else:
        est = float(total_est) / max(len(snap['buckets']), 1)
    batches.copy_range_partition(db, ctx.state_schema, ctx.key, ctx.t_source, p, ctx.control,
                                 snap['control_type'], cols, over, ctx.p['batch_size'], est or 1,
                                 ctx.interval.approx_seconds, progress, pause_ratio=ctx.p['copy_pause_ratio'])


def copy_ctid(ctx, state, snap, cols, over, progress):
    db = ctx.db
    blocks = state['ctid_blocks']
    if blocks is None:
        blocks = db.scalar(sql.SQL("SELECT pg_relation_size(%s::regclass) / current_setting('block_size')::int")
                           .format(), ('%s.%s' % (quote_ident(ctx.schema), quote_ident(ctx.old_name)),))
        st.update(db, ctx.state_schema, ctx.key, ctid_blocks=blocks)
        db.commit()
    relpages = max(snap['table']['relpages'] or 1, 1)
    rows_per_block = float(snap['table']['reltuples'] or 0) / relpages or 50.0
    if state['ctid_done'] >= blocks and blocks > 0:
        return
    batches.copy_ctid(db, ctx.state_schema, ctx.key, ctx.t_source, ctx.t_target, cols, over, blocks,
                      state['ctid_done'], rows_per_block, ctx.p['batch_size'], progress,
                      pause_ratio=ctx.p['copy_pause_ratio'])
