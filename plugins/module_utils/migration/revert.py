# -*- coding: utf-8 -*-
# Copyright: soar.partman contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The inverse of the forward steps (state: reverted): re-pointed foreign keys dropped, rows written to
the partitioned table since the migration copied back, the partitions and the parent dropped, the
old table renamed back with its indexes, inbound foreign keys restored, pg_partman configuration and
the state row removed. Resumable like the forward steps."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.soar.partman.plugins.module_utils import batches
from ansible_collections.soar.partman.plugins.module_utils import catalog
from ansible_collections.soar.partman.plugins.module_utils import ddl
from ansible_collections.soar.partman.plugins.module_utils import partman as pm
from ansible_collections.soar.partman.plugins.module_utils import state as st
from ansible_collections.soar.partman.plugins.module_utils.migration import phases
from ansible_collections.soar.partman.plugins.module_utils.migration.context import MigrationError
from ansible_collections.soar.partman.plugins.module_utils.names import split_table_name

try:
    from psycopg2 import sql
except ImportError:  # the module reports the missing library
    sql = None


# partitions dropped per transaction
DROP_CHUNK = 50


def run(ctx, state):
    db = ctx.db
    tbl = ctx.exists(ctx.name)
    old = ctx.exists(ctx.old_name)
    if state is None:
        if tbl is not None and not tbl['partitioned']:
            ctx.plan = {'table': ctx.key, 'status': 'not migrated', 'steps': []}
            return
        if tbl is None:
            raise MigrationError("table %s does not exist and there is no migration state for it" % ctx.key)
        raise MigrationError("%s is partitioned but there is no partman_migrate state for it (%s.%s): it was "
                             "not migrated by this module, refusing to revert"
                             % (ctx.key, ctx.state_schema, st.STATE))
    if old is None:
        raise MigrationError(
            "cannot revert %s: the old table %s.%s is gone (finalized?). The data now lives only in the "
            "partitioned table; revert by hand if needed (pg_partman's undo_partition)."
            % (ctx.key, ctx.schema, ctx.old_name))
    snap = state['snapshot']
    ctx.changed = True
    ctx.diff = {'before': {'table': ctx.key, 'partitioned': True},
                'after': {'table': ctx.key, 'partitioned': False}}
    ctx.plan = {'table': ctx.key, 'revert_from_step': state['step'], 'old_table': state['old_table'],
                'steps': ['drop re-pointed foreign keys', 'copy rows written since the migration back',
                          'drop partitions', 'rename %s back to %s' % (ctx.old_name, ctx.name),
                          'restore inbound foreign keys', 'remove pg_partman configuration']}
    if ctx.check_mode:
        return
    if tbl is not None and tbl['partitioned']:
        if state['direction'] == 'forward':
            ctx.timed('revert_prepare', revert_prepare, ctx, state, snap)
            state = st.load(db, ctx.state_schema, ctx.key)
            db.commit()
        if state['step'] == 'revert-copy':
            ctx.timed('revert_copy', revert_copy, ctx, state, snap)
            st.update(db, ctx.state_schema, ctx.key, step='revert-drop')
            db.commit()
        ctx.timed('revert_drop', revert_drop, ctx, snap)
    ctx.timed('revert_finish', revert_finish, ctx, state, snap)


def revert_prepare(ctx, state, snap):
    db = ctx.db
    poid = ctx.parent_oid()
    db.execute(ddl.lock_exclusive(ctx.t_parent, ctx.t_old))
    for fk in snap['inbound_fks']:
        if catalog.constraint_target(db, fk['schema'], fk['tablename'], fk['name']) == poid:
            db.execute(ddl.drop_constraint(sql.Identifier(fk['schema'], fk['tablename']), fk['name']))
    extra = dict(state['extra'])
    extra['revert_max'] = db.scalar(sql.SQL('SELECT max({})::text FROM {}').format(
        sql.Identifier(ctx.control), ctx.t_old))
    st.update(db, ctx.state_schema, ctx.key, direction='revert', step='revert-copy', extra=extra)
    db.commit()


