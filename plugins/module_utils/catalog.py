# -*- coding: utf-8 -*-
# Copyright: soar.partman contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Catalog introspection for partman_migrate. Every function takes a
connection.Database and returns plain python data (JSON-serialisable, so a
snapshot can be stored in the state table and reused on resume)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.soar.partman.plugins.module_utils.ddl import split_index_def
from ansible_collections.soar.partman.plugins.module_utils.names import PlanError

TIME_TYPES = ('timestamp with time zone', 'timestamp without time zone', 'date')


def table_info(db, schema, name):
    rows = db.query("""
        SELECT c.oid::bigint AS oid, c.relkind, n.nspname AS schema, c.relname AS name,
               pg_get_userbyid(c.relowner) AS owner, c.relacl::text[] AS acl,
               obj_description(c.oid, 'pg_class') AS comment, c.reloptions,
               t.spcname AS tablespace, c.relpages::bigint AS relpages,
               greatest(c.reltuples, 0)::bigint AS reltuples, c.relrowsecurity AS rls,
               c.relpersistence,
               pg_relation_size(c.oid) AS heap_bytes,
               pg_table_size(c.oid) AS table_bytes,
               pg_indexes_size(c.oid) AS index_bytes,
               c.relreplident
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_tablespace t ON t.oid = c.reltablespace
        WHERE n.nspname = %s AND c.relname = %s""", (schema, name))
    if not rows:
        return None
    info = rows[0]
    info['partitioned'] = info['relkind'] == 'p'
    info['is_partition'] = bool(db.scalar("SELECT relispartition FROM pg_class WHERE oid = %s", (info['oid'],)))
    return info


def relation_exists(db, schema, name):
    """Whether a relation (table, index, sequence...) schema.name exists."""
    return bool(db.scalar(
        "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s", (schema, name)))


def columns(db, oid):
    return db.query("""
        SELECT a.attnum, a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
               a.attnotnull AS notnull, pg_get_expr(d.adbin, d.adrelid) AS default,
               a.attgenerated::text AS generated, a.attidentity::text AS identity,
               col_description(a.attrelid, a.attnum) AS comment, a.attacl::text[] AS acl
        FROM pg_attribute a
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped
        ORDER BY a.attnum""", (oid,))


def constraints(db, oid):
    """Constraints of the table (outgoing FKs included)."""
    rows = db.query("""
        SELECT con.conname AS name, con.contype::text AS type, pg_get_constraintdef(con.oid) AS def,
               con.convalidated AS validated, con.connoinherit AS noinherit,
               ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(n, ord)
                     JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n
                     ORDER BY k.ord)::text[] AS columns,
               ic.relname AS index_name,
               obj_description(con.oid, 'pg_constraint') AS comment,
               con.confrelid::regclass::text AS references
        FROM pg_constraint con
        LEFT JOIN pg_class ic ON ic.oid = con.conindid AND con.contype IN ('p', 'u', 'x')
        WHERE con.conrelid = %s
        ORDER BY con.contype, con.conname""", (oid,))
    for r in rows:
        r['columns'] = list(r['columns'] or [])
    return rows


def inbound_fks(db, oid):
    """Foreign keys of other tables referencing this one. A partitioned referencing table counts once:
    its partitions' copies of the key follow whatever is done to the key on the parent."""
    rows = db.query("""
        SELECT con.conname AS name, n.nspname AS schema, c.relname AS tablename,
               format('%%I.%%I', n.nspname, c.relname) AS table,
               pg_get_constraintdef(con.oid) AS def,
               ARRAY(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k(n, ord)
                     JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n
                     ORDER BY k.ord)::text[] AS referenced_columns
        FROM pg_constraint con
        JOIN pg_class c ON c.oid = con.conrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE con.contype = 'f' AND con.confrelid = %s AND con.conrelid <> %s
          AND con.conparentid = 0   -- a partitioned table's key, not its partitions' copies of it
        ORDER BY 1""", (oid, oid))
    for r in rows:
        r['referenced_columns'] = list(r['referenced_columns'] or [])
    return rows


