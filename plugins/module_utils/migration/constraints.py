# -*- coding: utf-8 -*-
# Copyright: soar.partman contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Step constrained: outgoing foreign keys and triggers on the parent, inbound foreign keys re-pointed
to it, ANALYZE. An outgoing key goes on each partition first, one transaction each, then on the parent,
which takes the partitions' keys over instead of validating again: the referenced table is locked against
writes (SHARE ROW EXCLUSIVE) only while one partition is validated, not all of them (at 10M rows, with the
application writing to aprs_messages during an online prepare, one statement for the parent stalled its
writes for 43 s)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.soar.partman.plugins.module_utils import catalog
from ansible_collections.soar.partman.plugins.module_utils import ddl
from ansible_collections.soar.partman.plugins.module_utils.migration import phases
from ansible_collections.soar.partman.plugins.module_utils.names import quote_ident

try:
    from psycopg2 import sql
except ImportError:  # the module reports the missing library
    sql = None


def run(ctx, state):
    db = ctx.db
    snap = state['snapshot']
    poid = ctx.parent_oid()
    # counted: each outgoing foreign key, each inbound one re-pointed, ANALYZE (when still to do)
    fks = [con for con in snap['constraints'] if con['type'] == 'f']
    # online: re-pointed in the window (cutover.py), not here
    repoint = [fk for fk in snap['inbound_fks'] if fk['repoint'] and not ctx.built_aside]
    # each key on each partition (done already beside the builds when jobs > 1; looked up first)
    child_fks = child_foreign_keys(ctx, snap)
    child_tasks = [child_fk_task(ctx, p, con) for p in catalog.partitions(db, poid) for con in child_fks]
    db.rollback()
    phase = phases.start(ctx, db, 'constrained',
                         len(child_tasks) + len(fks) + len(repoint) + (0 if ctx.analyzed else 1))
    for task in child_tasks:
        run_task(db, task)
        phase.add(db)
    for con in fks:
        if ctx.on_parent('constraint', con['name']):
            phase.add(db)
            continue
        db.execute(ddl.add_constraint(ctx.t_target, con['name'], con['def']))
        if con.get('comment'):
            db.execute(ddl.comment_on('constraint', con['name'], ctx.t_target), (con['comment'],))
        db.commit()
        phase.add(db)
    for trg in snap['triggers']:
        if db.scalar('SELECT 1 FROM pg_trigger WHERE tgrelid = %s AND tgname = %s', (poid, trg['name'])):
            continue
        tdef = trg['def']
        if ctx.built_aside:  # the definition names the table in use
            tdef = ddl.retarget_trigger_def(tdef, ctx.schema, ctx.name, ctx.target_schema, ctx.name)
        db.execute(tdef.replace('%', '%%'))
        if trg['enabled'] in ('D', 'A', 'R'):  # created enabled (O)
            db.execute(ddl.trigger_state(ctx.t_target, trg['name'], trg['enabled']))
        db.commit()
    for fk in repoint:
        ref = sql.Identifier(fk['schema'], fk['tablename'])
        target = catalog.constraint_target(db, fk['schema'], fk['tablename'], fk['name'])
        if target != poid:
            if target is not None:
                db.execute(ddl.drop_constraint(ref, fk['name']))
            db.execute(ddl.add_constraint(ref, fk['name'], fk['def']))
            db.commit()
        phase.add(db)
    db.rollback()
    if not ctx.analyzed:  # done during the index builds of this run (jobs > 1)
        analyze_parent(ctx, db)
        phase.add(db)


def analyze_parent(ctx, db, beside_builds=False):
    """ANALYZE the partitioned table (and so every partition) on connection db. Beside our own
    index builds it waits for locks without lock_timeout: it queues behind one build at a time,
    which may take longer than lock_timeout on a big partition."""
    db.rollback()
    t0 = time.time()
    db.set_autocommit(True)
    try:
        if beside_builds:
            db.execute("SELECT set_config('lock_timeout', '0', false)", record=False)
        db.execute(sql.SQL('ANALYZE {}').format(ctx.t_target))
    finally:
        if beside_builds:
            db.execute('SELECT set_config(%s, %s, false)',
                       ('lock_timeout', '%ds' % int(ctx.p['lock_timeout'])), record=False)
        db.set_autocommit(False)
    ctx.analyzed = True
    ctx.log('ANALYZE in %.1fs' % (time.time() - t0))


def child_foreign_keys(ctx, snap):
    """The outgoing foreign keys to add to each child before the parent; not the parent's own
    (a key towards the table itself follows the parent path), not those already on the parent."""
    own = (ctx.name, ctx.key, '%s.%s' % (quote_ident(ctx.schema), quote_ident(ctx.name)),
           quote_ident(ctx.name))
    return [con for con in snap['constraints'] if con['type'] == 'f' and con.get('references') not in own
            and not ctx.on_parent('constraint', con['name'])]


def child_fk_task(ctx, p, con):
    """(statements, check, wait_for_locks) adding foreign key con to child p under the parent's
    constraint name, the name PostgreSQL itself gives a child's copy of the parent's key: NOT VALID,
    then validated in a transaction of its own. Adding takes SHARE ROW EXCLUSIVE on the referenced
    table, which blocks the application's writes to it (in an online prepare they go on): held for a
    moment, not for the scan, which VALIDATE does under ROW SHARE. check: the key is there already
    (VALIDATE of a valid key is a no-op). Waits for locks without lock_timeout: behind our own builds
    on the child, or a moment behind another connection adding a key towards the same table."""
    child = sql.Identifier(p['schema'], p['relname'])
    check = catalog.constraint_query(p['oid'], con['name'])
    if not con['validated']:  # NOT VALID on the old table (PostgreSQL 18+): the same on the new one
        return [ddl.add_constraint(child, con['name'], con['def'])], check, True
    stmts = [ddl.add_constraint(child, con['name'], con['def'] + ' NOT VALID'),
             sql.SQL('ALTER TABLE {} VALIDATE CONSTRAINT {}').format(child, sql.Identifier(con['name']))]
    return stmts, check, True


def run_task(db, task):
    """Run a build task (statements, check, wait_for_locks), each statement committed on its own; the
    check (the object exists) skips the first."""
    stmts, check, wait_for_locks = task
    for i, stmt in enumerate(stmts):
        if i == 0 and check and db.scalar(*check):
            db.rollback()
            continue
        if wait_for_locks:
            db.execute("SET LOCAL lock_timeout = 0", record=False)
        db.execute(stmt)
        db.commit()
