# -*- coding: utf-8 -*-
# Copyright: soar.partman contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""partman_finalize: drop <table><old_suffix> once a migration is done, old
enough, every row of the old table is in the partitioned one, and the user
confirmed. Every check runs (and is reported) even when an earlier one fails,
so a refusal lists everything that is missing at once."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from ansible_collections.soar.partman.plugins.module_utils import catalog
from ansible_collections.soar.partman.plugins.module_utils import names as pl
from ansible_collections.soar.partman.plugins.module_utils import state as st
from ansible_collections.soar.partman.plugins.module_utils.connection import connect
from ansible_collections.soar.partman.plugins.module_utils.migration import capture
from ansible_collections.soar.partman.plugins.module_utils.migration.context import BUILD_SCHEMA

try:
    import psycopg2
    from psycopg2 import sql
except ImportError:
    psycopg2 = None
    sql = None

SAMPLE = 5


class FinalizeError(Exception):
    """Fails the module with a message naming the problem and the fix."""


def pk_columns(db, oid):
    """Columns of the primary key of a table, in key order ([] when none)."""
    rows = db.query("""
        SELECT a.attname AS name
        FROM pg_constraint c
        CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)
        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
        WHERE c.conrelid = %s AND c.contype = 'p'
        ORDER BY k.ord""", (oid,))
    return [r['name'] for r in rows]


def stored_columns(db, oid):
    """Columns that hold data of their own (not dropped, not generated)."""
    rows = db.query("""
        SELECT attname AS name FROM pg_attribute
        WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped AND attgenerated = ''
        ORDER BY attnum""", (oid,))
    return [r['name'] for r in rows]


def check(name, ok, detail):
    return {'name': name, 'ok': bool(ok), 'detail': detail}


