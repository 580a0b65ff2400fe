# -*- coding: utf-8 -*-
# Copyright: soar.partman contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Step prepare, one transaction: inbound keys that cannot follow dropped (on request), the table
renamed to the old name with its indexes, the partitioned parent created like it (columns, defaults,
identity, checks, comments, owner, grants), sequences moved, create_parent, the write guard and the
state row. Undone by revert."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


from ansible_collections.soar.partman.plugins.module_utils import catalog
from ansible_collections.soar.partman.plugins.module_utils import ddl
from ansible_collections.soar.partman.plugins.module_utils import partman as pm
from ansible_collections.soar.partman.plugins.module_utils import state as st
from ansible_collections.soar.partman.plugins.module_utils import write_guard
from ansible_collections.soar.partman.plugins.module_utils.connection import public_params
from ansible_collections.soar.partman.plugins.module_utils.migration import capture
from ansible_collections.soar.partman.plugins.module_utils.migration.context import MigrationError
from ansible_collections.soar.partman.plugins.module_utils.names import quote_ident, unique_name

try:
    from psycopg2 import sql
except ImportError:  # the module reports the missing library
    sql = None


def run(ctx, snap):
    """One transaction: rename, new parent, ownership, grants, sequences,
    create_parent, state row."""
    db = ctx.db
    tbl = snap['table']
    db.execute(ddl.lock_exclusive(ctx.t_parent))
    # inbound FKs that cannot be re-pointed, dropped on request
    for fk in snap['inbound_fks']:
        if not fk['repoint']:
            db.execute(ddl.drop_constraint(sql.Identifier(fk['schema'], fk['tablename']), fk['name']))
    db.execute(ddl.rename('TABLE', ctx.t_parent, ctx.old_name))
    renames = {}
    for idx in snap['indexes']:
        new = unique_name(idx['name'], ctx.p['old_suffix'])
        db.execute(ddl.rename('INDEX', sql.Identifier(ctx.schema, idx['name']), new))
        renames[idx['name']] = new
    build_parent(ctx, tbl, like=ctx.t_old)
    # sequences: serial -> move ownership (value kept); identity -> continue where the old one is
    for seq in snap['sequences']:
        if seq['deptype'] == 'a':
            db.execute(ddl.sequence_owned_by(seq['sequence'], ctx.t_parent, seq['column']))
        elif seq['deptype'] == 'i':
            newseq = db.scalar('SELECT pg_get_serial_sequence(%s, %s)',
                               ('%s.%s' % (quote_ident(ctx.schema), quote_ident(ctx.name)), seq['column']))
            last = db.query(sql.SQL('SELECT last_value, is_called FROM {}').format(
                ddl.qualified_ident(seq['sequence'])))[0]
            db.execute('SELECT setval(%s::regclass, %s, %s)', (newseq, last['last_value'], last['is_called']))
    q, args = pm.create_parent(ctx.partman_schema, ctx.major, ctx.key, ctx.control,
                               ctx.interval.pg_text, ctx.p['premake'], snap['start_partition'])
    db.execute(q, args)
    write_guard.install(db, ctx.state_schema, ctx.t_parent)
    extra = {'index_renames': renames, 'pk_changed': ctx.pk_changed, 'plan': ctx.plan}
    st.create(db, ctx.state_schema, ctx.key, '%s.%s' % (ctx.schema, ctx.old_name), 'prepared',
              public_params(ctx.p), snap, extra,
              db.scalar("SELECT current_setting('TimeZone')"), ctx.partman_version, snap['copy_method'])
    db.commit()
    ctx.log('prepared: %s renamed to %s, partitioned parent created' % (ctx.key, ctx.old_name))


