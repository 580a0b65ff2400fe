# -*- coding: utf-8 -*-
# Copyright: soar.partman contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The partman_migrate runner: one run per table at a time (an advisory lock), the state table read
to know where a migration stands, resume after the last step that committed, the step table, and
the result. The steps themselves are one file each beside this one; revert.py is their inverse.

    preflight -> prepare -> partitions -> copy -> indexes -> constraints -> verify -> configure
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.soar.partman.plugins.module_utils import catalog
from ansible_collections.soar.partman.plugins.module_utils import partman as pm
from ansible_collections.soar.partman.plugins.module_utils import state as st
from ansible_collections.soar.partman.plugins.module_utils import write_guard
from ansible_collections.soar.partman.plugins.module_utils.batches import CopyError
from ansible_collections.soar.partman.plugins.module_utils.connection import connect
from ansible_collections.soar.partman.plugins.module_utils.ddl import describe_inbound_fks
from ansible_collections.soar.partman.plugins.module_utils.migration import (
    capture, catchup, configure, constraints, copy, cutover, indexes, partitions, preflight, prepare, revert,
    status, verify,
)
from ansible_collections.soar.partman.plugins.module_utils.migration.context import (
    STEPS, Context, MigrationError, mode_steps,
)
from ansible_collections.soar.partman.plugins.module_utils.names import PlanError

try:
    import psycopg2
except ImportError:  # the module reports the missing library
    psycopg2 = None

# classid of the advisory lock that serialises runs on one table (objid: hashtext of the table name);
# status.py reads who holds it (partman_info) and words the refusal.
LOCK_NAMESPACE = status.LOCK_NAMESPACE

# The steps after prepare, in order: the name recorded in the state table when the step has
# committed, and its function (ctx, state). preflight and prepare run once, in the first run.
STEP_TABLE = (
    ('partitioned', partitions.run),
    ('copied', copy.run),
    ('indexed', indexes.run),
    ('constrained', constraints.run),
    ('verified', verify.run),
    ('done', configure.run),
)

# Online mode: the same steps build the partitioned table beside the table in use (phase prepare,
# which a later run repeats from caught_up on to catch up again), then the window (phase cutover).
ONLINE_PREPARE_STEPS = (
    ('partitioned', partitions.run),
    ('copied', copy.run),
    ('indexed', indexes.run),
    ('constrained', constraints.run),
    ('caught_up', catchup.run),
    ('verified', verify.run_online),
)
ONLINE_CUTOVER_STEPS = (
    ('swapped', cutover.run),
    ('done', cutover.finish),
)


def result(ctx):
    return dict(
        changed=ctx.changed,
        partitions=ctx.partitions_created,
        rows_copied=ctx.rows_copied,
        seconds=ctx.seconds,
        queries=ctx.queries,
        warnings=ctx.warnings,
        pk_changed=ctx.pk_changed,
        partman_version=ctx.partman_version,
        plan=ctx.plan or {},
    )


def execute(ctx):
    """Connect, take the lock, read the state, then forward or revert. Returns the result."""
    ctx.db = connect(ctx.module, session_settings=ctx.session_settings(), queries=ctx.queries)
    try:
        lock_table_migration(ctx)
        info = catalog.partman_info(ctx.db)
        if info is None:
            raise MigrationError(
                "pg_partman is not installed in database %s: run CREATE SCHEMA %s; CREATE EXTENSION "
                "pg_partman SCHEMA %s; (install the postgresql-NN-partman package first)"
                % (ctx.p.get('login_db') or 'postgres', ctx.partman_schema, ctx.partman_schema))
        if info['schema'] != ctx.partman_schema:
            raise MigrationError("pg_partman is installed in schema %s, not %s: set %s: %s"
                                 % (info['schema'], ctx.partman_schema, ctx.opt('partman_schema'),
                                    info['schema']))
        ctx.partman_version = info['version']
        ctx.major = pm.partman_major(info['version'])
        ctx.server_version = catalog.server_version(ctx.db)
        state = st.load(ctx.db, ctx.state_schema, ctx.key)
        ctx.db.rollback()
        if state and state.get('timezone'):
            ctx.db.execute('SELECT set_config(%s, %s, false)', ('TimeZone', state['timezone']), record=False)
            ctx.db.session_settings['TimeZone'] = state['timezone']
            ctx.db.commit()
        online = (state['extra'].get('mode') == 'online') if state else ctx.online
        if state and ctx.p['state'] != 'reverted' and online != ctx.online:
            raise MigrationError("%s is being migrated in %s mode (step %s); run it to the end in that mode: "
                                 "set %s: %s" % (ctx.key, 'online' if online else 'offline', state['step'],
                                                 ctx.opt('mode'), 'online' if online else 'offline'))
        if ctx.p['state'] == 'reverted':
            if online:
                revert_online(ctx, state)
            else:
                revert.run(ctx, state)
        elif online:
            forward_online(ctx, state)
        else:
            forward(ctx, state)
    finally:
        try:
            ctx.db.rollback()
        except Exception:
            pass
        ctx.db.close()
    return result(ctx)


