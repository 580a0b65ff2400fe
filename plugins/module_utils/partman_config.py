# -*- coding: utf-8 -*-
# Copyright: soar.partman contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""partman_config: the retention settings of one partition set in part_config, written only after
the retention is checked and what the next maintenance run would drop or detach is confirmed.

Messages name the options with `var_prefix` in front, so that a role passing its prefix gets its
own variable names (partman_maintenance_retention_confirm_detach)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.soar.partman.plugins.module_utils import partset as ps
from ansible_collections.soar.partman.plugins.module_utils.connection import connect

try:
    from psycopg2 import sql
except ImportError:  # the module reports the missing library
    sql = None

NONE = 'none'
_CONTROL = re.compile(r'[\x00-\x1f\x7f]')


class ConfigError(Exception):
    """Fails the module, nothing changed; the message names the problem and the fix."""


def parse_retention(text, var_prefix=''):
    """Retention option -> None (leave it), NONE (remove it) or the interval text, whitespace
    normalised. Refuses text without a unit: PostgreSQL reads a bare number as seconds, which is
    what `-e name=30 days` delivers (the shell word ends at the space)."""
    if text is None:
        return None
    norm = ' '.join(str(text).split())
    if norm.lower() == NONE:
        return NONE
    var = var_prefix + 'retention'
    if not norm or _CONTROL.search(str(text)):
        raise ConfigError("%s %r is not a retention: give an interval such as '30 days', or 'none' to remove the "
                          "retention" % (var, text))
    if not re.search(r'[A-Za-z]', norm):
        hint = ''
        if var_prefix:
            hint = (" On the command line give it as JSON, -e '{\"%s\": \"%s days\"}' (with -e %s=%s days the value "
                    "ends at the space), or put it in the inventory." % (var, norm, var, norm))
        raise ConfigError("%s %r has no unit: PostgreSQL would read it as %s second(s), and the next maintenance "
                          "run would remove almost every partition. Give an interval with a unit of at least the "
                          "partition interval, for example '%s days'.%s" % (var, norm, norm, norm, hint))
    return norm


def wanted_settings(current, retention, keep_table):
    """part_config values after the run: (retention text or None, keep_table)."""
    ret = current.get('retention')
    if retention == NONE:
        ret = None
    elif retention is not None:
        ret = retention
    keep = current.get('retention_keep_table') if keep_table is None else keep_table
    return ret, keep


def differs(current, ret, keep):
    cur = current.get('retention')
    cur = ' '.join(cur.split()) if cur else None
    return cur != ret or current.get('retention_keep_table') != keep


def refusals(rplan, parent, confirm_drop, confirm_detach, var_prefix=''):
    """Why the settings may not be written without a confirmation (empty list: they may)."""
    v = var_prefix
    if not rplan.get('holding_data'):
        return []
    message = ps.retention_message({'parent': parent, 'retention': rplan})
    if rplan['would_drop'] and not confirm_drop:
        return ["%s. Set %sretention_confirm_drop: true if that data may go, or keep the tables "
                "(%sretention_keep_table: true) or lengthen %sretention." % (message, v, v, v)]
    if rplan['would_detach'] and not confirm_detach:
        return ["%s: the application no longer sees those rows (the tables stay, outside the partition set). Set "
                "%sretention_confirm_detach: true if that is intended, or lengthen %sretention." % (message, v, v)]
    return []


def check_interval(db, retention, partition_interval, parent, var_prefix=''):
    """The server's word on the retention: an interval, and not shorter than one partition."""
    var = var_prefix + 'retention'
    try:
        ok = db.scalar('SELECT %s::interval >= %s::interval', (retention, partition_interval))
    except Exception as e:
        db.rollback()
        raise ConfigError("%s %r is not a PostgreSQL interval (%s): give one such as '30 days'"
                          % (var, retention, str(e).strip().splitlines()[0]))
    if not ok:
        raise ConfigError("%s %r is shorter than the partition interval of %s (%s): maintenance would remove "
                          "the partition being written. Give at least '%s', for example '30 days'."
                          % (var, retention, parent, partition_interval, partition_interval))


class Config(object):

    def __init__(self, module):
        self.module = module
        self.p = module.params

    def run(self):
        p = self.p
        v = p['var_prefix']
        retention = parse_retention(p['retention'], v)
        db = connect(self.module, session_settings={'statement_timeout': '0', 'DateStyle': 'ISO, YMD'})
        try:
            return self._run(db, retention)
        finally:
            db.close()

    def _run(self, db, retention):
        p, v = self.p, self.p['var_prefix']
        schema = p['partman_schema']
        installed = ps.partman_installed(db)
        if installed is None or installed['schema'] != schema:
            raise ConfigError("pg_partman is not installed in schema %s of database %s: set %spartman_schema to "
                              "the schema of the extension, or apply role soar.partman.partman first"
                              % (schema, db.scalar('SELECT current_database()'), v))
        try:
            parent = '%s.%s' % ps.split_parent(p['table'])
        except ps.InfoError as e:
            raise ConfigError('%stable: %s' % (v, e))
        rows = ps.config_rows(db, schema, parent)
        if not rows:
            raise ConfigError("%s is not managed by pg_partman (no row in %s.part_config): set %stable to a "
                              "partition set, or migrate the table first" % (parent, schema, v))
        current = rows[0]
        ret, keep = wanted_settings(current, retention, p['retention_keep_table'])
        if ret is not None:
            oid = ps.parent_oid(db, *ps.split_config_parent(current['parent_table']))
            ctype = ps.control_type(db, oid, current['control'])
            if ctype not in ps.TIME_TYPES or current.get('epoch') not in (None, 'none'):
                raise ConfigError("%s is not partitioned by a time column (control %s, %s): %sretention can be set "
                                  "here for time-based partition sets only" % (parent, current['control'], ctype, v))
            check_interval(db, ret, current['partition_interval'], parent, v)
        facts = ps.collect_set(db, schema, current, retention=ret or '', keep_table=keep)
        db.rollback()
        rplan = facts['retention']
        result = dict(changed=False, parent=parent, retention=rplan, queries=[],
                      before=dict(retention=current.get('retention'),
                                  retention_keep_table=current.get('retention_keep_table')),
                      after=dict(retention=ret, retention_keep_table=keep))
        problems = refusals(rplan, parent, p['retention_confirm_drop'], p['retention_confirm_detach'], v)
        if problems:
            raise ConfigError(' '.join(problems))
        if differs(current, ret, keep):
            result['changed'] = True
            q = sql.SQL('UPDATE {}.part_config SET retention = %s, retention_keep_table = %s '
                        'WHERE parent_table = %s').format(sql.Identifier(schema))
            args = (ret, keep, parent)
            result['queries'].append(db.mogrify(q, args))
            if not self.module.check_mode:
                db.execute(q, args, record=False)
                db.commit()
        if self.module._diff:
            result['diff'] = dict(before=result['before'], after=result['after'])
        return result


def run(module):
    try:
        module.exit_json(**Config(module).run())
    except (ConfigError, ps.InfoError) as e:
        msg = str(e) if str(e).endswith('.') else str(e) + '.'
        module.fail_json(msg=msg + ' Nothing was changed.', changed=False)