def indexes(db, oid, schema, table):
    rows = db.query("""
        SELECT ic.relname AS name, pg_get_indexdef(i.indexrelid) AS def,
               i.indisunique AS unique, i.indisprimary AS primary, i.indisvalid AS valid,
               con.conname AS constraint, con.contype::text AS constraint_type,
               am.amname AS method, i.indpred IS NOT NULL AS partial,
               i.indexprs IS NOT NULL AS has_expressions,
               ARRAY(SELECT a.attname FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(n, ord)
                     JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n
                     WHERE k.ord <= i.indnkeyatts ORDER BY k.ord)::text[] AS columns,
               (i.indkey::int2[])[0] AS first_attnum,
               obj_description(i.indexrelid, 'pg_class') AS comment,
               t.spcname AS tablespace,
               pg_relation_size(i.indexrelid) AS bytes
        FROM pg_index i
        JOIN pg_class ic ON ic.oid = i.indexrelid
        JOIN pg_am am ON am.oid = ic.relam
        LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid
             AND con.contype IN ('p', 'u', 'x')
        LEFT JOIN pg_tablespace t ON t.oid = ic.reltablespace
        WHERE i.indrelid = %s
        ORDER BY i.indisprimary DESC, ic.relname""", (oid,))
    for r in rows:
        r['columns'] = list(r['columns'] or [])
        try:
            unique, tail = split_index_def(r['def'], r['name'], schema, table)
            r['tail'] = tail
        except PlanError:
            r['tail'] = None
    return rows


def constraint_query(table_oid, name):
    """(query, params) finding constraint name on the table: db.scalar(*constraint_query(...))."""
    return 'SELECT 1 FROM pg_constraint WHERE conrelid = %s AND conname = %s', (table_oid, name)


def constraint_target(db, schema, table, name):
    """The table (oid) constraint name of schema.table references: None when the table has no such
    constraint, 0 when it is not a foreign key. Finds where an inbound foreign key points now."""
    return db.scalar(
        'SELECT confrelid::bigint FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid '
        'JOIN pg_namespace n ON n.oid = r.relnamespace WHERE n.nspname = %s AND r.relname = %s '
        'AND c.conname = %s', (schema, table, name))


def table_grants(db, oid):
    """Table-level privileges (rows of aclexplode: grantee, priv, grantable), the owner's excluded."""
    return db.query("""
            SELECT CASE WHEN a.grantee = 0 THEN NULL ELSE pg_get_userbyid(a.grantee) END AS grantee,
                   a.privilege_type AS priv, a.is_grantable AS grantable
            FROM pg_class c, aclexplode(c.relacl) a
            WHERE c.oid = %s AND a.grantee <> c.relowner
            ORDER BY 1, 2""", (oid,))


def column_grants(db, oid):
    """Column privileges (col, grantee, priv, grantable) of the table's columns."""
    return db.query("""
            SELECT att.attname AS col,
                   CASE WHEN a.grantee = 0 THEN NULL ELSE pg_get_userbyid(a.grantee) END AS grantee,
                   a.privilege_type AS priv, a.is_grantable AS grantable
            FROM pg_attribute att, aclexplode(att.attacl) a
            WHERE att.attrelid = %s AND att.attnum > 0 AND NOT att.attisdropped""", (oid,))


def triggers(db, oid):
    return db.query("""
        SELECT t.tgname AS name, pg_get_triggerdef(t.oid) AS def, t.tgenabled::text AS enabled
        FROM pg_trigger t
        WHERE t.tgrelid = %s AND NOT t.tgisinternal
        ORDER BY t.tgname""", (oid,))


def owned_sequences(db, oid):
    """Sequences owned by columns of the table: deptype 'a' (serial/OWNED BY)
    or 'i' (identity)."""
    return db.query("""
        SELECT format('%%I.%%I', sn.nspname, s.relname) AS sequence, a.attname AS column,
               d.deptype::text AS deptype
        FROM pg_depend d
        JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
        JOIN pg_namespace sn ON sn.oid = s.relnamespace
        JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
        WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
          AND d.refobjid = %s AND d.deptype IN ('a', 'i')
        ORDER BY a.attnum""", (oid,))


def dependent_views(db, oid):
    """Views, materialized views and rules that reference the table by oid
    (they would follow the rename to the old table)."""
    return db.query("""
        SELECT DISTINCT format('%%I.%%I', n.nspname, c.relname) AS name, c.relkind::text AS kind
        FROM pg_depend d
        JOIN pg_rewrite r ON r.oid = d.objid AND d.classid = 'pg_rewrite'::regclass
        JOIN pg_class c ON c.oid = r.ev_class
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = %s AND c.oid <> %s
        ORDER BY 1""", (oid, oid))


def policies(db, oid):
    return db.query("SELECT polname AS name FROM pg_policy WHERE polrelid = %s", (oid,))


