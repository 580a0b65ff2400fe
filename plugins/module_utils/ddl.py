# -*- coding: utf-8 -*-
# Copyright: soar.partman contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""DDL text: rewriting what pg_get_indexdef() / pg_get_constraintdef() / pg_get_triggerdef() return
(key columns widened with the partition key, another target table), and the statement builders
(ADD CONSTRAINT, CREATE INDEX, GRANT) every step uses. Needs no database: composed with psycopg2.sql."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.soar.partman.plugins.module_utils.names import PlanError, quote_ident, split_table_name

try:
    from psycopg2 import sql
except ImportError:  # the module reports the missing library
    sql = None


def widen_columns(columns, control):
    """Unique/PK columns widened to contain the partition key."""
    cols = list(columns)
    if control not in cols:
        cols.append(control)
    return cols


def describe_key_change(kind, before, after):
    return '%s (%s) -> (%s)' % (kind, ', '.join(before), ', '.join(after))


def describe_inbound_fks(fks, table_key):
    """'name on table (references schema.table (cols)); ...' for inbound foreign keys."""
    return '; '.join('%s on %s (references %s (%s))' % (
        fk['name'], fk['table'], table_key, ', '.join(fk['referenced_columns'])) for fk in fks)


def _find_matching_paren(text, start):
    """Index of the parenthesis closing the one at text[start]; respects
    quoted identifiers and string literals."""
    depth = 0
    i = start
    in_str = None
    while i < len(text):
        ch = text[i]
        if in_str:
            if ch == in_str:
                if i + 1 < len(text) and text[i + 1] == in_str:
                    i += 2
                    continue
                in_str = None
        elif ch in ('"', "'"):
            in_str = ch
        elif ch == '(':
            depth += 1
        elif ch == ')':
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise PlanError("cannot parse index definition: unbalanced parentheses in %r" % text)


def split_index_def(indexdef, index_name, table_schema, table_name):
    """Split pg_get_indexdef() output into (unique, tail) where tail starts
    at ' USING ...'. Raises PlanError when the text does not look as expected."""
    m = re.match(r'^CREATE (UNIQUE )?INDEX ', indexdef)
    if not m:
        raise PlanError("unexpected index definition %r" % indexdef)
    rest = indexdef[m.end():]
    name_q = quote_ident(index_name)
    candidates = []
    for nm in (name_q, '"%s"' % index_name.replace('"', '""'), index_name):
        for tb in ('%s.%s' % (quote_ident(table_schema), quote_ident(table_name)),
                   '%s.%s' % ('"%s"' % table_schema, '"%s"' % table_name),
                   '%s.%s' % (table_schema, table_name)):
            candidates.append('%s ON %s' % (nm, tb))
            candidates.append('%s ON ONLY %s' % (nm, tb))
    for prefix in candidates:
        if rest.startswith(prefix + ' USING '):
            return bool(m.group(1)), rest[len(prefix):]
    raise PlanError("cannot parse index definition %r (expected index %s on %s.%s)"
                    % (indexdef, index_name, table_schema, table_name))


def widen_index_tail(tail, control_quoted):
    """Add the control column to the key column list of ' USING m (cols) ...'."""
    m = re.match(r'^ USING \S+ ', tail)
    if not m or tail[m.end()] != '(':
        raise PlanError("cannot parse index definition tail %r" % tail)
    open_at = m.end()
    close_at = _find_matching_paren(tail, open_at)
    return tail[:close_at] + ', ' + control_quoted + tail[close_at:]


def index_tail_columns(tail):
    """The raw text of the key column list of ' USING m (a, b DESC) ...'."""
    m = re.match(r'^ USING \S+ ', tail)
    if not m or tail[m.end()] != '(':
        raise PlanError("cannot parse index definition tail %r" % tail)
    close_at = _find_matching_paren(tail, m.end())
    return tail[m.end() + 1:close_at]


def retarget_trigger_def(triggerdef, schema, old_table, new_schema, new_table):
    """Rewrite 'CREATE TRIGGER t ... ON schema.old ...' to target another table."""
    for src in ('%s.%s' % (quote_ident(schema), quote_ident(old_table)),
                '"%s"."%s"' % (schema, old_table), '%s.%s' % (schema, old_table)):
        needle = ' ON %s ' % src
        if needle in triggerdef:
            return triggerdef.replace(needle, ' ON %s.%s ' % (quote_ident(new_schema), quote_ident(new_table)), 1)
    raise PlanError("cannot re-target trigger definition %r" % triggerdef)