def run_online(ctx, snap):
    """Online mode, one transaction that does not touch the table in use: the partitioned table
    built in the build schema under the table's name, like it, registered with pg_partman, guarded,
    and the state row. start_capture then begins recording the table's changes."""
    db = ctx.db
    tbl = snap['table']
    ctx.use_target(built_aside=True)
    db.execute(sql.SQL('CREATE SCHEMA IF NOT EXISTS {}').format(sql.Identifier(ctx.build_schema)))
    build_parent(ctx, tbl, like=ctx.t_source)
    q, args = pm.create_parent(ctx.partman_schema, ctx.major, ctx.parent_key, ctx.control,
                               ctx.interval.pg_text, ctx.p['premake'], snap['start_partition'])
    db.execute(q, args)
    write_guard.install(db, ctx.state_schema, ctx.t_target)
    extra = {'mode': 'online', 'pk_changed': ctx.pk_changed, 'plan': ctx.plan}
    st.create(db, ctx.state_schema, ctx.key, '%s.%s' % (ctx.schema, ctx.old_name), 'prepared',
              public_params(ctx.p), snap, extra,
              db.scalar("SELECT current_setting('TimeZone')"), ctx.partman_version, snap['copy_method'])
    db.commit()
    ctx.log('prepared: partitioned table built as %s.%s beside %s' % (ctx.build_schema, ctx.name, ctx.key))


def start_capture(ctx, snap):
    """The capture's triggers on the table in use. CREATE TRIGGER waits for the table's running
    writes and queues the next ones behind it: cutover_lock_timeout, retried cutover_retries times."""
    if ctx.with_lock_retries('capture', lambda: capture.install(ctx, ctx.db, snap, capture.FORWARD, ctx.t_parent)):
        ctx.db.commit()
        ctx.log('capturing the changes made to %s' % ctx.key)
        return
    raise MigrationError("could not start capturing the changes to %s: its writers held it %d times for "
                         "longer than %ss. Run again (the migration resumes), or raise %s."
                         % (ctx.key, int(ctx.p['cutover_retries']) + 1, ctx.p['cutover_lock_timeout'],
                            ctx.opt('cutover_lock_timeout')))


def build_parent(ctx, tbl, like):
    """The partitioned table t_target like the table `like`: columns, NOT NULL control column, comment,
    owner, table and column privileges (offline from the renamed old table, online from the one in use)."""
    db = ctx.db
    db.execute(create_parent_table(ctx, tbl, like))
    db.execute(sql.SQL('ALTER TABLE {} ALTER COLUMN {} SET NOT NULL').format(
        ctx.t_target, sql.Identifier(ctx.control)))
    if tbl['comment'] is not None:
        db.execute(sql.SQL('COMMENT ON TABLE {} IS %s').format(ctx.t_target), (tbl['comment'],))
    db.execute(ddl.owner_to(ctx.t_target, tbl['owner']))
    apply_grants(db, tbl['oid'], ctx.t_target)


def create_parent_table(ctx, tbl, like):
    """CREATE TABLE parent (LIKE old INCLUDING ...) PARTITION BY RANGE (control) [TABLESPACE ...]."""
    likes = ['DEFAULTS', 'CONSTRAINTS', 'GENERATED', 'IDENTITY', 'COMMENTS', 'STORAGE', 'STATISTICS']
    if ctx.server_version >= 140000:
        likes.append('COMPRESSION')
    create = sql.SQL('CREATE TABLE {} (LIKE {} {}) PARTITION BY RANGE ({})').format(
        ctx.t_target, like, sql.SQL(' ').join(sql.SQL('INCLUDING ' + x) for x in likes),
        sql.Identifier(ctx.control))
    if tbl['tablespace']:
        create = sql.SQL('{} TABLESPACE {}').format(create, sql.Identifier(tbl['tablespace']))
    return create


def grant_table_privileges(db, grants, target):
    """The table privileges (rows of catalog.table_grants) granted on target."""
    for r in grants:
        db.execute(ddl.grant(r, target))


def apply_grants(db, table_oid, target):
    """The table's and its columns' privileges granted on target."""
    grant_table_privileges(db, catalog.table_grants(db, table_oid), target)
    for r in catalog.column_grants(db, table_oid):
        db.execute(ddl.grant(r, target, column=r['col']))
