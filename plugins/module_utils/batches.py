# -*- coding: utf-8 -*-
# Copyright: soar.partman contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Batched, resumable copy of the old table's rows into the new partitions.

range: per child, INSERT INTO child SELECT ... FROM old WHERE control >= a
       AND control < b over contiguous half-open slices [a, b) of the child's
       range, sized to about batch_size rows; needs a btree index on old
       (control). Each slice is committed together with the child's progress
       row in the state table, so a kill loses at most the running slice,
       which rolls back and is redone.
ctid:  when old has no index on control: block ranges of the old heap
       (TID range scans, PostgreSQL 14+) inserted through the parent, the last
       block done committed with each batch.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.soar.partman.plugins.module_utils import state as st
from ansible_collections.soar.partman.plugins.module_utils.ddl import qualified_ident

try:
    from psycopg2 import sql
except ImportError:
    sql = None


class CopyError(Exception):
    pass


def adapt_slice_width(width, rows, batch_size, min_width, max_width):
    """Next copy-slice width (seconds of control time) aiming at batch_size
    rows: scale by the observed density, at most x4 / at least /4 per step."""
    if rows <= 0:
        new = width * 4
    else:
        new = width * float(batch_size) / float(rows)
        new = max(width / 4.0, min(new, width * 4.0))
    return max(min_width, min(new, max_width))


def column_list(columns):
    """Columns that can be inserted (generated columns are recomputed)."""
    return [c['name'] for c in columns if not c.get('generated')]


def overriding(columns):
    return any(c.get('identity') == 'a' for c in columns)


def insert_select(target, source, cols, where, with_overriding, select=None):
    """INSERT INTO target (cols) [OVERRIDING SYSTEM VALUE] SELECT cols FROM source WHERE <where>;
    select: another select list (composed) than the columns themselves."""
    ident_cols = sql.SQL(', ').join(sql.Identifier(c) for c in cols)
    return sql.SQL('INSERT INTO {} ({}){} SELECT {} FROM {} WHERE {}').format(
        target, ident_cols, sql.SQL(' OVERRIDING SYSTEM VALUE' if with_overriding else ''),
        ident_cols if select is None else select, source, where)


def range_where(control):
    return sql.SQL('{c} >= %s AND {c} < %s').format(c=sql.Identifier(control))


def next_bound_query(ctype):
    """SELECT least(cur + width, hi), reached-hi for the control type."""
    t = sql.SQL(ctype)
    return sql.SQL(
        'SELECT least((%s::{t} + make_interval(secs => %s))::{t}, %s::{t})::text, '
        '(%s::{t} + make_interval(secs => %s))::{t} >= %s::{t}, '
        '(%s::{t} + make_interval(secs => %s))::{t} > %s::{t}').format(t=t)


def pause_after(t0, ratio):
    """Sleep ratio times the seconds since t0 (a batch's start): the copy then writes (WAL, pages) at
    1 / (1 + ratio) of its speed, and the application's commits wait less behind it."""
    if ratio > 0:
        time.sleep(ratio * (time.time() - t0))


def copy_range_partition(db, state_schema, table_key, old_ident, child, control, ctype, cols, with_overriding,
                         batch_size, est_rows, interval_seconds, progress, pause_ratio=0.0):
    """Copy one child by slices of its range. child: state row (partition, lo,
    hi, done_upto, rows, done). Returns rows copied in this run."""
    schema, rel = child['partition'].split('.', 1)
    target = qualified_ident(child['partition'])
    lo, hi = child['lo'], child['hi']
    cur = child['done_upto'] or lo
    min_width = 86400.0 if ctype == 'date' else 1.0
    max_width = float(interval_seconds) * 1.1 + 86400 * 3
    if est_rows and est_rows > 0:
        width = max(min_width, float(interval_seconds) * batch_size / float(est_rows))
    else:
        width = float(interval_seconds)
    width = min(width, max_width)
    insert = insert_select(target, old_ident, cols, range_where(control), with_overriding)
    nb = next_bound_query(ctype)
    copied = 0
    first = True
    while True:
        t0 = time.time()
        row = db.execute(nb, (cur, width, hi, cur, width, hi, cur, width, cur), record=False)[0]
        nxt, at_end, progressed = row[0], row[1], row[2]
        if not progressed:
            width = max(width * 2, min_width * 2)
            continue
        db.execute(insert, (cur, nxt), record=first)
        first = False
        n = db.last_rowcount if db.last_rowcount and db.last_rowcount > 0 else 0
        st.partition_progress(db, state_schema, table_key, child['partition'], nxt, n, bool(at_end), time.time() - t0)
        db.commit()
        copied += n
        progress.add(n, where='(%s up to %s)' % (rel, nxt))
        cur = nxt
        if at_end:
            break
        pause_after(t0, pause_ratio)
        width = adapt_slice_width(width, n, batch_size, min_width, max_width)
    return copied


def copy_ctid(db, state_schema, table_key, old_ident, parent_ident, cols, with_overriding, total_blocks,
              done_blocks, rows_per_block, batch_size, progress, pause_ratio=0.0):
    """Copy block ranges of the old heap into the parent. Returns rows copied."""
    per_batch = max(1, int(batch_size / max(rows_per_block, 1.0)))
    b = int(done_blocks or 0)
    copied = 0
    bounded = insert_select(parent_ident, old_ident, cols,
                            sql.SQL('ctid >= %s::tid AND ctid < %s::tid'), with_overriding)
    open_ended = insert_select(parent_ident, old_ident, cols, sql.SQL('ctid >= %s::tid'), with_overriding)
    first = True
    while True:
        t0 = time.time()
        e = b + per_batch
        last = e >= total_blocks
        if last:
            db.execute(open_ended, ('(%d,0)' % b,), record=first)
        else:
            db.execute(bounded, ('(%d,0)' % b, '(%d,0)' % e), record=first)
        first = False
        n = db.last_rowcount if db.last_rowcount and db.last_rowcount > 0 else 0
        st.update(db, state_schema, table_key, ctid_done=(total_blocks if last else e),
                  rows_copied=progress.done + n, progress=progress.snapshot())
        db.commit()
        copied += n
        progress.add(n, where='(block %d of %d)' % (min(e, total_blocks), total_blocks))
        if last:
            break
        b = e
        pause_after(t0, pause_ratio)
    return copied