def lock_table_migration(ctx):
    """One run per table at a time: a session advisory lock on the table's name, held until this
    run's main connection closes (also when the module is killed). A second run (a retried
    playbook, an operator's resume while the first still copies) would otherwise copy the same
    slices twice or revert under the first."""
    got = ctx.db.scalar('SELECT pg_try_advisory_lock(hashtext(%s), hashtext(%s))', (LOCK_NAMESPACE, ctx.key))
    ctx.db.commit()
    if got:
        return
    holders = status.lock_holders(ctx.db, ctx.key)
    ctx.db.rollback()
    raise MigrationError(status.lock_message(ctx.key, holders))


def forward(ctx, state):
    """Start (preflight, prepare) or resume a migration, then run each step not done yet."""
    tbl = ctx.exists(ctx.name)
    old = ctx.exists(ctx.old_name)
    if state and state['direction'] != 'forward':
        raise MigrationError(
            "%s is half-way through a revert (step %s): run again with state: reverted to finish it"
            % (ctx.key, state['step']))
    if state and state['step'] == 'done':
        ctx.diff = {'before': {'partitioned': True}, 'after': {'partitioned': True}}
        ctx.plan = {'table': ctx.key, 'status': 'migrated', 'steps': []}
        configure.configure(ctx, state, finished=True)
        ctx.rows_copied = dict((r['partition'], r['rows']) for r in st.partitions(ctx.db, ctx.state_schema, ctx.key))
        return
    if state is None:
        if tbl is None:
            if old is not None:
                raise MigrationError(
                    "%s does not exist but %s.%s does, and there is no migration state for it: it looks like "
                    "a rename done by hand. Rename it back (ALTER TABLE %s.%s RENAME TO %s) or pass the "
                    "right table name." % (ctx.key, ctx.schema, ctx.old_name, ctx.schema, ctx.old_name, ctx.name))
            raise MigrationError("table %s does not exist in database %s" % (
                ctx.key, ctx.p.get('login_db') or 'postgres'))
        if tbl['partitioned']:
            cfg = catalog.part_config(ctx.db, ctx.partman_schema, ctx.key)
            if cfg is None:
                raise MigrationError(
                    "%s is already partitioned but not managed by pg_partman; partman_migrate converts plain "
                    "tables only. Register it with %s.create_parent() instead." % (ctx.key, ctx.partman_schema))
            ctx.warn("%s is already partitioned and managed by pg_partman (not migrated by this module); "
                     "nothing to do" % ctx.key)
            ctx.plan = {'table': ctx.key, 'status': 'already partitioned', 'steps': []}
            return
        if old is not None:
            raise MigrationError(
                "%s.%s exists but no migration state records it (%s.%s has no row for %s): it is a leftover "
                "of an earlier attempt or an unrelated table. Drop or rename it after checking its contents, "
                "or choose another %s." % (ctx.schema, ctx.old_name, ctx.state_schema,
                                           st.STATE, ctx.key, ctx.opt('old_suffix')))
        snap = ctx.timed('preflight', preflight.run, ctx, tbl)
        if ctx.check_mode:
            ctx.changed = True
            return
        ctx.timed('prepare', prepare.run, ctx, snap)
        ctx.changed = True
        state = st.load(ctx.db, ctx.state_schema, ctx.key)
        ctx.db.commit()
    else:
        if old is None:
            raise MigrationError(
                "migration state says %s is at step %s but %s.%s is gone: cannot resume safely. "
                "Inspect %s.%s and delete the state row by hand once you know where the data is."
                % (ctx.key, state['step'], ctx.schema, ctx.old_name, ctx.state_schema, st.STATE))
        if tbl is None or not tbl['partitioned']:
            raise MigrationError(
                "migration state says %s is at step %s but %s is not the partitioned table: the catalog "
                "was changed by hand; revert by hand (rename %s.%s back) and delete the state row."
                % (ctx.key, state['step'], ctx.key, ctx.schema, ctx.old_name))
        snap = state['snapshot']
        ctx.pk_changed = state['extra'].get('pk_changed', [])
        ctx.plan = state['extra'].get('plan', {})
        ctx.plan['resume_from'] = state['step']
        preflight.retention_check(ctx, old, snap)
        # the run that dropped them may have been killed before it could report it
        dropped = [fk for fk in snap['inbound_fks'] if not fk.get('repoint')]
        if dropped:
            ctx.warn("inbound foreign keys were dropped when this migration started (inbound_fks=drop) and "
                     "are restored only on revert: " + describe_inbound_fks(dropped, ctx.key))
        ctx.changed = True
        if ctx.check_mode:
            ctx.plan['steps'] = remaining_steps(state['step'])
            return
        ctx.log('resuming after step %s' % state['step'])
        if not write_guard.installed(ctx.db, ctx.parent_oid()):  # a migration begun by an older version
            write_guard.install(ctx.db, ctx.state_schema, ctx.t_parent)
            ctx.db.commit()
    ctx.diff = {'before': {'table': ctx.key, 'partitioned': False},
                'after': {'table': ctx.key, 'partitioned': True, 'interval': ctx.interval.pg_text,
                          'old_table': '%s.%s' % (ctx.schema, ctx.old_name)}}
    run_steps(ctx, state, STEP_TABLE)
    if not ctx.rows_copied:
        ctx.rows_copied = dict((r['partition'], r['rows']) for r in st.partitions(ctx.db, ctx.state_schema, ctx.key))