# --------------------------------------------------------------------------
# statement builders (psycopg2.sql): each written once, used by every step
# --------------------------------------------------------------------------

def qualified_ident(qualified_name):
    """sql.Identifier of 'schema.rel' (as format('%I.%I') gives it, or as the user writes it)."""
    return sql.Identifier(*split_table_name(qualified_name))


def add_constraint(target, name, definition):
    """ALTER TABLE target ADD CONSTRAINT name, with the definition as pg_get_constraintdef() gives it."""
    return sql.SQL('ALTER TABLE {} ADD CONSTRAINT {} ' + definition.replace('%', '%%')).format(
        target, sql.Identifier(name))


def drop_constraint(target, name):
    return sql.SQL('ALTER TABLE {} DROP CONSTRAINT {}').format(target, sql.Identifier(name))


def key_or_index(kind, src, target, name, control):
    """The statement creating the constraint (kind 'constraint') or index (kind 'index') src, as the
    catalog snapshot has it, on target under name; a primary key or unique one without the control
    column gets it added."""
    control_q = quote_ident(control)
    if kind == 'constraint':
        d = src['def']
        if control not in src['columns']:
            close_at = _find_matching_paren(d, d.index('('))
            d = d[:close_at] + ', ' + control_q + d[close_at:]
        return add_constraint(target, name, d)
    tail = src['tail']
    if src['unique'] and control not in src['columns']:
        tail = widen_index_tail(tail, control_q)
    return sql.SQL('CREATE {}INDEX IF NOT EXISTS {} ON {}' + tail.replace('%', '%%')).format(
        sql.SQL('UNIQUE ' if src['unique'] else ''), sql.Identifier(name), target)


def comment_on(kind, name, target):
    """(COMMENT ON CONSTRAINT name ON target | COMMENT ON INDEX target-schema.name) IS %s; target is
    the table for a constraint, the index's schema-qualified sql.Identifier for an index."""
    if kind == 'constraint':
        return sql.SQL('COMMENT ON CONSTRAINT {} ON {} IS %s').format(sql.Identifier(name), target)
    return sql.SQL('COMMENT ON INDEX {} IS %s').format(target)


def grant(row, target, column=None):
    """GRANT priv [(column)] ON target TO grantee [WITH GRANT OPTION] from a row of aclexplode()
    (grantee None: PUBLIC)."""
    who = sql.SQL('PUBLIC') if row['grantee'] is None else sql.Identifier(row['grantee'])
    option = sql.SQL(' WITH GRANT OPTION' if row['grantable'] else '')
    if column is None:
        return sql.SQL('GRANT {} ON {} TO {}{}').format(sql.SQL(row['priv']), target, who, option)
    return sql.SQL('GRANT {} ({}) ON {} TO {}{}').format(sql.SQL(row['priv']), sql.Identifier(column), target,
                                                         who, option)


TRIGGER_STATES = {'D': 'DISABLE', 'O': 'ENABLE', 'A': 'ENABLE ALWAYS', 'R': 'ENABLE REPLICA'}


def trigger_state(target, trigger, enabled):
    """ALTER TABLE target DISABLE | ENABLE [ALWAYS | REPLICA] TRIGGER trigger, for the state
    pg_trigger.tgenabled names (D, O, A, R)."""
    return sql.SQL('ALTER TABLE {} ' + TRIGGER_STATES[enabled] + ' TRIGGER {}').format(
        target, sql.Identifier(trigger))


def sequence_owned_by(sequence, table, column):
    """ALTER SEQUENCE sequence ('schema.seq') OWNED BY table.column."""
    return sql.SQL('ALTER SEQUENCE {} OWNED BY {}.{}').format(qualified_ident(sequence), table,
                                                              sql.Identifier(column))


def lock_exclusive(*tables):
    return sql.SQL('LOCK TABLE {} IN ACCESS EXCLUSIVE MODE').format(sql.SQL(', ').join(tables))


def drop_table(target):
    return sql.SQL('DROP TABLE {}').format(target)


def rename(kind, target, new_name):
    """ALTER TABLE|INDEX target RENAME TO new_name."""
    return sql.SQL('ALTER ' + kind + ' {} RENAME TO {}').format(target, sql.Identifier(new_name))


def owner_to(target, owner):
    return sql.SQL('ALTER TABLE {} OWNER TO {}').format(target, sql.Identifier(owner))
