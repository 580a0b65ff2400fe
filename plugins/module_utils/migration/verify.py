# -*- coding: utf-8 -*-
# Copyright: soar.partman contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Step verified: every partition against the old table, per bucket (count, or count and checksum),
the default partition empty. A failure keeps the old table and the state; the run can be repeated."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.soar.partman.plugins.module_utils import catalog
from ansible_collections.soar.partman.plugins.module_utils import state as st
from ansible_collections.soar.partman.plugins.module_utils.migration import phases
from ansible_collections.soar.partman.plugins.module_utils.migration.context import MigrationError

try:
    from psycopg2 import sql
except ImportError:  # the module reports the missing library
    sql = None


def aggregate(columns, checksum):
    """What is compared per bucket: count(*), and a checksum of the rows (0 unless checksum)."""
    if checksum:
        rowexpr = sql.SQL('ROW({})::text').format(sql.SQL(', ').join(sql.Identifier(c) for c in columns))
        return sql.SQL("count(*), coalesce(sum(('x' || substr(md5({}), 1, 15))::bit(60)::bigint), 0)").format(rowexpr)
    return sql.SQL('count(*), 0')


def run(ctx, state):
    db = ctx.db
    snap = state['snapshot']
    checksum = ctx.p['verify'] == 'checksum'
    agg = aggregate([c['name'] for c in snap['columns']], checksum)
    db.set_autocommit(True)
    try:
        # counted: the old table's counts (one scan), then each partition
        parts = catalog.partitions(db, ctx.parent_oid())
        phase = phases.start(ctx, db, 'verified', len(parts) + 1)
        rows = db.execute(sql.SQL('SELECT date_trunc(%s, {c})::timestamptz, {agg} FROM {t} GROUP BY 1').format(
            c=sql.Identifier(ctx.control), agg=agg, t=ctx.t_old), (ctx.interval.trunc,))
        old = dict((r[0], (r[1], r[2])) for r in rows)
        phase.add(db)
        problems = []
        seen = set()
        new_total = 0
        for p in parts:
            got = db.execute(sql.SQL('SELECT {} FROM ONLY {}').format(agg, sql.Identifier(p['schema'], p['relname'])),
                             record=False)[0]
            new_total += got[0]
            phase.add(db)
            if p['is_default']:
                if got[0]:
                    problems.append('default partition %s holds %d rows' % (p['name'], got[0]))
                continue
            key = catalog.bound_start(db, snap['control_type'], p['lo'])
            seen.add(key)
            want = old.get(key, (0, 0))
            ctx.rows_copied[p['name']] = got[0]
            if got[0] != want[0]:
                problems.append('%s: %d rows, old table has %d in [%s, %s)' % (p['name'], got[0], want[0],
                                                                               p['lo'], p['hi']))
            elif checksum and got[1] != want[1]:
                problems.append('%s: checksum differs from the old table' % p['name'])
        for key, (n, _h) in old.items():
            if key not in seen and n:
                problems.append('%d rows of the old table (bucket %s) have no partition' % (n, key))
        old_total = sum(v[0] for v in old.values())
    finally:
        db.set_autocommit(False)
    ctx.plan = dict(ctx.plan or {}, verified_rows=new_total, old_rows=old_total)
    if problems or new_total != old_total:
        msg = ('verification FAILED, %s.%s is intact and was not touched: total %d new vs %d old; %s. '
               'Investigate, then re-run (verification is repeated) or revert with state: reverted.'
               % (ctx.schema, ctx.old_name, new_total, old_total, '; '.join(problems[:20])))
        st.update(db, ctx.state_schema, ctx.key, message=msg)
        db.commit()
        raise MigrationError(msg)
    ctx.log('verified %d rows in %d partitions (%s)' % (new_total, len(parts), ctx.p['verify']))