def publications(db, oid):
    return db.query("""
        SELECT p.pubname AS name FROM pg_publication_rel pr JOIN pg_publication p ON p.oid = pr.prpubid
        WHERE pr.prrelid = %s""", (oid,))


def partman_info(db):
    rows = db.query("""
        SELECT e.extversion AS version, n.nspname AS schema
        FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
        WHERE e.extname = 'pg_partman'""")
    return rows[0] if rows else None


def part_config(db, partman_schema, parent):
    from psycopg2 import sql
    rows = db.query(sql.SQL("SELECT * FROM {}.part_config WHERE parent_table = %s").format(
        sql.Identifier(partman_schema)), (parent,))
    return rows[0] if rows else None


def partitions(db, parent_oid):
    """Children of a partitioned table with their bounds."""
    rows = db.query("""
        SELECT format('%%I.%%I', n.nspname, c.relname) AS name, n.nspname AS schema, c.relname AS relname,
               c.oid::bigint AS oid, pg_get_expr(c.relpartbound, c.oid) AS bound
        FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE i.inhparent = %s
        ORDER BY c.relname""", (parent_oid,))
    for r in rows:
        r['is_default'] = r['bound'] == 'DEFAULT'
        r['lo'], r['hi'] = parse_bound(r['bound'])
    return rows


def bound_start(db, control_type, bound):
    """A partition bound (text, as parse_bound gives it) of a control column of control_type, as a
    timestamptz: the key buckets are compared by."""
    from psycopg2 import sql
    return db.scalar(sql.SQL('SELECT %s::{}::timestamptz').format(sql.SQL(control_type)), (bound,))


def parse_bound(bound):
    """("FOR VALUES FROM ('a') TO ('b')") -> ('a', 'b'); DEFAULT -> (None, None)."""
    if not bound or bound == 'DEFAULT':
        return None, None
    import re
    m = re.match(r"^FOR VALUES FROM \('((?:[^']|'')*)'\) TO \('((?:[^']|'')*)'\)$", bound)
    if not m:
        m2 = re.match(r"^FOR VALUES FROM \((MINVALUE|'(?:[^']|'')*')\) TO \((MAXVALUE|'(?:[^']|'')*')\)$", bound)
        if not m2:
            return None, None
        lo, hi = m2.group(1), m2.group(2)
        lo = None if lo == 'MINVALUE' else lo[1:-1].replace("''", "'")
        hi = None if hi == 'MAXVALUE' else hi[1:-1].replace("''", "'")
        return lo, hi
    return m.group(1).replace("''", "'"), m.group(2).replace("''", "'")


def server_version(db):
    return int(db.scalar("SELECT current_setting('server_version_num')"))


def setting(db, name):
    return db.scalar("SELECT current_setting(%s, true)", (name,))


def data_path_for(db, tablespace):
    """Filesystem path holding the table: tablespace location or data_directory."""
    if tablespace and tablespace not in ('pg_default', 'pg_global'):
        return db.scalar("SELECT pg_tablespace_location(oid) FROM pg_tablespace WHERE spcname = %s", (tablespace,))
    try:
        return db.scalar("SELECT current_setting('data_directory', true)")
    except Exception:
        return None


def free_disk(path):
    """Free bytes on the filesystem holding path, or None when unknowable
    (the module does not run on the database host, or path unreadable)."""
    if not path:
        return None
    try:
        st = os.statvfs(path)
    except (OSError, AttributeError):
        return None
    return st.f_bavail * st.f_frsize


def control_index(indexes_list, control):
    """A valid, non-partial btree index whose first column is control."""
    for idx in indexes_list:
        if (idx['method'] == 'btree' and idx['valid'] and not idx['partial'] and idx['columns']
                and idx['columns'][0] == control and not idx['has_expressions']):
            return idx
    for idx in indexes_list:
        if (idx['method'] == 'btree' and idx['valid'] and not idx['partial'] and idx['columns']
                and idx['columns'][0] == control):
            return idx
    return None


def snapshot(db, schema, name):
    """Everything partman_migrate needs to rebuild the table, as JSON-able data."""
    info = table_info(db, schema, name)
    if info is None:
        return None
    oid = info['oid']
    snap = {
        'table': info,
        'columns': columns(db, oid),
        'constraints': constraints(db, oid),
        'inbound_fks': inbound_fks(db, oid),
        'indexes': indexes(db, oid, schema, name),
        'triggers': triggers(db, oid),
        'sequences': owned_sequences(db, oid),
        'views': dependent_views(db, oid),
        'policies': policies(db, oid),
        'publications': publications(db, oid),
    }
    return snap
