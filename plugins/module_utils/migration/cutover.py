# -*- coding: utf-8 -*-
# Copyright: soar.partman contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Online mode's window, and its inverse beside it.

swap (step swapped): without a lock, catch up until little is left and verify the keys applied since
the last verification (under one snapshot); take the lock on the table in use (lock_timeout
cutover_lock_timeout, retried cutover_retries times, catching up and verifying in between, so that
writers queue behind us for at most that long); apply the last changes; verify the keys applied since
the verification before the lock (the last seconds' changes only); in the same transaction rename the
table to the old name, move the partitioned table and its partitions out of the build schema under the
table's name, move pg_partman's configuration, sequences and identity with it, re-point inbound foreign
keys (NOT VALID: validated after the window, by finish), and start the reverse capture. Nothing in it reads the whole table.

swap_back (state: reverted after the swap): the same in the other direction, with the reverse capture:
the old table brought up to date, renamed back, the partitioned table moved aside and dropped after the
window. drop_built (state: reverted before the swap): the partitioned table being built and the capture
removed; the table in use was never touched but for the capture."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import time

from ansible_collections.soar.partman.plugins.module_utils import catalog
from ansible_collections.soar.partman.plugins.module_utils import ddl
from ansible_collections.soar.partman.plugins.module_utils import partman as pm
from ansible_collections.soar.partman.plugins.module_utils import state as st
from ansible_collections.soar.partman.plugins.module_utils import write_guard
from ansible_collections.soar.partman.plugins.module_utils.migration import capture, catchup, configure, verify
from ansible_collections.soar.partman.plugins.module_utils.migration.context import MigrationError
from ansible_collections.soar.partman.plugins.module_utils.names import split_table_name, unique_name

try:
    from psycopg2 import sql
except ImportError:  # the module reports the missing library
    sql = None


def lock_window(ctx, snap, direction, source, target, tables, floor=0):
    """Catch up and verify what was applied, without a lock; then take ACCESS EXCLUSIVE on tables
    with cutover_lock_timeout, retried (each attempt after a catch-up and verification of its own).
    Returns (time the lock was granted, attempts, prelock): prelock['round'] the last round verified
    (under the lock only the rounds after it are left to verify), prelock['keys'] the keys verified
    before the lock. The transaction stays open: the caller finishes it."""
    prelock = {'round': floor, 'keys': 0}

    def before():
        what = 'catching up before the lock'
        catchup.catch_up(ctx, snap, direction, source, target, what=what, floor=prelock['round'])
        prelock['round'], keys = verify.verify_applied(ctx, ctx.db, snap, direction, source, target,
                                                       prelock['round'])
        prelock['keys'] += keys
        # what the application wrote during the verification, so that the lock waits for little
        catchup.catch_up(ctx, snap, direction, source, target, what=what, floor=prelock['round'])

    attempt = ctx.with_lock_retries('cut-over', lambda: ctx.db.execute(ddl.lock_exclusive(*tables)), before=before)
    if attempt:
        return time.time(), attempt, prelock
    raise MigrationError(
        "the cut-over could not lock %s within %ss in %d attempts: long transactions keep using it. Nothing "
        "was swapped; the table in use is unchanged and still captured. Stop the application (the runbook's "
        "default) or end the long transactions (pg_stat_activity), then run the cut-over again; or raise "
        "%s / %s." % (ctx.key, ctx.p['cutover_lock_timeout'], int(ctx.p['cutover_retries']) + 1,
                      ctx.opt('cutover_lock_timeout'), ctx.opt('cutover_retries')))


def drain(ctx, snap, direction, source, target, floor=0):
    """Under the lock: every change left applied (nothing new can commit). Returns entries applied."""
    round_no = catchup.last_round(ctx, ctx.db, direction, floor)
    total = 0
    while True:
        round_no += 1
        n = catchup.apply_round(ctx, ctx.db, snap, direction, source, target, round_no, locked=True)
        total += n
        if n == 0:
            return total


def default_rows(ctx, db):
    parts = [p for p in catalog.partitions(db, ctx.parent_oid()) if p['is_default']]
    return sum(db.scalar(sql.SQL('SELECT count(*) FROM ONLY {}').format(sql.Identifier(p['schema'], p['relname'])))
               for p in parts)


def run(ctx, state):
    """Step swapped: the window."""
    db = ctx.db
    snap = state['snapshot']
    extra = dict(state['extra'])
    verified = extra.get('verified_round') or 0
    locked_at, attempts, prelock = lock_window(ctx, snap, capture.FORWARD, ctx.t_source, ctx.t_target,
                                               (ctx.t_source, ctx.t_target), floor=verified)
    applied = drain(ctx, snap, capture.FORWARD, ctx.t_source, ctx.t_target, floor=prelock['round'])
    keys = verify.verify_changed(ctx, db, snap, capture.FORWARD, ctx.t_source, ctx.t_target, prelock['round'])
    stranded = default_rows(ctx, db)
    if stranded:
        raise MigrationError("%d rows of %s would land in the default partition (no partition for them): "
                             "nothing was swapped. Run the prepare phase again (it creates the partitions), "
                             "then the cut-over." % (stranded, ctx.key))
    renames = swap(ctx, db, snap)
    window = round(time.time() - locked_at, 3)
    extra.update(index_renames=renames, swapped_at=datetime.datetime.now(datetime.timezone.utc).isoformat(),
                 window_seconds=window, lock_attempts=attempts, window_changes=applied, window_keys_verified=keys,
                 keys_verified_before_lock=prelock['keys'])
    st.update(db, ctx.state_schema, ctx.key, extra=extra)
    db.commit()
    ctx.use_target(built_aside=False)
    ctx.plan = dict(ctx.plan or {}, window_seconds=window, lock_attempts=attempts, window_changes=applied,
                    window_keys_verified=keys, keys_verified_before_lock=prelock['keys'])
    ctx.log('cut-over: swapped in %.2fs under the lock (%d changes applied, %d keys verified, %d attempts)'
            % (window, applied, keys, attempts))


def swap(ctx, db, snap):
    """In the window's transaction: the names swapped. Returns the old table's index renames."""
    capture.remove(ctx, db, capture.FORWARD, ctx.t_parent)  # applied and verified: not needed any more
    renames = {}
    for idx in snap['indexes']:
        new = unique_name(idx['name'], ctx.p['old_suffix'])
        db.execute(ddl.rename('INDEX', sql.Identifier(ctx.schema, idx['name']), new))
        renames[idx['name']] = new
    # the partitioned table's identity sequences come with it under the same names
    for seq in identity_sequences(snap):
        sschema, sname = split_table_name(seq)
        new = unique_name(sname, ctx.p['old_suffix'])
        db.execute(sql.SQL('ALTER SEQUENCE {} RENAME TO {}').format(sql.Identifier(sschema, sname), sql.Identifier(new)))
        renames[seq] = new
    db.execute(ddl.rename('TABLE', ctx.t_parent, ctx.old_name))
    move_partitioned(ctx, db, ctx.build_schema, ctx.schema)
    db.execute(sql.SQL('UPDATE {}.part_config SET parent_table = %s WHERE parent_table = %s').format(
        sql.Identifier(ctx.partman_schema)), (ctx.key, '%s.%s' % (ctx.build_schema, ctx.name)))
    move_sequences(ctx, db, snap, ctx.t_parent, ctx.t_old)
    write_guard.remove(db, ctx.t_parent)
    repoint_inbound(ctx, db, snap, ctx.t_parent)
    capture.install(ctx, db, snap, capture.REVERSE, ctx.t_parent)
    return renames


def identity_sequences(snap):
    """The identity sequences of the table (schema.name), as recorded before any change."""
    return [seq['sequence'] for seq in snap['sequences'] if seq['deptype'] == 'i']


def move_partitioned(ctx, db, from_schema, to_schema):
    """The partitioned table schema.name and its partitions from one schema to the other (indexes,
    constraints and owned sequences follow each table)."""
    parent = sql.Identifier(from_schema, ctx.name)
    oid = capture.table_oid(db, parent)
    for p in catalog.partitions(db, oid):
        if p['schema'] == from_schema:
            db.execute(sql.SQL('ALTER TABLE {} SET SCHEMA {}').format(
                sql.Identifier(p['schema'], p['relname']), sql.Identifier(to_schema)))
    db.execute(sql.SQL('ALTER TABLE {} SET SCHEMA {}').format(parent, sql.Identifier(to_schema)))


def move_sequences(ctx, db, snap, to_table, from_table):
    """Serial sequences owned by to_table; identity sequences of to_table continued from from_table's."""
    for seq in snap['sequences']:
        if seq['deptype'] == 'a':
            db.execute(ddl.sequence_owned_by(seq['sequence'], to_table, seq['column']))
        elif seq['deptype'] == 'i':
            src = db.scalar('SELECT pg_get_serial_sequence(%s, %s)', (from_table.as_string(db.conn), seq['column']))
            dst = db.scalar('SELECT pg_get_serial_sequence(%s, %s)', (to_table.as_string(db.conn), seq['column']))
            last = db.query(sql.SQL('SELECT last_value, is_called FROM {}').format(ddl.qualified_ident(src)))[0]
            db.execute('SELECT setval(%s::regclass, %s, %s)', (dst, last['last_value'], last['is_called']))


def repoint_inbound(ctx, db, snap, table, plain=False):
    """Inbound foreign keys onto table, NOT VALID (no scan under the lock); finish validates them.
    Those that cannot point at the partitioned table (inbound_fks: drop) are dropped."""
    for fk in snap['inbound_fks']:
        ref = sql.Identifier(fk['schema'], fk['tablename'])
        if catalog.constraint_target(db, fk['schema'], fk['tablename'], fk['name']) is not None:
            db.execute(ddl.drop_constraint(ref, fk['name']))
        if not fk['repoint'] and not plain:
            continue
        db.execute(ddl.add_constraint(ref, fk['name'], fk['def'] + ' NOT VALID'))


def validate_inbound(ctx, db, snap):
    """After the window: the inbound foreign keys re-pointed NOT VALID validated (SHARE UPDATE
    EXCLUSIVE on the referencing table: its writers go on)."""
    for fk in snap['inbound_fks']:
        valid = db.scalar('SELECT convalidated FROM pg_constraint WHERE conrelid = to_regclass(%s) AND conname = %s',
                          (sql.Identifier(fk['schema'], fk['tablename']).as_string(db.conn), fk['name']))
        if valid is False:
            db.execute(sql.SQL('ALTER TABLE {} VALIDATE CONSTRAINT {}').format(
                sql.Identifier(fk['schema'], fk['tablename']), sql.Identifier(fk['name'])))
        db.commit()


def finish(ctx, state):
    """Step done after an online cut-over: foreign keys validated, pg_partman configured."""
    validate_inbound(ctx, ctx.db, state['snapshot'])
    configure.run(ctx, state)


# ------------------------------------------------------------------------------------- the inverse
def swap_back(ctx, state):
    """state: reverted after the swap: the plain table back under its name with every change made
    since the swap (reverse capture), the partitioned table moved aside and dropped."""
    db = ctx.db
    snap = state['snapshot']
    extra = dict(state['extra'])
    ctx.use_target(built_aside=False)
    if state['step'] != 'unswapped':
        locked_at, attempts, prelock = lock_window(ctx, snap, capture.REVERSE, ctx.t_parent, ctx.t_old,
                                                   (ctx.t_parent, ctx.t_old))
        applied = drain(ctx, snap, capture.REVERSE, ctx.t_parent, ctx.t_old, floor=prelock['round'])
        keys = verify.verify_changed(ctx, db, snap, capture.REVERSE, ctx.t_parent, ctx.t_old, prelock['round'])
        capture.remove(ctx, db, capture.REVERSE, ctx.t_parent)
        for fk in snap['inbound_fks']:
            if catalog.constraint_target(db, fk['schema'], fk['tablename'], fk['name']) == ctx.parent_oid():
                db.execute(ddl.drop_constraint(sql.Identifier(fk['schema'], fk['tablename']), fk['name']))
        cfg = catalog.part_config(db, ctx.partman_schema, ctx.key)
        for q, args in pm.config_delete(ctx.partman_schema, ctx.key):
            db.execute(q, args)
        # before the move: SET SCHEMA would take the sequences the partitioned table owns along
        move_sequences(ctx, db, snap, ctx.t_old, ctx.t_parent)
        db.execute(sql.SQL('CREATE SCHEMA IF NOT EXISTS {}').format(sql.Identifier(ctx.build_schema)))
        db.execute(sql.SQL('ALTER TABLE {} SET SCHEMA {}').format(ctx.t_parent, sql.Identifier(ctx.build_schema)))
        moved = sql.Identifier(ctx.build_schema, ctx.name)
        write_guard.install(db, ctx.state_schema, moved)
        db.execute(ddl.rename('TABLE', ctx.t_old, ctx.name))
        for orig, renamed in (extra.get('index_renames') or {}).items():
            if orig in identity_sequences(snap):
                sschema, sname = split_table_name(orig)
                if ctx.relation_exists(sschema, renamed):
                    db.execute(sql.SQL('ALTER SEQUENCE {} RENAME TO {}').format(
                        sql.Identifier(sschema, renamed), sql.Identifier(sname)))
            elif ctx.relation_exists(ctx.schema, renamed):
                db.execute(ddl.rename('INDEX', sql.Identifier(ctx.schema, renamed), orig))
        repoint_inbound(ctx, db, snap, ctx.t_parent, plain=True)
        window = round(time.time() - locked_at, 3)
        extra.update(unswap_window_seconds=window, unswap_changes=applied, unswap_keys_verified=keys,
                     template_table=(cfg or {}).get('template_table'))
        st.update(db, ctx.state_schema, ctx.key, direction='revert', step='unswapped', extra=extra)
        db.commit()
        ctx.plan = dict(ctx.plan or {}, window_seconds=window, lock_attempts=attempts, window_changes=applied)
        ctx.log('rollback: swapped back in %.2fs under the lock (%d changes applied, %d keys verified)'
                % (window, applied, keys))
    validate_inbound(ctx, db, snap)
    drop_built(ctx, state, extra.get('template_table'))


def drop_built(ctx, state, template=None):
    """The partitioned table in the build schema (and its partitions, wherever they are), its
    pg_partman configuration and template, the capture, the state row. Only what the migration
    built: the write guard kept everyone else from writing into it."""
    db = ctx.db
    built = sql.Identifier(ctx.build_schema, ctx.name)
    key = '%s.%s' % (ctx.build_schema, ctx.name)
    cfg = catalog.part_config(db, ctx.partman_schema, key)
    template = template or (cfg or {}).get('template_table')
    for q, args in pm.config_delete(ctx.partman_schema, key):
        db.execute(q, args)
    capture.remove(ctx, db, capture.FORWARD, ctx.t_parent if ctx.exists(ctx.name) else None)
    capture.remove(ctx, db, capture.REVERSE, None)
    oid = capture.table_oid(db, built)
    if oid:
        for p in catalog.partitions(db, oid):
            db.execute(ddl.drop_table(sql.Identifier(p['schema'], p['relname'])))
        db.execute(ddl.drop_table(built))
    if template:
        tschema, tname = split_table_name(template)
        if ctx.relation_exists(tschema, tname):
            db.execute(ddl.drop_table(sql.Identifier(tschema, tname)))
    st.delete(db, ctx.state_schema, ctx.key)
    db.commit()
    ctx.log('reverted: %s is the plain table, the partitioned table built online dropped' % ctx.key)
