# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Server settings (GUCs): read what the configuration files hold and what runs, write with ALTER SYSTEM."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

try:
    from psycopg2 import sql
except ImportError:  # the module reports the missing library
    sql = None


class GucParseError(ValueError):
    pass


def parse_library_list(text):
    """Split a shared_preload_libraries value the way PostgreSQL does: commas, optional double quotes."""
    if text is None:
        return []
    items, i, n = [], 0, len(text)
    while i < n:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            break
        if text[i] == '"':
            j, item = i + 1, ''
            while True:
                if j >= n:
                    raise GucParseError('unterminated double quote in %r' % text)
                if text[j] == '"':
                    if j + 1 < n and text[j + 1] == '"':
                        item, j = item + '"', j + 2
                        continue
                    break
                item, j = item + text[j], j + 1
            i = j + 1
        else:
            j = i
            while j < n and text[j] != ',' and not text[j].isspace():
                if text[j] == '"':
                    raise GucParseError('stray double quote in %r' % text)
                j += 1
            item, i = text[i:j], j
        while i < n and text[i].isspace():
            i += 1
        if not item:
            raise GucParseError('empty library name in %r' % text)
        items.append(item)
        if i < n:
            if text[i] != ',':
                raise GucParseError('expected a comma after %r in %r' % (item, text))
            i += 1
            if i >= n or not text[i:].strip():
                raise GucParseError('trailing comma in %r' % text)
    return items


def configured_value(cur, name):
    """The value the configuration files give (in force after a restart or reload); None if unset there.

    The last entry wins, as in PostgreSQL. A value waiting for a restart carries the error
    'setting could not be applied': it is still the configured value, so errors are not filtered.
    """
    cur.execute(
        "SELECT setting FROM pg_catalog.pg_file_settings WHERE name = %s "
        "ORDER BY seqno DESC LIMIT 1", (name,))
    row = cur.fetchone()
    return row[0] if row else None


def running_value(cur, name):
    """The value the server runs with now; None when the setting is unknown to it."""
    cur.execute("SELECT pg_catalog.current_setting(%s, true)", (name,))
    return cur.fetchone()[0]


def _name(name):
    return sql.SQL('.').join(sql.Identifier(part) for part in name.split('.'))


def set_guc(cur, name, values, check_mode):
    """ALTER SYSTEM SET name = 'v1', 'v2'; returns the statement. An empty list writes ''."""
    values = list(values) or ['']
    query = sql.SQL('ALTER SYSTEM SET {} = {}').format(
        _name(name), sql.SQL(', ').join(sql.Literal(v) for v in values))
    text = query.as_string(cur)
    if not check_mode:
        cur.execute(query)
    return text
