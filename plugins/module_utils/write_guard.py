# -*- coding: utf-8 -*-
# Copyright: soar.partman contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""While a migration is not finished, nobody but the migration writes into the new partitioned table.

A writer that was not stopped (an application host missing from the inventory, a cron job) would
otherwise put rows into the partitions while the copy fills them: the copy cannot tell those rows
from its own, and verification compares the partitions with the old table. A statement trigger on
the parent refuses INSERT, UPDATE, DELETE and TRUNCATE through the table's name with a clear error,
except on the migration's own connections, which carry SESSION_SETTING."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

try:
    from psycopg2 import sql
except ImportError:  # the module reports the missing library
    sql = None

# A placeholder setting on the migration's connections (any session may set it: this guards against
# mistakes, not against someone who sets it on purpose).
SESSION_SETTING = ('partman_migrate.writer', 'on')
FUNCTION = 'partman_migrate_refuse_writes'
TRIGGER = 'partman_migrate_refuse_writes'
REFUSED = 'is being migrated by partman_migrate'


def _function_sql(schema):
    body = """
BEGIN
  IF current_setting('%(setting)s', true) IS DISTINCT FROM '%(value)s' THEN
    RAISE EXCEPTION '%%.%% %(refused)s: writes are refused until the migration has finished', TG_TABLE_SCHEMA, TG_TABLE_NAME
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'Stop the application writing to it for the maintenance window; the migration removes this guard when it is done (or reverted).';
  END IF;
  RETURN NULL;
END""" % {'setting': SESSION_SETTING[0], 'value': SESSION_SETTING[1], 'refused': REFUSED}
    return sql.SQL('CREATE OR REPLACE FUNCTION {}.{}() RETURNS trigger LANGUAGE plpgsql AS {}').format(
        sql.Identifier(schema), sql.Identifier(FUNCTION), sql.Literal(body))


def installed(db, parent_oid):
    return bool(db.scalar('SELECT 1 FROM pg_trigger WHERE tgrelid = %s AND tgname = %s', (parent_oid, TRIGGER)))


def install(db, schema, parent):
    """Guard parent (a sql.Identifier); the caller commits (prepare: in the rename's transaction)."""
    db.execute(sql.SQL('CREATE SCHEMA IF NOT EXISTS {}').format(sql.Identifier(schema)))
    db.execute(_function_sql(schema))
    db.execute(sql.SQL('CREATE TRIGGER {} BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON {} '
                       'FOR EACH STATEMENT EXECUTE FUNCTION {}.{}()').format(
        sql.Identifier(TRIGGER), parent, sql.Identifier(schema), sql.Identifier(FUNCTION)))


def remove(db, parent):
    db.execute(sql.SQL('DROP TRIGGER IF EXISTS {} ON {}').format(sql.Identifier(TRIGGER), parent))
