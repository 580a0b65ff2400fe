# -*- coding: utf-8 -*-
# Copyright: soar.partman contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Online mode's capture: every INSERT, UPDATE and DELETE made to a table recorded, in the same
transaction, as (key, control value) in a change log; catchup.py applies the log to the other table.

forward  on the table the application uses, from prepare until the swap: the partitioned table is
         brought up to date with it;
reverse  on the partitioned table, from the swap until finalize or rollback: the old table can be
         brought up to date with it, so that going back loses nothing.

Only keys are logged, never rows: applying a change means re-reading the row by its key from the
table written to (catchup.py), so the log stays small and the order of changes does not matter. The
control value is logged as well (before and after an update) so that the partitioned side is reached
by partition, not by probing every partition's index. Statement triggers with transition tables write
one INSERT per statement (the application's batched inserts cost one more statement, not one per
row). ENABLE ALWAYS: also when the writer runs with session_replication_role = replica. TRUNCATE is
refused: it could not be replayed."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.soar.partman.plugins.module_utils.names import truncate_name

try:
    from psycopg2 import sql
except ImportError:  # the module reports the missing library
    sql = None

FORWARD = 'forward'
REVERSE = 'reverse'
_SUFFIX = {FORWARD: '_changes', REVERSE: '_changes_back'}
_EVENTS = (('ins', 'INSERT', 'REFERENCING NEW TABLE AS partman_new_rows'),
           ('upd', 'UPDATE', 'REFERENCING OLD TABLE AS partman_old_rows NEW TABLE AS partman_new_rows'),
           ('del', 'DELETE', 'REFERENCING OLD TABLE AS partman_old_rows'))
REFUSED_TRUNCATE = 'is being migrated online by partman_migrate'


def log_name(ctx, direction):
    return truncate_name(ctx.name, _SUFFIX[direction])


def log_table(ctx, direction):
    """The change log of direction (a sql.Identifier), in the build schema."""
    return sql.Identifier(ctx.build_schema, log_name(ctx, direction))


def function_name(ctx, direction):
    return truncate_name(ctx.name, _SUFFIX[direction] + '_capture')


def trigger_name(direction, event):
    return 'partman_migrate_%s_%s' % (direction, event)


def key_columns(ctx, snap):
    """The row identity: the columns of the table's primary key, and the control column."""
    pk = [c for c in snap['constraints'] if c['type'] == 'p']
    cols = list(pk[0]['columns']) if pk else []
    if ctx.control not in cols:
        cols.append(ctx.control)
    return cols


def _column_types(snap, names):
    types = dict((c['name'], c['type']) for c in snap['columns'])
    return [(n, types[n]) for n in names]


def idents(cols):
    return sql.SQL(', ').join(sql.Identifier(c) for c in cols)


def key_match(cols, left, right):
    """left.c = right.c for every key column (aliases left and right)."""
    return sql.SQL(' AND ').join(sql.SQL('{}.{} = {}.{}').format(
        sql.Identifier(left), sql.Identifier(c), sql.Identifier(right), sql.Identifier(c)) for c in cols)


def keys_table(db, name, cols, log, where, args=None):
    """A temporary table name (dropped at commit, analyzed) of the distinct keys (cols) of the log
    entries matching where: what a round applies, a verification leaves out or the window checks."""
    db.execute(sql.SQL('DROP TABLE IF EXISTS pg_temp.{}').format(sql.Identifier(name)), record=False)
    db.execute(sql.SQL('CREATE TEMP TABLE {} ON COMMIT DROP AS SELECT DISTINCT {} FROM {} WHERE ').format(
        sql.Identifier(name), idents(cols), log) + sql.SQL(where), args, record=False)
    db.execute(sql.SQL('ANALYZE {}').format(sql.Identifier(name)), record=False)
    return sql.Identifier(name)