def run_steps(ctx, state, table):
    """Each step of table not done yet by state, recorded in the state table as it commits."""
    done_idx = STEPS.index(state['step'])
    for name, fn in table:
        if STEPS.index(name) <= done_idx:
            continue
        state = st.load(ctx.db, ctx.state_schema, ctx.key)
        ctx.db.commit()
        ctx.timed(name, fn, ctx, state)
        st.update(ctx.db, ctx.state_schema, ctx.key, step=name,
                  seconds=dict(state['seconds'] or {}, **{name: ctx.seconds.get(name)}))
        ctx.db.commit()
        ctx.log('step %s done' % name)
    return st.load(ctx.db, ctx.state_schema, ctx.key)


def forward_online(ctx, state):
    """Online mode: phase prepare builds and fills the partitioned table beside the table in use and
    keeps it up to date (again on every run until the cut-over); phase cutover is the window."""
    phase = ctx.p.get('phase') or 'all'
    if state and state['direction'] != 'forward':
        raise MigrationError("%s is half-way through a revert (step %s): run again with state: reverted to "
                             "finish it" % (ctx.key, state['step']))
    if state and state['step'] == 'done':
        ctx.plan = {'table': ctx.key, 'status': 'migrated', 'mode': 'online', 'steps': []}
        configure.configure(ctx, state, finished=True)
        ctx.rows_copied = dict((r['partition'], r['rows']) for r in st.partitions(ctx.db, ctx.state_schema, ctx.key))
        return
    if state is None:
        if phase == 'cutover':
            raise MigrationError("%s has not been prepared for an online cut-over: run %s: prepare (or all) "
                                 "first" % (ctx.key, ctx.opt('phase')))
        tbl = ctx.exists(ctx.name)
        if tbl is None:
            raise MigrationError("table %s does not exist in database %s" % (
                ctx.key, ctx.p.get('login_db') or 'postgres'))
        if tbl['partitioned']:
            ctx.warn("%s is already partitioned; nothing to do" % ctx.key)
            ctx.plan = {'table': ctx.key, 'status': 'already partitioned', 'steps': []}
            return
        if ctx.exists(ctx.old_name) is not None:
            raise MigrationError("%s.%s exists: the cut-over renames %s to that name. Drop or rename it after "
                                 "checking its contents, or choose another %s."
                                 % (ctx.schema, ctx.old_name, ctx.key, ctx.opt('old_suffix')))
        snap = ctx.timed('preflight', preflight.run, ctx, tbl)
        ctx.diff = {'before': {'table': ctx.key, 'partitioned': False},
                    'after': {'table': ctx.key, 'partitioned': phase != 'prepare', 'mode': 'online'}}
        ctx.changed = True
        if ctx.check_mode:
            return
        ctx.timed('prepare', prepare.run_online, ctx, snap)
        state = st.load(ctx.db, ctx.state_schema, ctx.key)
        ctx.db.commit()
    swapped = STEPS.index(state['step']) >= STEPS.index('swapped')
    ctx.use_target(built_aside=not swapped)
    ctx.plan = dict(state['extra'].get('plan') or {}, mode='online', phase=phase, resume_from=state['step'])
    ctx.pk_changed = state['extra'].get('pk_changed', [])
    ctx.changed = True
    if ctx.check_mode:
        ctx.plan['steps'] = remaining_steps(state['step'], online=True)
        return
    if not swapped:
        if ctx.exists(ctx.name) is None or ctx.exists(ctx.old_name) is not None:
            raise MigrationError("migration state says %s is at step %s (online, before the swap) but the "
                                 "catalog disagrees (%s missing or %s.%s present): revert by hand"
                                 % (ctx.key, state['step'], ctx.key, ctx.schema, ctx.old_name))
        source_oid = capture.table_oid(ctx.db, ctx.t_parent)
        if not capture.installed(ctx.db, source_oid, capture.FORWARD):
            if state['step'] != 'prepared' or st.partition_sums(ctx.db, ctx.state_schema, ctx.key)[0]:
                raise MigrationError("the capture of changes on %s is gone (its triggers were dropped) while the "
                                     "migration was at step %s: changes made since may be missing from the "
                                     "partitioned table. Revert (state: reverted) and start again."
                                     % (ctx.key, state['step']))
            ctx.db.rollback()
            ctx.timed('prepare', prepare.start_capture, ctx, state['snapshot'])
        ctx.db.rollback()
        was_verified = state['step'] == 'verified'
        state = run_steps(ctx, state, ONLINE_PREPARE_STEPS)
        if was_verified and phase == 'prepare':  # a later run of prepare: catch up and verify again
            ctx.timed('caught_up', catchup.run, ctx, state)
            ctx.timed('verified', verify.run_online, ctx, st.load(ctx.db, ctx.state_schema, ctx.key))
            ctx.db.commit()
        if phase == 'prepare':
            pending = capture.pending(ctx, ctx.db, capture.FORWARD)
            ctx.db.rollback()
            ctx.plan['pending_changes'] = pending
            return
    run_steps(ctx, state, ONLINE_CUTOVER_STEPS)
    ctx.rows_copied = dict((r['partition'], r['rows']) for r in st.partitions(ctx.db, ctx.state_schema, ctx.key))