def revert_copy(ctx, state, snap):
    """Rows in the partitioned table that the old table lacks go back."""
    db = ctx.db
    cols = batches.column_list(snap['columns'])
    over = batches.overriding(snap['columns'])
    pk = [c for c in snap['constraints'] if c['type'] == 'p']
    done = set(r['partition'] for r in st.partitions(db, ctx.state_schema, ctx.key) if r['reverted'])
    parts = catalog.partitions(db, ctx.parent_oid())
    db.rollback()
    phase = phases.start(ctx, db, 'revert-drop', len(parts), done=len([p for p in parts if p['name'] in done]))
    # the old table's triggers that would fire on the rows copied back: off meanwhile
    enabled = dict((t['name'], t['enabled']) for t in snap['triggers'] if t['enabled'] in ('O', 'A'))
    total = 0
    for p in parts:
        if p['name'] in done:
            continue
        src = sql.SQL('ONLY {} AS n').format(sql.Identifier(p['schema'], p['relname']))
        if pk:
            cond = sql.SQL(' AND ').join(
                sql.SQL('o.{c} = n.{c}').format(c=sql.Identifier(c)) for c in pk[0]['columns'])
            where = sql.SQL('NOT EXISTS (SELECT 1 FROM {} o WHERE {})').format(ctx.t_old, cond)
            args = None
        else:
            where = sql.SQL('n.{} > %s').format(sql.Identifier(ctx.control))
            args = (state['extra'].get('revert_max'),)
            if args[0] is None:
                where = sql.SQL('true')
                args = None
        for t in enabled:
            db.execute(ddl.trigger_state(ctx.t_old, t, 'D'))
        select = sql.SQL(', ').join(sql.SQL('n.{}').format(sql.Identifier(c)) for c in cols)
        db.execute(batches.insert_select(ctx.t_old, src, cols, where, over, select=select), args)
        n = max(db.last_rowcount or 0, 0)
        total += n
        for t in enabled:
            db.execute(ddl.trigger_state(ctx.t_old, t, enabled[t]))
        st.partition_reverted(db, ctx.state_schema, ctx.key, p['name'])
        db.commit()
        phase.add(db)
        if n:
            ctx.rows_copied[p['name']] = n
    ctx.log('revert: %d rows written after the migration copied back to %s' % (total, ctx.old_name))


def revert_drop(ctx, snap):
    db = ctx.db
    if not ctx.relation_exists(ctx.schema, ctx.name):
        db.rollback()
        return
    parts = catalog.partitions(db, ctx.parent_oid())
    db.rollback()
    for i in range(0, len(parts), DROP_CHUNK):
        for p in parts[i:i + DROP_CHUNK]:
            db.execute(ddl.drop_table(sql.Identifier(p['schema'], p['relname'])))
        db.commit()


def revert_finish(ctx, state, snap):
    db = ctx.db
    cfg = catalog.part_config(db, ctx.partman_schema, ctx.key)
    for seq in snap['sequences']:
        if seq['deptype'] == 'a':
            db.execute(ddl.sequence_owned_by(seq['sequence'], ctx.t_old, seq['column']))
        elif seq['deptype'] == 'i':
            db.execute(sql.SQL(
                'SELECT setval(%s::regclass, greatest((SELECT last_value FROM {s}), (SELECT max({c}) FROM {t})))'
            ).format(s=ddl.qualified_ident(seq['sequence']), c=sql.Identifier(seq['column']), t=ctx.t_old),
                (seq['sequence'],))
    for q, args in pm.config_delete(ctx.partman_schema, ctx.key):
        db.execute(q, args)
    if ctx.relation_exists(ctx.schema, ctx.name):
        db.execute(ddl.drop_table(ctx.t_parent))
    template = cfg.get('template_table') if cfg else None
    if template:
        tschema, tname = split_table_name(template)
        if ctx.relation_exists(tschema, tname):
            db.execute(ddl.drop_table(sql.Identifier(tschema, tname)))
    db.execute(ddl.rename('TABLE', ctx.t_old, ctx.name))
    for orig, renamed in (state['extra'].get('index_renames') or {}).items():
        if ctx.relation_exists(ctx.schema, renamed):
            db.execute(ddl.rename('INDEX', sql.Identifier(ctx.schema, renamed), orig))
    for fk in snap['inbound_fks']:
        if catalog.constraint_target(db, fk['schema'], fk['tablename'], fk['name']) is None:
            db.execute(ddl.add_constraint(sql.Identifier(fk['schema'], fk['tablename']), fk['name'], fk['def']))
    st.delete(db, ctx.state_schema, ctx.key)
    db.commit()
    ctx.log('reverted: %s is the plain table again' % ctx.key)