class Finalize(object):

    def __init__(self, module):
        self.module = module
        self.p = module.params
        self.schema, self.name = pl.split_table_name(self.p['table'])
        self.key = '%s.%s' % (self.schema, self.name)
        self.state_schema = self.p.get('state_schema') or self.p['partman_schema']
        self.old_schema, self.old_name = self.schema, pl.truncate_name(self.name, self.p['old_suffix'])
        self.build_schema = BUILD_SCHEMA   # online mode's change logs (capture.py names them from this)
        self.online = False
        self.checks = []
        self.queries = []
        self.result = dict(changed=False, dropped=False, table=self.key,
                           old_table='%s.%s' % (self.old_schema, self.old_name),
                           old_rows=None, missing_rows=None, finished_at=None, age=None,
                           checks=self.checks, queries=self.queries)
        self.db = None

    def run(self):
        self.db = connect(self.module, session_settings={
            'lock_timeout': '%ds' % int(self.p['lock_timeout']),
            'statement_timeout': '0',
        }, queries=self.queries)
        try:
            return self._run()
        finally:
            try:
                self.db.rollback()
            except Exception:
                pass
            self.db.close()

    def _run(self):
        db = self.db
        state = st.load(db, self.state_schema, self.key)
        if state and state.get('old_table'):
            # stored raw as schema.name (never quoted; names with a period are refused by the migration)
            self.old_schema, self.old_name = state['old_table'].split('.', 1)
            self.result['old_table'] = '%s.%s' % (self.old_schema, self.old_name)
        self.online = bool(state and (state.get('extra') or {}).get('mode') == 'online')
        old = catalog.table_info(db, self.old_schema, self.old_name)
        new = catalog.table_info(db, self.schema, self.name)
        if old is None:
            if state and state['step'] == 'done':
                self.result['msg'] = ('%s does not exist: the migration of %s was finalized already'
                                      % (self.result['old_table'], self.key))
            else:
                self.result['msg'] = '%s does not exist: nothing to drop' % self.result['old_table']
            return self.result
        t_old = sql.Identifier(self.old_schema, self.old_name)
        t_new = sql.Identifier(self.schema, self.name)

        # 1. the migration is finished
        if state is None:
            self.checks.append(check('migrated', False,
                                     'partman_migrate has no state for %s (%s.%s): %s was not made by a migration of '
                                     'this module; drop it by hand if you are sure'
                                     % (self.key, self.state_schema, st.STATE, self.result['old_table'])))
        elif state['direction'] != 'forward' or state['step'] != 'done' or state['finished_at'] is None:
            self.checks.append(check('migrated', False,
                                     'the migration of %s is not finished (step %s, %s): run migrate.yml to finish it, '
                                     'or rollback.yml' % (self.key, state['step'], state['direction'])))
        else:
            self.checks.append(check('migrated', True, 'migration of %s finished at %s'
                                     % (self.key, state['finished_at'].isoformat())))
        # 2. the table is the partitioned one
        partitioned = new is not None and new['partitioned']
        self.checks.append(check('partitioned', partitioned, '%s is %s' % (
            self.key, 'partitioned' if partitioned else ('missing' if new is None else 'not partitioned'))))
        # 3. old enough
        if state is not None and state['finished_at'] is not None:
            row = db.query('SELECT now() - %s::timestamptz >= %s::interval AS old_enough, '
                           "date_trunc('second', now() - %s::timestamptz)::text AS age, "
                           "(%s::timestamptz + %s::interval)::text AS not_before",
                           (state['finished_at'], self.p['min_age'], state['finished_at'],
                            state['finished_at'], self.p['min_age']))[0]
            self.result['finished_at'] = state['finished_at'].isoformat()
            self.result['age'] = row['age']
            if row['old_enough']:
                self.checks.append(check('age', True, 'finished %s ago (min_age %s)' % (row['age'], self.p['min_age'])))
            else:
                self.checks.append(check('age', False, (
                    'the migration finished only %s ago; min_age is %s: wait until %s, or lower min_age '
                    '(finalize.yml: migration_finalize_min_age)') % (row['age'], self.p['min_age'], row['not_before'])))
        else:
            self.checks.append(check('age', False, 'no finish time recorded for the migration of %s' % self.key))
        # 4. every row of the old table is in the partitioned table (while nothing can write to the old one)
        db.execute(sql.SQL('LOCK TABLE {} IN SHARE MODE').format(t_old))
        self.result['old_rows'] = db.scalar(sql.SQL('SELECT count(*) FROM {}').format(t_old))
        if partitioned:
            self.rows_check(old, new, t_old, t_new, state)
        else:
            self.checks.append(check('rows', False, 'cannot compare rows: %s is not partitioned' % self.key))
        # 5. confirmation
        self.checks.append(check('confirm', self.p['confirm'],
                                 'confirmed' if self.p['confirm'] else
                                 'not confirmed: set confirm (finalize.yml: -e migration_finalize_confirm=true) '
                                 'to drop %s' % self.result['old_table']))
        failed = [c for c in self.checks if not c['ok']]
        if failed:
            raise FinalizeError('not dropping %s: %s' % (self.result['old_table'],
                                                         '; '.join(c['detail'] for c in failed)))
        self.result['msg'] = ('%s%s dropped: %s rows, all present in %s'
                              % (self.result['old_table'], ' would be' if self.module.check_mode else '',
                                 self.result['old_rows'], self.key))
        if self.module.check_mode:
            self.result['changed'] = True
            return self.result
        try:
            db.execute(sql.SQL('DROP TABLE {}').format(t_old))
            if self.online:  # nothing to keep in sync any more
                capture.remove(self, db, capture.REVERSE, t_new)
        except psycopg2.Error as e:
            db.rollback()
            raise FinalizeError('DROP TABLE %s failed: %s. Other objects depend on it (views, foreign keys, functions): '
                                'remove or repoint them first' % (self.result['old_table'], str(e).strip()))
        st.update(db, self.state_schema, self.key,
                  message='finalized: %s dropped at %s' % (self.result['old_table'],
                                                           datetime.datetime.now(datetime.timezone.utc).isoformat()))
        db.commit()
        # changed only once the drop is committed: a failed DROP (rolled back) reports changed=false
        self.result['changed'] = True
        self.result['dropped'] = True
        return self.result

    def rows_check(self, old, new, t_old, t_new, state):
        db = self.db
        control = ((state or {}).get('params') or {}).get('control')
        pk = pk_columns(db, old['oid'])
        if pk:
            keys = list(pk)
            if control and control not in keys:
                keys.append(control)     # the row must be in the partition of its time, too
            cond = sql.SQL(' AND ').join(sql.SQL('n.{c} = o.{c}').format(c=sql.Identifier(c)) for c in keys)
            missing_q = sql.SQL('FROM {} AS o WHERE NOT EXISTS (SELECT 1 FROM {} AS n WHERE {})').format(
                t_old, t_new, cond)
            how = 'anti-join on (%s)' % ', '.join(keys)
            if self.online:
                # rows changed since an online cut-over are where the reverse capture says (deleted ones too)
                log = capture.log_table(self, capture.REVERSE)
                changed = sql.SQL(' AND ').join(sql.SQL('l.{c} = o.{c}').format(c=sql.Identifier(c)) for c in pk)
                missing_q = sql.SQL('{} AND NOT EXISTS (SELECT 1 FROM {} AS l WHERE {})').format(missing_q, log, changed)
                how += ', rows changed since the cut-over left out'
            sample_cols = sql.SQL(', ').join(sql.SQL('o.{}::text').format(sql.Identifier(c)) for c in keys)
        else:
            cols = [c for c in stored_columns(db, old['oid']) if c in set(stored_columns(db, new['oid']))]
            row = sql.SQL('ROW({})::text').format(sql.SQL(', ').join(sql.Identifier(c) for c in cols))
            missing_q = sql.SQL('FROM (SELECT {r} AS r FROM {o} EXCEPT ALL SELECT {r} FROM {n}) AS o').format(
                r=row, o=t_old, n=t_new)
            keys = ['row']
            how = 'every stored column (no primary key)'
            sample_cols = sql.SQL('o.r')
        missing = db.scalar(sql.SQL('SELECT count(*) {}').format(missing_q))
        self.result['missing_rows'] = missing
        if missing:
            sample = db.execute(sql.SQL('SELECT {} {} LIMIT %s').format(sample_cols, missing_q), (SAMPLE,), record=False)
            shown = '; '.join(', '.join('%s=%s' % (k, v) for k, v in zip(keys, r)) for r in sample)
            self.checks.append(check('rows', False,
                                     '%s of the %s rows of %s are not in %s (%s), for example %s. Find out where '
                                     'they went (deleted or changed since the migration?) before dropping anything'
                                     % (missing, self.result['old_rows'], self.result['old_table'], self.key, how,
                                        shown)))
        else:
            self.checks.append(check('rows', True, 'all %s rows of %s are in %s (%s)'
                                     % (self.result['old_rows'], self.result['old_table'], self.key, how)))


def run(module):
    try:
        f = Finalize(module)
    except pl.PlanError as e:
        module.fail_json(msg='%s (nothing was changed)' % e, changed=False)
    try:
        result = f.run()
    except FinalizeError as e:
        module.fail_json(msg=str(e), **dict((k, v) for k, v in f.result.items() if k != 'msg'))  # changed is false
    except psycopg2.Error as e:
        module.fail_json(msg='database error: %s; nothing was dropped' % str(e).strip(),
                         **dict((k, v) for k, v in f.result.items() if k != 'msg'))
    module.exit_json(**result)