def revert_online(ctx, state):
    """state: reverted in online mode: before the swap, the partitioned table being built and the
    capture dropped (the table in use never changed); after it, the swap back."""
    if state is None:
        revert.run(ctx, state)  # nothing to revert: the same answers as offline
        return
    ctx.changed = True
    ctx.diff = {'before': {'table': ctx.key, 'partitioned': STEPS.index(state['step']) >= STEPS.index('swapped')
                           if state['step'] in STEPS else True},
                'after': {'table': ctx.key, 'partitioned': False}}
    ctx.plan = {'table': ctx.key, 'revert_from_step': state['step'], 'mode': 'online'}
    if ctx.check_mode:
        return
    if state['step'] == 'unswapped' or STEPS.index(state['step']) >= STEPS.index('swapped'):
        if ctx.exists(ctx.old_name) is None and state['step'] != 'unswapped':
            raise MigrationError("cannot revert %s: the old table %s.%s is gone (finalized?)"
                                 % (ctx.key, ctx.schema, ctx.old_name))
        ctx.timed('revert', cutover.swap_back, ctx, state)
    else:
        ctx.timed('revert', cutover.drop_built, ctx, state)


def remaining_steps(step, online=False):
    """The steps after step, as a check-mode run of a migration under way reports them."""
    return [s for s in mode_steps(online) if STEPS.index(s) > STEPS.index(step)]


def run(module):
    """The module's whole run: exit_json with the result, or fail_json with a message naming the
    problem and the fix (and what the run had done so far)."""
    try:
        ctx = Context(module)
    except PlanError as e:
        module.fail_json(msg=str(e))
    try:
        res = execute(ctx)
    except (MigrationError, PlanError, CopyError) as e:
        res = result(ctx)
        res.pop('changed', None)
        for w in res.pop('warnings', []):
            module.warn(w)
        module.fail_json(msg=str(e), changed=ctx.changed and not module.check_mode, **res)
    except psycopg2.Error as e:
        res = result(ctx)
        for w in res.pop('warnings', []):
            module.warn(w)
        module.fail_json(msg='database error: %s%s. The migration state is kept; fix the cause and run again '
                             'to resume, or use state: reverted.' % (
                                 str(e).strip(), (' (%s)' % e.diag.context.strip()) if getattr(e, 'diag', None)
                                 and e.diag.context else ''),
                         changed=ctx.changed, **dict((k, v) for k, v in res.items() if k != 'changed'))
    if ctx.diff and module._diff:
        res['diff'] = ctx.diff
    for w in res.pop('warnings', []):
        module.warn(w)
    module.exit_json(**res)
