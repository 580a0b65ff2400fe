# -*- coding: utf-8 -*-
# Copyright: soar.partman contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The small state tables partman_migrate keeps so that a run can resume.

<state_schema>.partman_migrate_state      one row per migrated table
<state_schema>.partman_migrate_partition  one row per child being copied

Every change of state is written in the same transaction as the work it
records, so after a kill the state never claims more than was committed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.soar.partman.plugins.module_utils.names import quote_ident

try:
    from psycopg2 import sql
    from psycopg2.extras import Json
except ImportError:
    sql = None
    Json = None

STATE = 'partman_migrate_state'
PARTS = 'partman_migrate_partition'


def _json_default(o):
    if hasattr(o, 'isoformat'):
        return o.isoformat()
    if isinstance(o, (set, tuple)):
        return list(o)
    return str(o)


def as_json(value):
    return Json(value, dumps=lambda v: json.dumps(v, default=_json_default))


def ddl(schema):
    s = sql.Identifier(schema)
    return [
        sql.SQL('CREATE SCHEMA IF NOT EXISTS {}').format(s),
        sql.SQL("""CREATE TABLE IF NOT EXISTS {}.{} (
    table_name text PRIMARY KEY,
    old_table text NOT NULL,
    step text NOT NULL,
    direction text NOT NULL DEFAULT 'forward',
    params jsonb NOT NULL,
    snapshot jsonb NOT NULL,
    extra jsonb NOT NULL DEFAULT '{{}}',
    timezone text NOT NULL,
    partman_version text,
    copy_method text,
    ctid_blocks bigint,
    ctid_done bigint NOT NULL DEFAULT 0,
    rows_total bigint,
    rows_copied bigint NOT NULL DEFAULT 0,
    progress jsonb,
    seconds jsonb NOT NULL DEFAULT '{{}}',
    message text,
    started_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz)""").format(s, sql.Identifier(STATE)),
        sql.SQL("""CREATE TABLE IF NOT EXISTS {}.{} (
    table_name text NOT NULL REFERENCES {}.{} (table_name) ON DELETE CASCADE,
    partition text NOT NULL,
    lo text,
    hi text,
    done_upto text,
    rows bigint NOT NULL DEFAULT 0,
    done boolean NOT NULL DEFAULT false,
    reverted boolean NOT NULL DEFAULT false,
    seconds double precision NOT NULL DEFAULT 0,
    PRIMARY KEY (table_name, partition))""").format(s, sql.Identifier(PARTS), s, sql.Identifier(STATE)),
    ]


def exists(db, schema):
    return bool(db.scalar("SELECT to_regclass(%s) IS NOT NULL",
                          ('%s.%s' % (quote_ident(schema), STATE),)))


def load(db, schema, table):
    if not exists(db, schema):
        return None
    rows = db.query(sql.SQL('SELECT * FROM {}.{} WHERE table_name = %s').format(
        sql.Identifier(schema), sql.Identifier(STATE)), (table,))
    return rows[0] if rows else None


def create(db, schema, table, old_table, step, params, snapshot, extra, timezone, version, copy_method):
    for stmt in ddl(schema):
        db.execute(stmt, record=True)
    db.execute(sql.SQL(
        'INSERT INTO {}.{} (table_name, old_table, step, params, snapshot, extra, timezone, '
        'partman_version, copy_method) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)').format(
        sql.Identifier(schema), sql.Identifier(STATE)),
        (table, old_table, step, as_json(params), as_json(snapshot), as_json(extra), timezone,
         version, copy_method), record=False)


def update(db, schema, table, **fields):
    """UPDATE the state row; jsonb fields given as python data."""
    if not fields:
        return
    sets = []
    values = []
    for k in sorted(fields):
        v = fields[k]
        if k in ('params', 'snapshot', 'extra', 'progress', 'seconds'):
            v = as_json(v)
        sets.append(sql.SQL('{} = %s').format(sql.Identifier(k)))
        values.append(v)
    sets.append(sql.SQL('updated_at = now()'))
    values.append(table)
    db.execute(sql.SQL('UPDATE {}.{} SET {} WHERE table_name = %s').format(
        sql.Identifier(schema), sql.Identifier(STATE), sql.SQL(', ').join(sets)), values, record=False)


def delete(db, schema, table):
    db.execute(sql.SQL('DELETE FROM {}.{} WHERE table_name = %s').format(
        sql.Identifier(schema), sql.Identifier(STATE)), (table,), record=True)


def register_partition(db, schema, table, partition, lo, hi):
    db.execute(sql.SQL(
        'INSERT INTO {}.{} (table_name, partition, lo, hi) VALUES (%s, %s, %s, %s) '
        'ON CONFLICT (table_name, partition) DO NOTHING').format(sql.Identifier(schema), sql.Identifier(PARTS)),
        (table, partition, lo, hi), record=False)


def partitions(db, schema, table):
    return db.query(sql.SQL('SELECT * FROM {}.{} WHERE table_name = %s ORDER BY lo, partition').format(
        sql.Identifier(schema), sql.Identifier(PARTS)), (table,))


def partition_progress(db, schema, table, partition, done_upto, add_rows, done, seconds):
    db.execute(sql.SQL(
        'UPDATE {}.{} SET done_upto = %s, rows = rows + %s, done = %s, seconds = seconds + %s '
        'WHERE table_name = %s AND partition = %s').format(sql.Identifier(schema), sql.Identifier(PARTS)),
        (done_upto, add_rows, done, seconds, table, partition), record=False)


def partition_reverted(db, schema, table, partition):
    db.execute(sql.SQL(
        'INSERT INTO {}.{} (table_name, partition, reverted) VALUES (%s, %s, true) '
        'ON CONFLICT (table_name, partition) DO UPDATE SET reverted = true').format(
        sql.Identifier(schema), sql.Identifier(PARTS)), (table, partition), record=False)


def partition_sums(db, schema, table):
    """(rows, seconds) copied so far over the table's partitions (None, None without any)."""
    rows = db.query(sql.SQL('SELECT sum(rows) AS rows, sum(seconds) AS seconds FROM {}.{} WHERE table_name = %s').format(
        sql.Identifier(schema), sql.Identifier(PARTS)), (table,))
    return (rows[0]['rows'], rows[0]['seconds']) if rows else (None, None)


def record_phase(db, schema, table, record):
    """Write a phase's progress record (progress.Phase) into the state row's progress.phase, in a
    transaction of its own on db, the other keys of progress kept. It never waits: a row locked by
    another writer is skipped (the next record follows), and a failure is rolled back and ignored,
    because a progress line must never stop the migration. Returns True when written."""
    try:
        db.execute(sql.SQL(
            "UPDATE {s}.{t} SET progress = coalesce(progress, '{{}}'::jsonb) || jsonb_build_object('phase', %s::jsonb), "
            "updated_at = now() WHERE table_name = (SELECT table_name FROM {s}.{t} WHERE table_name = %s "
            "FOR NO KEY UPDATE SKIP LOCKED)").format(s=sql.Identifier(schema), t=sql.Identifier(STATE)),
            (json.dumps(record), table), record=False)
        db.commit()
        return True
    except Exception:  # psycopg2.Error; the progress record is best effort
        try:
            db.rollback()
        except Exception:
            pass
        return False