def install(ctx, db, snap, direction, table):
    """The change log of direction and the triggers filling it, on table (a sql.Identifier). The
    caller commits: CREATE TRIGGER waits for the table's writers to finish (lock_timeout applies)."""
    cols = key_columns(ctx, snap)
    log = log_table(ctx, direction)
    db.execute(sql.SQL('CREATE SCHEMA IF NOT EXISTS {}').format(sql.Identifier(ctx.build_schema)))
    db.execute(sql.SQL('CREATE TABLE IF NOT EXISTS {} (change_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, '
                       '{}, applied_round integer)').format(
        log, sql.SQL(', ').join(sql.SQL('{} {}').format(sql.Identifier(n), sql.SQL(t))
                                for n, t in _column_types(snap, cols))))
    db.execute(sql.SQL('CREATE INDEX IF NOT EXISTS {} ON {} (change_id) WHERE applied_round IS NULL').format(
        sql.Identifier(truncate_name(log_name(ctx, direction), '_pending')), log))
    func = sql.Identifier(ctx.build_schema, function_name(ctx, direction))
    body = sql.SQL("""
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO {log} ({cols}) SELECT {cols} FROM partman_new_rows;
  ELSIF TG_OP = 'UPDATE' THEN
    INSERT INTO {log} ({cols}) SELECT {cols} FROM partman_old_rows UNION SELECT {cols} FROM partman_new_rows;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO {log} ({cols}) SELECT {cols} FROM partman_old_rows;
  ELSE
    RAISE EXCEPTION '%.% {refused}: TRUNCATE cannot be captured', TG_TABLE_SCHEMA, TG_TABLE_NAME
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'Finish (finalize) or revert the migration first.';
  END IF;
  RETURN NULL;
END""").format(log=log, cols=idents(cols), refused=sql.SQL(REFUSED_TRUNCATE))
    # SECURITY DEFINER: the application's role writes the log without privileges on it
    db.execute(sql.SQL('CREATE OR REPLACE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER '
                       'SET search_path = pg_catalog, pg_temp AS {}').format(
        func, sql.Literal(body.as_string(db.conn))))
    oid = table_oid(db, table)
    for event, op, referencing in _EVENTS:
        name = trigger_name(direction, event)
        if db.scalar('SELECT 1 FROM pg_trigger WHERE tgrelid = %s AND tgname = %s', (oid, name)):
            continue
        db.execute(sql.SQL('CREATE TRIGGER {} AFTER ' + op + ' ON {} ' + referencing +
                           ' FOR EACH STATEMENT EXECUTE FUNCTION {}()').format(sql.Identifier(name), table, func))
        db.execute(sql.SQL('ALTER TABLE {} ENABLE ALWAYS TRIGGER {}').format(table, sql.Identifier(name)))
    name = trigger_name(direction, 'truncate')
    if not db.scalar('SELECT 1 FROM pg_trigger WHERE tgrelid = %s AND tgname = %s', (oid, name)):
        db.execute(sql.SQL('CREATE TRIGGER {} BEFORE TRUNCATE ON {} FOR EACH STATEMENT EXECUTE FUNCTION {}()')
                   .format(sql.Identifier(name), table, func))
        db.execute(sql.SQL('ALTER TABLE {} ENABLE ALWAYS TRIGGER {}').format(table, sql.Identifier(name)))


def table_oid(db, table):
    """The oid of table (a sql.Identifier), None when it does not exist."""
    return db.scalar('SELECT to_regclass(%s)::oid::bigint', (table.as_string(db.conn),))


def installed(db, table_oid, direction):
    return bool(db.scalar('SELECT 1 FROM pg_trigger WHERE tgrelid = %s AND tgname = %s',
                          (table_oid, trigger_name(direction, 'ins'))))


def remove_triggers(ctx, db, direction, table):
    """The capture's triggers off table (None or gone: nothing to do). Only those there: DROP TRIGGER
    locks the table against its writers even when there is nothing to drop."""
    oid = table_oid(db, table) if table is not None else None
    if oid is None:
        return
    for event in [e[0] for e in _EVENTS] + ['truncate']:
        name = trigger_name(direction, event)
        if db.scalar('SELECT 1 FROM pg_trigger WHERE tgrelid = %s AND tgname = %s', (oid, name)):
            db.execute(sql.SQL('DROP TRIGGER {} ON {}').format(sql.Identifier(name), table))


def remove(ctx, db, direction, table):
    """Triggers, function and log of direction; table None when it no longer exists."""
    remove_triggers(ctx, db, direction, table)
    db.execute(sql.SQL('DROP FUNCTION IF EXISTS {}()').format(
        sql.Identifier(ctx.build_schema, function_name(ctx, direction))))
    db.execute(sql.SQL('DROP TABLE IF EXISTS {}').format(log_table(ctx, direction)))


def pending(ctx, db, direction):
    """Changes logged and not applied yet."""
    return db.scalar(sql.SQL('SELECT count(*) FROM {} WHERE applied_round IS NULL').format(
        log_table(ctx, direction)))
