# -*- coding: utf-8 -*-
# Copyright: soar.partman contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The partman_migrate steps: preflight, prepare, partitions, copy, indexes,
constraints, verify, configure; and revert. The module file only wires
parameters to Migration.run()."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import threading
import time

from ansible_collections.soar.partman.plugins.module_utils import batches
from ansible_collections.soar.partman.plugins.module_utils import catalog
from ansible_collections.soar.partman.plugins.module_utils import partman as pm
from ansible_collections.soar.partman.plugins.module_utils import state as st
from ansible_collections.soar.partman.plugins.module_utils import write_guard
from ansible_collections.soar.partman.plugins.module_utils.connection import connect, Database
from ansible_collections.soar.partman.plugins.module_utils.ddl import (
    _find_matching_paren, describe_inbound_fks, describe_key_change, widen_columns, widen_index_tail,
)
from ansible_collections.soar.partman.plugins.module_utils.estimate import disk_needed
from ansible_collections.soar.partman.plugins.module_utils.human import human_bytes
from ansible_collections.soar.partman.plugins.module_utils.intervals import add_interval, premake_buckets
from ansible_collections.soar.partman.plugins.module_utils.names import (
    NAMEDATALEN, PlanError, datetime_format, qualified, quote_ident, split_table_name, truncate_name, unique_name,
)
from ansible_collections.soar.partman.plugins.module_utils.params import validate_params
from ansible_collections.soar.partman.plugins.module_utils.plan import build_plan
from ansible_collections.soar.partman.plugins.module_utils.progress import Progress

try:
    import psycopg2
    from psycopg2 import sql
except ImportError:
    psycopg2 = None
    sql = None

PARTITION_CHUNK = 100

# Steps of a forward migration, in order. The state table records the last
# one that completed.
STEPS = ('prepared', 'partitioned', 'copied', 'indexed', 'constrained', 'verified', 'done')
DROP_CHUNK = 50


# classid of the advisory lock that serialises runs on one table (objid: hashtext of the table name).
LOCK_NAMESPACE = 'soar.partman.partman_migrate'


class MigrationError(Exception):
    """Fails the module; the message names the problem and the fix."""


def _ident(qualified_name):
    return sql.Identifier(*split_table_name(qualified_name))


def _parse_dt(text):
    return datetime.datetime.fromisoformat(text)


class _LockedProgress(object):
    """A Progress shared by threads: add() under a lock."""

    def __init__(self, progress):
        self.progress = progress
        self.lock = threading.Lock()

    def add(self, rows, where='', force=False):
        with self.lock:
            return self.progress.add(rows, where=where, force=force)


def _add_constraint_sql(target, name, definition):
    """ALTER TABLE target ADD CONSTRAINT name, with the definition as pg_get_constraintdef() gives it."""
    return sql.SQL('ALTER TABLE {} ADD CONSTRAINT {} ' + definition.replace('%', '%%')).format(
        target, sql.Identifier(name))


def _constraint_check(table_oid, name):
    """(query, params) finding constraint name on the table."""
    return 'SELECT 1 FROM pg_constraint WHERE conrelid = %s AND conname = %s', (table_oid, name)


def _interleave_second_half(items, extra):
    """items, with extra spread one by one between the items of its second half."""
    half = len(items) // 2
    out = list(items[:half])
    rest = list(items[half:])
    while rest or extra:
        if rest:
            out.append(rest.pop(0))
        if extra:
            out.append(extra[0])
            extra = extra[1:]
    return out


class Migration(object):

    def __init__(self, module):
        self.module = module
        self.p = dict(module.params)
        self.check_mode = module.check_mode
        self.queries = []
        self.warnings = []
        self.seconds = {}
        self.rows_copied = {}
        self.partitions_created = []
        self.pk_changed = []
        self.changed = False
        self.plan = None
        self.diff = None
        self.partman_version = None
        self.var_prefix = self.p.get('var_prefix') or ''
        self.interval = validate_params(self.p, self.var_prefix)
        self.schema, self.name = split_table_name(self.p['table'])
        self.key = '%s.%s' % (self.schema, self.name)          # pg_partman's parent_table text
        self.old_name = truncate_name(self.name, self.p['old_suffix'])
        self.control = self.p['control']
        self.partman_schema = self.p['partman_schema']
        self.state_schema = self.p.get('state_schema') or self.partman_schema
        self.t_parent = sql.Identifier(self.schema, self.name)
        self.t_old = sql.Identifier(self.schema, self.old_name)
        self.db = None

    # ------------------------------------------------------------------ utils
    def opt(self, option):
        """An option as the user set it: the role's variable when a role passes var_prefix."""
        return self.var_prefix + option

    def log(self, msg):
        try:
            self.module.log('partman_migrate %s: %s' % (self.key, msg))
        except Exception:
            pass

    def warn(self, msg):
        self.warnings.append(msg)

    def timed(self, name, fn, *args):
        t0 = time.time()
        try:
            return fn(*args)
        finally:
            self.seconds[name] = round(self.seconds.get(name, 0) + time.time() - t0, 3)

    def session_settings(self, timezone=None):
        s = {
            'statement_timeout': '0',
            'idle_in_transaction_session_timeout': '0',
            'lock_timeout': '%ds' % int(self.p['lock_timeout']),
            'DateStyle': 'ISO, YMD',
            'synchronous_commit': 'off',
            write_guard.SESSION_SETTING[0]: write_guard.SESSION_SETTING[1],
        }
        if timezone:
            s['TimeZone'] = timezone
        if self.p.get('maintenance_work_mem'):
            s['maintenance_work_mem'] = self.p['maintenance_work_mem']
        return s

    def result(self):
        return dict(
            changed=self.changed,
            partitions=self.partitions_created,
            rows_copied=self.rows_copied,
            seconds=self.seconds,
            queries=self.queries,
            warnings=self.warnings,
            pk_changed=self.pk_changed,
            partman_version=self.partman_version,
            plan=self.plan or {},
        )

    def exists(self, name):
        return catalog.table_info(self.db, self.schema, name)

    def relation_exists(self, schema, name):
        return bool(self.db.scalar(
            "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = %s", (schema, name)))

    # -------------------------------------------------------------------- run
    def run(self):
        self.db = connect(self.module, session_settings=self.session_settings(), queries=self.queries)
        try:
            self.lock_table_migration()
            info = catalog.partman_info(self.db)
            if info is None:
                raise MigrationError(
                    "pg_partman is not installed in database %s: run CREATE SCHEMA %s; CREATE EXTENSION "
                    "pg_partman SCHEMA %s; (install the postgresql-NN-partman package first)"
                    % (self.p.get('login_db') or 'postgres', self.partman_schema, self.partman_schema))
            if info['schema'] != self.partman_schema:
                raise MigrationError("pg_partman is installed in schema %s, not %s: set %s: %s"
                                     % (info['schema'], self.partman_schema, self.opt('partman_schema'),
                                        info['schema']))
            self.partman_version = info['version']
            self.major = pm.partman_major(info['version'])
            self.server_version = catalog.server_version(self.db)
            state = st.load(self.db, self.state_schema, self.key)
            self.db.rollback()
            if state and state.get('timezone'):
                self.db.execute('SELECT set_config(%s, %s, false)', ('TimeZone', state['timezone']), record=False)
                self.db.session_settings['TimeZone'] = state['timezone']
                self.db.commit()
            if self.p['state'] == 'reverted':
                self.revert(state)
            else:
                self.forward(state)
        finally:
            try:
                self.db.rollback()
            except Exception:
                pass
            self.db.close()
        return self.result()

    def lock_table_migration(self):
        """One run per table at a time: a session advisory lock on the table's name, held until this
        run's main connection closes (also when the module is killed). A second run (a retried
        playbook, an operator's resume while the first still copies) would otherwise copy the same
        slices twice or revert under the first."""
        got = self.db.scalar('SELECT pg_try_advisory_lock(hashtext(%s), hashtext(%s))', (LOCK_NAMESPACE, self.key))
        self.db.commit()
        if got:
            return
        holder = self.db.scalar(
            "SELECT string_agg(format('pid %%s (%%s, %%s since %%s)', a.pid, a.application_name, a.state, "
            "a.backend_start::timestamp(0)), ', ') FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.classid::int = hashtext(%s) "
            "AND l.objid::int = hashtext(%s)", (LOCK_NAMESPACE, self.key))
        self.db.rollback()
        raise MigrationError(
            'another partman_migrate run holds the migration lock of %s (%s): nothing was changed. Wait for it '
            'to finish (its progress: partman_migrate_state), or end it with pg_terminate_backend(pid) if it is '
            'stuck; the next run resumes where it stopped.' % (self.key, holder or 'its session is gone'))

    # ---------------------------------------------------------------- forward
    def forward(self, state):
        tbl = self.exists(self.name)
        old = self.exists(self.old_name)
        if state and state['direction'] != 'forward':
            raise MigrationError(
                "%s is half-way through a revert (step %s): run again with state: reverted to finish it"
                % (self.key, state['step']))
        if state and state['step'] == 'done':
            self.diff = {'before': {'partitioned': True}, 'after': {'partitioned': True}}
            self.plan = {'table': self.key, 'status': 'migrated', 'steps': []}
            self.configure(state, finished=True)
            self.rows_copied = dict((r['partition'], r['rows']) for r in st.partitions(self.db, self.state_schema, self.key))
            return
        if state is None:
            if tbl is None:
                if old is not None:
                    raise MigrationError(
                        "%s does not exist but %s.%s does, and there is no migration state for it: it looks like "
                        "a rename done by hand. Rename it back (ALTER TABLE %s.%s RENAME TO %s) or pass the "
                        "right table name." % (self.key, self.schema, self.old_name, self.schema, self.old_name, self.name))
                raise MigrationError("table %s does not exist in database %s" % (
                    self.key, self.p.get('login_db') or 'postgres'))
            if tbl['partitioned']:
                cfg = catalog.part_config(self.db, self.partman_schema, self.key)
                if cfg is None:
                    raise MigrationError(
                        "%s is already partitioned but not managed by pg_partman; partman_migrate converts plain "
                        "tables only. Register it with %s.create_parent() instead." % (self.key, self.partman_schema))
                self.warn("%s is already partitioned and managed by pg_partman (not migrated by this module); "
                          "nothing to do" % self.key)
                self.plan = {'table': self.key, 'status': 'already partitioned', 'steps': []}
                return
            if old is not None:
                raise MigrationError(
                    "%s.%s exists but no migration state records it (%s.%s has no row for %s): it is a leftover "
                    "of an earlier attempt or an unrelated table. Drop or rename it after checking its contents, "
                    "or choose another %s." % (self.schema, self.old_name, self.state_schema,
                                               st.STATE, self.key, self.opt('old_suffix')))
            snap = self.timed('preflight', self.preflight, tbl)
            if self.check_mode:
                self.changed = True
                return
            self.timed('prepare', self.prepare, snap)
            self.changed = True
            state = st.load(self.db, self.state_schema, self.key)
            self.db.commit()
        else:
            if old is None:
                raise MigrationError(
                    "migration state says %s is at step %s but %s.%s is gone: cannot resume safely. "
                    "Inspect %s.%s and delete the state row by hand once you know where the data is."
                    % (self.key, state['step'], self.schema, self.old_name, self.state_schema, st.STATE))
            if tbl is None or not tbl['partitioned']:
                raise MigrationError(
                    "migration state says %s is at step %s but %s is not the partitioned table: the catalog "
                    "was changed by hand; revert by hand (rename %s.%s back) and delete the state row."
                    % (self.key, state['step'], self.key, self.schema, self.old_name))
            snap = state['snapshot']
            self.pk_changed = state['extra'].get('pk_changed', [])
            self.plan = state['extra'].get('plan', {})
            self.plan['resume_from'] = state['step']
            self.retention_check(old, snap)
            # the run that dropped them may have been killed before it could report it
            dropped = [fk for fk in snap['inbound_fks'] if not fk.get('repoint')]
            if dropped:
                self.warn("inbound foreign keys were dropped when this migration started (inbound_fks=drop) and "
                          "are restored only on revert: " + describe_inbound_fks(dropped, self.key))
            self.changed = True
            if self.check_mode:
                self.plan['steps'] = self.remaining_steps(state['step'])
                return
            self.log('resuming after step %s' % state['step'])
            if not write_guard.installed(self.db, self.parent_oid()):  # a migration begun by an older version
                write_guard.install(self.db, self.state_schema, self.t_parent)
                self.db.commit()
        self.diff = {'before': {'table': self.key, 'partitioned': False},
                     'after': {'table': self.key, 'partitioned': True, 'interval': self.interval.pg_text,
                               'old_table': '%s.%s' % (self.schema, self.old_name)}}
        steps = [
            ('partitioned', self.step_partitions),
            ('copied', self.step_copy),
            ('indexed', self.step_indexes),
            ('constrained', self.step_constraints),
            ('verified', self.step_verify),
            ('done', self.step_configure),
        ]
        done_idx = STEPS.index(state['step'])
        for name, fn in steps:
            if STEPS.index(name) <= done_idx:
                continue
            state = st.load(self.db, self.state_schema, self.key)
            self.db.commit()
            self.timed(name, fn, state)
            st.update(self.db, self.state_schema, self.key, step=name,
                      seconds=dict(state['seconds'] or {}, **{name: self.seconds.get(name)}))
            self.db.commit()
            self.log('step %s done' % name)
        if not self.rows_copied:
            self.rows_copied = dict((r['partition'], r['rows']) for r in st.partitions(self.db, self.state_schema, self.key))

    def remaining_steps(self, step):
        return [s for s in STEPS if STEPS.index(s) > STEPS.index(step)]

    # -------------------------------------------------------------- preflight
    def preflight(self, tbl):
        """Every check before any change. Returns the snapshot; sets self.plan."""
        problems = []
        snap = catalog.snapshot(self.db, self.schema, self.name)
        if self.server_version < 120000:
            raise MigrationError("PostgreSQL %s is too old: partman_migrate needs 12 or newer"
                                 % self.server_version)
        if tbl['relkind'] != 'r':
            raise MigrationError("%s is not a plain table (relkind %s)" % (self.key, tbl['relkind']))
        if tbl['is_partition']:
            raise MigrationError("%s is itself a partition of another table" % self.key)
        if tbl['relpersistence'] != 'p':
            problems.append("%s is UNLOGGED or TEMPORARY; make it a logged table first (ALTER TABLE %s SET LOGGED)"
                            % (self.key, self.key))
        cols = dict((c['name'], c) for c in snap['columns'])
        ctl = cols.get(self.control)
        if ctl is None:
            raise MigrationError("control column %s does not exist in %s (columns: %s)"
                                 % (self.control, self.key, ', '.join(sorted(cols))))
        if ctl['type'] not in catalog.TIME_TYPES:
            raise MigrationError("control column %s is %s; it must be timestamp with time zone, timestamp or date"
                                 % (self.control, ctl['type']))
        if ctl['generated']:
            raise MigrationError("control column %s is a generated column; pick a stored column" % self.control)
        if not ctl['notnull']:
            nulls = self.db.scalar(sql.SQL('SELECT count(*) FROM {} WHERE {} IS NULL').format(
                self.t_parent, sql.Identifier(self.control)))
            if nulls:
                problems.append("%d rows of %s have %s IS NULL; they have no partition. Fix or delete them "
                                "(UPDATE ... SET %s = ... WHERE %s IS NULL) first"
                                % (nulls, self.key, self.control, self.control, self.control))
            else:
                self.warn("%s will be NOT NULL on the partitioned table (pg_partman requires it)" % self.control)
        if self.major >= 5 and self.server_version < 140000:
            problems.append("pg_partman 5 needs PostgreSQL 14 or newer")
        # keys
        for con in snap['constraints']:
            if con['type'] == 'x':
                problems.append("exclusion constraint %s cannot be carried to a partitioned table unless it contains "
                                "%s with =; drop it before the migration and re-create it afterwards"
                                % (con['name'], self.control))
            if con['type'] == 'f' and not con['validated'] and self.server_version < 180000:
                problems.append("foreign key %s is NOT VALID: its rows may not all satisfy it, and PostgreSQL before 18 "
                                "refuses NOT VALID foreign keys on a partitioned table. Validate it first "
                                "(ALTER TABLE %s VALIDATE CONSTRAINT %s) or drop it"
                                % (con['name'], self.key, quote_ident(con['name'])))
            if con['type'] == 'c' and con['noinherit']:
                problems.append("CHECK constraint %s is NO INHERIT, which partitioned tables refuse; drop it or "
                                "re-create it without NO INHERIT" % con['name'])
            if con['type'] in ('p', 'u'):
                after = widen_columns(con['columns'], self.control)
                if after != con['columns']:
                    kind = 'PRIMARY KEY' if con['type'] == 'p' else 'UNIQUE'
                    self.pk_changed.append(describe_key_change(kind, con['columns'], after))
        for idx in snap['indexes']:
            if idx['tail'] is None:
                problems.append("index %s cannot be parsed (%s); drop it and re-create it after the migration"
                                % (idx['name'], idx['def']))
                continue
            if not idx['valid']:
                problems.append("index %s is INVALID (a failed CREATE INDEX CONCURRENTLY?); drop or REINDEX it"
                                % idx['name'])
            if idx['unique'] and not idx['constraint']:
                if idx['has_expressions']:
                    problems.append("unique index %s has expressions; a partitioned table cannot have it. Drop it or "
                                    "replace it by a plain unique index" % idx['name'])
                elif self.control not in idx['columns']:
                    self.pk_changed.append('UNIQUE INDEX %s (%s) -> (%s)' % (
                        idx['name'], ', '.join(idx['columns']),
                        ', '.join(widen_columns(idx['columns'], self.control))))
        # inbound foreign keys
        bad = []
        for fk in snap['inbound_fks']:
            fk['repoint'] = self.control in fk['referenced_columns']
            if not fk['repoint']:
                bad.append(fk)
        if bad:
            names = describe_inbound_fks(bad, self.key)
            if self.p['inbound_fks'] == 'drop':
                self.warn("inbound foreign keys will be dropped (%s: drop) and restored only on revert: %s"
                          % (self.opt('inbound_fks'), names))
            else:
                problems.append(
                    "foreign keys of other tables reference %s on columns without %s, and a partitioned table "
                    "can only be referenced through a key containing the partition key: %s. Fix: drop them, or "
                    "widen them to include %s (add the column to the referencing table and reference "
                    "(..., %s)), or set %s: drop to have them dropped and reported"
                    % (self.key, self.control, names, self.control, self.control, self.opt('inbound_fks')))
        if snap['views']:
            problems.append("views/rules depend on %s and would keep pointing at %s.%s after the rename: %s. "
                            "Drop them before the migration and re-create them afterwards"
                            % (self.key, self.schema, self.old_name, ', '.join(v['name'] for v in snap['views'])))
        if snap['policies'] or tbl['rls']:
            problems.append("%s uses row level security (policies: %s); not supported by partman_migrate: "
                            "drop the policies and re-create them afterwards"
                            % (self.key, ', '.join(p['name'] for p in snap['policies']) or 'none'))
        if snap['publications']:
            self.warn("%s is in publication(s) %s; add the partitioned table to them after the migration"
                      % (self.key, ', '.join(p['name'] for p in snap['publications'])))
        if tbl['reloptions']:
            self.warn("storage parameters of %s (%s) are not carried over: partitioned tables cannot have them; "
                      "set them on the partitions if needed" % (self.key, ', '.join(tbl['reloptions'])))
        if tbl['relreplident'] not in ('d', 'n'):
            self.warn("replica identity of %s is not the default; set it again on the partitioned table" % self.key)
        # copy method
        cidx = catalog.control_index(snap['indexes'], self.control)
        method = self.p['copy_method']
        if method == 'auto':
            method = 'range' if cidx else 'ctid'
        if method == 'range' and not cidx:
            self.warn("copy_method range without a btree index on %s: every slice scans the whole table"
                      % self.control)
        if method == 'ctid' and self.server_version < 140000:
            problems.append("copy by ctid ranges needs PostgreSQL 14+; create an index on %s (%s) first so the "
                            "range copy can be used" % (self.key, self.control))
        snap['copy_method'] = method
        snap['control_index'] = cidx['name'] if cidx else None
        snap['control_type'] = ctl['type']
        # buckets holding data
        buckets, counts = self.compute_buckets(bool(cidx))
        snap['buckets'] = [b.isoformat() for b in buckets]
        snap['bucket_counts'] = counts
        now = self.db.scalar('SELECT now()')
        current = self.current_bucket()
        premade = premake_buckets(now, self.interval, self.p['premake'])
        premade = [current] + list(premade[1:])
        snap['start_partition'] = current.isoformat()
        problems.extend(self.future_rows_check(add_interval(premade[-1], self.interval)))
        problems.extend(self.retention_problems(tbl, snap))
        # disk: the partitions go to the table's tablespace, else to default_tablespace
        space = tbl['tablespace'] or catalog.setting(self.db, 'default_tablespace') or None
        path = catalog.data_path_for(self.db, space)
        free = catalog.free_disk(path)
        needed = disk_needed(tbl['table_bytes'], tbl['index_bytes'])
        where = '%s (tablespace %s)' % (path, space) if space else path
        if free is None:
            self.warn("free disk space unknown (%s not readable from where the module runs); "
                      "make sure about %s are free" % (where or 'the data directory', human_bytes(needed)))
        elif free < needed and self.p['disk_check']:
            problems.append("not enough disk space: about %s needed for the copy and its indexes, %s free on %s. "
                            "Free space, or set %s: false if you know better"
                            % (human_bytes(needed), human_bytes(free), where, self.opt('disk_check')))
        # lock budget
        max_locks = int(catalog.setting(self.db, 'max_locks_per_transaction') or 64)
        max_conn = int(catalog.setting(self.db, 'max_connections') or 100)
        n_parts = len(set(buckets) | set(premade)) + 1
        if n_parts * (len(snap['indexes']) + 3) > max_locks * max_conn / 2:
            self.warn("%d partitions with %d indexes may exhaust the lock table (max_locks_per_transaction=%d); "
                      "raise max_locks_per_transaction if index builds fail with 'out of shared memory'"
                      % (n_parts, len(snap['indexes']), max_locks))
        rows = sum(counts.values()) if counts else tbl['reltuples']
        self.plan = build_plan(snap, self.p, self.interval, self.major, buckets, premade,
                               free_bytes=free, rows_estimate=rows)
        self.plan['copy_method'] = method
        self.plan['pk_changed'] = self.pk_changed
        self.plan['steps'] = list(STEPS)
        self.plan['timezone'] = self.db.scalar("SELECT current_setting('TimeZone')")
        problems.extend(self.predict_partition_names())
        self.partitions_created = [p['name'] for p in self.plan['partitions']]
        if problems:
            raise MigrationError('preflight found problems, nothing was changed:\n- ' + '\n- '.join(problems))
        self.db.rollback()
        return snap

    def future_rows_check(self, bound):
        """Rows at or after the end of the premade partitions. pg_partman's maintenance counts premake
        from the newest child, so one row dated 2100 would stop it making partitions for today's rows."""
        c = sql.Identifier(self.control)
        n, first, last, parts = self.db.execute(sql.SQL(
            'SELECT count(*), min({c})::text, max({c})::text, count(DISTINCT date_trunc(%s, {c})) FROM {t} '
            'WHERE {c} >= %s').format(c=c, t=self.t_parent), (self.interval.trunc, bound), record=False)[0]
        self.db.rollback()
        if not n:
            return []
        consequence = ("pg_partman's maintenance counts premake from the newest partition, so it would make no "
                       "partitions for new rows until then, and they would pile up in the default partition")
        if self.p.get('allow_future_rows'):
            self.warn("%d rows of %s lie beyond now + premake (%s to %s, %d partitions; %s: true): %s. Create "
                      "the partitions ahead yourself and watch the default partition (verify.yml)"
                      % (n, self.key, first, last, parts, self.opt('allow_future_rows'), consequence))
            return []
        return ["%d rows of %s have %s at or after %s, beyond now + premake (%s to %s, in %d partitions): %s. "
                "Fix or delete those rows first (SELECT * FROM %s WHERE %s >= '%s'), or set %s: true to migrate "
                "them anyway and keep the partitions ahead yourself"
                % (n, self.key, self.control, bound.isoformat(), first, last, parts, consequence, self.key,
                   quote_ident(self.control), bound.isoformat(), self.opt('allow_future_rows'))]

    def predict_partition_names(self):
        """Name every planned child as the installed pg_partman will (its own check_name_length, then
        PostgreSQL's cut at 63 bytes): pg_partman 4.x counts characters, so a long multibyte table name
        loses its date suffix and every child would get the same name."""
        fmt = datetime_format(self.major, self.interval)
        parts = self.plan['partitions']
        suffixes = [_parse_dt(p['from']).strftime(fmt) for p in parts]
        fn = sql.SQL('{}.check_name_length').format(sql.Identifier(self.partman_schema))
        rows = self.db.execute(sql.SQL(
            'SELECT {fn}(%s, s, true)::name::text FROM unnest(%s::text[]) WITH ORDINALITY u(s, i) ORDER BY i'
        ).format(fn=fn), (self.name, suffixes), record=False)
        default = self.db.scalar(sql.SQL("SELECT {}(%s, '_default')::name::text").format(fn), (self.name,))
        self.db.rollback()
        names = [r[0] for r in rows]
        for p, name in zip(parts, names):
            p['name'] = qualified(self.schema, name)
        self.plan['default_partition'] = qualified(self.schema, default)
        clashes = sorted(set(n for n in names + [default, self.name, self.old_name]
                             if (names + [default, self.name, self.old_name]).count(n) > 1))
        if not clashes:
            return []
        room = NAMEDATALEN - len(('_p' + suffixes[0]).encode('utf-8'))
        return ["pg_partman %s would give several partitions of %s the same name (%s): the table's name is %d "
                "characters, %d bytes, and with the date suffix the names pass PostgreSQL's limit of 63 bytes. "
                "Rename the table to at most %d bytes first (ALTER TABLE ... RENAME TO ...)"
                % (self.partman_version, self.key, ', '.join(clashes[:3]), len(self.name),
                   len(self.name.encode('utf-8')), room)]

    def trunc_sql(self):
        return sql.SQL('date_trunc({}, {})').format(sql.Literal(self.interval.trunc), sql.Identifier(self.control))

    def current_bucket(self):
        return self.db.scalar('SELECT date_trunc(%s, now())', (self.interval.trunc,))

    def compute_buckets(self, have_index, table=None):
        """Bucket starts (timestamptz) that hold data. With an index on the
        control column: a loose index scan (one probe per bucket); without:
        one GROUP BY scan, which also gives the row count of each bucket."""
        t = table or self.t_parent
        c = sql.Identifier(self.control)
        if have_index:
            q = sql.SQL("""
WITH RECURSIVE b(bucket) AS (
    SELECT date_trunc(%(unit)s, min({c})) FROM {t}
  UNION ALL
    SELECT (SELECT date_trunc(%(unit)s, min({c})) FROM {t} WHERE {c} >= b.bucket + %(step)s::interval)
    FROM b WHERE b.bucket IS NOT NULL
)
SELECT bucket::timestamptz, NULL::bigint FROM b WHERE bucket IS NOT NULL""").format(c=c, t=t)
        else:
            q = sql.SQL('SELECT date_trunc(%(unit)s, {c})::timestamptz AS bucket, count(*) FROM {t} '
                        'GROUP BY 1 ORDER BY 1').format(c=c, t=t)
        rows = self.db.execute(q, {'unit': self.interval.trunc, 'step': self.interval.pg_text}, record=False)
        buckets = [r[0] for r in rows]
        counts = dict((r[0].isoformat(), r[1]) for r in rows if r[1] is not None)
        return buckets, counts

    def retention_check(self, tbl, snap):
        problems = self.retention_problems(tbl, snap)
        if problems:
            raise MigrationError(problems[0])

    def retention_problems(self, tbl, snap):
        """What the first maintenance run would take away from the live table: partitions older than
        the retention are dropped (retention_keep_table: false) or detached (true). Either needs the
        user's explicit confirmation when those partitions hold rows."""
        ret = self.p.get('retention')
        if not ret:
            return []
        keep = self.p['retention_keep_table']
        verb, confirm = ('detach', 'retention_confirm_detach') if keep else ('DROP', 'retention_confirm_drop')
        rows, parts = self.db.execute(sql.SQL(
            'SELECT count(*), count(DISTINCT date_trunc(%s, {c})) FROM {t} WHERE {c} < now() - %s::interval'
        ).format(c=sql.Identifier(self.control), t=self.t_parent), (self.interval.trunc, ret), record=False)[0]
        self.db.rollback()
        if not rows:
            return []
        what = ("retention %s (%s: %s) would %s %d partitions holding %d rows of %s older than %s at the first "
                "pg_partman maintenance run" % (ret, self.opt('retention_keep_table'), str(keep).lower(), verb,
                                                parts, rows, self.key, ret))
        if self.p.get(confirm):
            self.warn(what + ' (%s: true)' % self.opt(confirm))
            return []
        return ["%s%s. Nothing was changed. Set %s: true if that is intended, or lengthen %s (or leave it empty "
                "to keep every partition)" % (what, ', taking them away from the table the application reads'
                                              if keep else '', self.opt(confirm), self.opt('retention'))]

    # ---------------------------------------------------------------- prepare
    def prepare(self, snap):
        """One transaction: rename, new parent, ownership, grants, sequences,
        create_parent, state row."""
        db = self.db
        tbl = snap['table']
        cols = snap['columns']
        db.execute(sql.SQL('LOCK TABLE {} IN ACCESS EXCLUSIVE MODE').format(self.t_parent))
        # inbound FKs that cannot be re-pointed, dropped on request
        for fk in snap['inbound_fks']:
            if not fk['repoint']:
                db.execute(sql.SQL('ALTER TABLE {} DROP CONSTRAINT {}').format(
                    sql.Identifier(fk['schema'], fk['tablename']), sql.Identifier(fk['name'])))
        db.execute(sql.SQL('ALTER TABLE {} RENAME TO {}').format(self.t_parent, sql.Identifier(self.old_name)))
        renames = {}
        for idx in snap['indexes']:
            new = unique_name(idx['name'], self.p['old_suffix'])
            db.execute(sql.SQL('ALTER INDEX {} RENAME TO {}').format(
                sql.Identifier(self.schema, idx['name']), sql.Identifier(new)))
            renames[idx['name']] = new
        likes = ['DEFAULTS', 'CONSTRAINTS', 'GENERATED', 'IDENTITY', 'COMMENTS', 'STORAGE', 'STATISTICS']
        if self.server_version >= 140000:
            likes.append('COMPRESSION')
        create = sql.SQL('CREATE TABLE {} (LIKE {} {}) PARTITION BY RANGE ({})').format(
            self.t_parent, self.t_old, sql.SQL(' ').join(sql.SQL('INCLUDING ' + x) for x in likes),
            sql.Identifier(self.control))
        if tbl['tablespace']:
            create = sql.SQL('{} TABLESPACE {}').format(create, sql.Identifier(tbl['tablespace']))
        db.execute(create)
        db.execute(sql.SQL('ALTER TABLE {} ALTER COLUMN {} SET NOT NULL').format(
            self.t_parent, sql.Identifier(self.control)))
        if tbl['comment'] is not None:
            db.execute(sql.SQL('COMMENT ON TABLE {} IS %s').format(self.t_parent), (tbl['comment'],))
        db.execute(sql.SQL('ALTER TABLE {} OWNER TO {}').format(self.t_parent, sql.Identifier(tbl['owner'])))
        self.apply_grants(snap, self.t_parent)
        # sequences: serial -> move ownership (value kept); identity -> continue where the old one is
        for seq in snap['sequences']:
            if seq['deptype'] == 'a':
                db.execute(sql.SQL('ALTER SEQUENCE {} OWNED BY {}.{}').format(
                    _ident(seq['sequence']), self.t_parent, sql.Identifier(seq['column'])))
            elif seq['deptype'] == 'i':
                newseq = db.scalar('SELECT pg_get_serial_sequence(%s, %s)',
                                   ('%s.%s' % (quote_ident(self.schema), quote_ident(self.name)), seq['column']))
                last = db.query(sql.SQL('SELECT last_value, is_called FROM {}').format(_ident(seq['sequence'])))[0]
                db.execute('SELECT setval(%s::regclass, %s, %s)', (newseq, last['last_value'], last['is_called']))
        q, args = pm.create_parent(self.partman_schema, self.major, self.key, self.control,
                                   self.interval.pg_text, self.p['premake'], snap['start_partition'])
        db.execute(q, args)
        write_guard.install(db, self.state_schema, self.t_parent)
        extra = {'index_renames': renames, 'pk_changed': self.pk_changed, 'plan': self.plan}
        st.create(db, self.state_schema, self.key, '%s.%s' % (self.schema, self.old_name), 'prepared',
                  dict((k, v) for k, v in self.p.items() if k != 'login_password'), snap, extra,
                  db.scalar("SELECT current_setting('TimeZone')"), self.partman_version, snap['copy_method'])
        db.commit()
        self.log('prepared: %s renamed to %s, partitioned parent created' % (self.key, self.old_name))

    def table_grants(self, snap):
        """Table-level privileges of the original table (now the old one), owner's excluded."""
        return self.db.query("""
            SELECT CASE WHEN a.grantee = 0 THEN NULL ELSE pg_get_userbyid(a.grantee) END AS grantee,
                   a.privilege_type AS priv, a.is_grantable AS grantable
            FROM pg_class c, aclexplode(c.relacl) a
            WHERE c.oid = %s AND a.grantee <> c.relowner
            ORDER BY 1, 2""", (snap['table']['oid'],))

    def grant_table_privileges(self, grants, target):
        for r in grants:
            who = sql.SQL('PUBLIC') if r['grantee'] is None else sql.Identifier(r['grantee'])
            self.db.execute(sql.SQL('GRANT {} ON {} TO {}{}').format(
                sql.SQL(r['priv']), target, who, sql.SQL(' WITH GRANT OPTION' if r['grantable'] else '')))

    def apply_grants(self, snap, target):
        db = self.db
        self.grant_table_privileges(self.table_grants(snap), target)
        rows = db.query("""
            SELECT att.attname AS col,
                   CASE WHEN a.grantee = 0 THEN NULL ELSE pg_get_userbyid(a.grantee) END AS grantee,
                   a.privilege_type AS priv, a.is_grantable AS grantable
            FROM pg_attribute att, aclexplode(att.attacl) a
            WHERE att.attrelid = %s AND att.attnum > 0 AND NOT att.attisdropped""", (snap['table']['oid'],))
        for r in rows:
            who = sql.SQL('PUBLIC') if r['grantee'] is None else sql.Identifier(r['grantee'])
            db.execute(sql.SQL('GRANT {} ({}) ON {} TO {}{}').format(
                sql.SQL(r['priv']), sql.Identifier(r['col']), target, who,
                sql.SQL(' WITH GRANT OPTION' if r['grantable'] else '')))

    # ------------------------------------------------------------- partitions
    def parent_oid(self):
        return self.db.scalar('SELECT %s::regclass::oid::bigint', (
            '%s.%s' % (quote_ident(self.schema), quote_ident(self.name)),))

    def step_partitions(self, state):
        db = self.db
        snap = state['snapshot']
        buckets = [_parse_dt(b) for b in snap['buckets']]
        existing = catalog.partitions(db, self.parent_oid())
        have = set()
        for p in existing:
            if p['lo'] is not None:
                have.add(db.scalar(sql.SQL('SELECT %s::{}::timestamptz').format(sql.SQL(snap['control_type'])),
                                   (p['lo'],)))
        db.rollback()
        missing = [b for b in buckets if b not in have]
        for i in range(0, len(missing), PARTITION_CHUNK):
            chunk = missing[i:i + PARTITION_CHUNK]
            q, args = pm.create_partition_time(self.partman_schema, self.major, self.key, chunk)
            db.execute(q, args)
            db.commit()
            self.log('created %d of %d partitions' % (min(i + PARTITION_CHUNK, len(missing)), len(missing)))
        owner = snap['table']['owner']
        parts = catalog.partitions(db, self.parent_oid())
        # The partitions get the owner and the table privileges of the parent, as the ones pg_partman
        # creates later do (inherit_privileges is set in part_config by the configure step).
        grants = self.table_grants(snap)
        for p in parts:
            child = sql.Identifier(p['schema'], p['relname'])
            cur_owner = db.scalar('SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = %s', (p['oid'],))
            if cur_owner != owner:
                db.execute(sql.SQL('ALTER TABLE {} OWNER TO {}').format(child, sql.Identifier(owner)))
            self.grant_table_privileges(grants, child)
            if not p['is_default']:
                st.register_partition(db, self.state_schema, self.key, p['name'], p['lo'], p['hi'])
        db.commit()
        self.partitions_created = [p['name'] for p in parts]

    # ------------------------------------------------------------------- copy
    def step_copy(self, state):
        db = self.db
        snap = state['snapshot']
        cols = batches.column_list(snap['columns'])
        over = batches.overriding(snap['columns'])
        parts = st.partitions(db, self.state_schema, self.key)
        db.rollback()
        counts = snap.get('bucket_counts') or {}
        total_est = sum(counts.values()) if counts else snap['table']['reltuples']
        done_rows = sum(p['rows'] for p in parts) if state['copy_method'] == 'range' else state['rows_copied']
        if state['rows_total'] is None:
            total = db.scalar(sql.SQL('SELECT count(*) FROM {}').format(self.t_old)) if not counts else total_est
            st.update(db, self.state_schema, self.key, rows_total=total)
            db.commit()
        else:
            total = state['rows_total']
        progress = Progress(total, done_rows, log=self.log, every=float(self.p['progress_interval']))
        if state['copy_method'] == 'ctid':
            self.copy_ctid(state, snap, cols, over, progress)
        else:
            todo = [p for p in parts if not p['done']]
            if self.p['jobs'] > 1 and len(todo) > 1:
                # each child on its own connection, `jobs` at a time; every slice still commits together
                # with that child's progress row, so resuming works as with one connection
                shared = _LockedProgress(progress)
                self.in_parallel(todo, lambda conn, p: self.copy_partition(
                    conn, p, snap, cols, over, counts, total_est, shared), 'copying partitions')
            else:
                for p in todo:
                    self.copy_partition(db, p, snap, cols, over, counts, total_est, progress)
        progress.add(0, force=True)
        st.update(db, self.state_schema, self.key, rows_copied=progress.done, progress=progress.snapshot())
        db.commit()

    def copy_partition(self, db, p, snap, cols, over, counts, total_est, progress):
        """Copy one child (range method) on connection db."""
        # A child holds exactly what the state says was committed into it: each slice commits together
        # with its state row. Anything else was written or deleted by someone else, and a row this
        # module did not write is never deleted by it.
        have = db.scalar(sql.SQL('SELECT count(*) FROM ONLY {}').format(_ident(p['partition'])))
        db.rollback()
        if have != p['rows']:
            raise MigrationError(
                "%s holds %d rows but the migration committed %d into it: something else %s the new table "
                "(directly into the partition, or before the write guard existed). Nothing was deleted. Stop "
                "whatever writes to %s, then revert (state: reverted copies rows missing from %s.%s back into it) "
                "and run the migration again." % (p['partition'], have, p['rows'],
                                                  'wrote into' if have > p['rows'] else 'deleted rows of',
                                                  self.key, self.schema, self.old_name))
        est = None
        lo_key = db.scalar(sql.SQL('SELECT %s::{}::timestamptz').format(sql.SQL(snap['control_type'])),
                           (p['lo'],))
        db.rollback()
        if lo_key is not None and lo_key.isoformat() in counts:
            est = counts[lo_key.isoformat()]
        elif lo_key is not None and lo_key.isoformat() not in snap['buckets']:
            est = 0
        else:
            est = float(total_est) / max(len(snap['buckets']), 1)
        batches.copy_range_partition(db, self.state_schema, self.key, self.t_old, p, self.control,
                                     snap['control_type'], cols, over, self.p['batch_size'], est or 1,
                                     self.interval.approx_seconds, progress)

    def in_parallel(self, items, fn, what, settings=None):
        """fn(connection, item) for every item on min(jobs, len(items)) connections of their own (threads).
        Stops handing out items after the first failure and re-raises it once all threads have ended."""
        lock = threading.Lock()
        it = iter(items)
        errors = []

        def worker():
            conn = None
            try:
                conn = self.db.clone()
                for name, value in (settings or {}).items():
                    conn.execute('SELECT set_config(%s, %s, false)', (name, value), record=False)
                conn.commit()
                while not errors:
                    with lock:
                        try:
                            item = next(it)
                        except StopIteration:
                            return
                    fn(conn, item)
            except Exception as e:  # re-raised in the main thread
                with lock:
                    errors.append(e)
            finally:
                if conn is not None:
                    try:
                        conn.rollback()
                    except Exception:
                        pass
                    conn.close()

        threads = [threading.Thread(target=worker) for _i in range(max(1, min(self.p['jobs'], len(items))))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            if len(errors) > 1:
                self.log('%s: %d connections failed; first error re-raised: %s'
                         % (what, len(errors), '; '.join(str(e).strip() for e in errors)))
            raise errors[0]

    def copy_ctid(self, state, snap, cols, over, progress):
        db = self.db
        blocks = state['ctid_blocks']
        if blocks is None:
            blocks = db.scalar(sql.SQL("SELECT pg_relation_size(%s::regclass) / current_setting('block_size')::int")
                               .format(), ('%s.%s' % (quote_ident(self.schema), quote_ident(self.old_name)),))
            st.update(db, self.state_schema, self.key, ctid_blocks=blocks)
            db.commit()
        relpages = max(snap['table']['relpages'] or 1, 1)
        rows_per_block = float(snap['table']['reltuples'] or 0) / relpages or 50.0
        if state['ctid_done'] >= blocks and blocks > 0:
            return
        batches.copy_ctid(db, self.state_schema, self.key, self.t_old, self.t_parent, cols, over, blocks,
                          state['ctid_done'], rows_per_block, self.p['batch_size'], progress)

    # ---------------------------------------------------------------- indexes
    def index_statements(self, snap):
        """[(name, statement, objname, kind, source)] for the parent, in build order."""
        out = []
        for con in snap['constraints']:
            if con['type'] in ('p', 'u'):
                stmt = self.key_or_index_sql('constraint', con, self.t_parent, con['name'])
                out.append((con['index_name'] or con['name'], stmt, con['name'], 'constraint', con))
        for idx in snap['indexes']:
            if not idx['constraint']:
                stmt = self.key_or_index_sql('index', idx, self.t_parent, idx['name'])
                out.append((idx['name'], stmt, idx['name'], 'index', idx))
        return out

    def key_or_index_sql(self, kind, src, target, name):
        """The statement creating the constraint or index src (as the snapshot has it) on target under
        name; a primary key or unique one without the control column gets it added."""
        control_q = quote_ident(self.control)
        if kind == 'constraint':
            d = src['def']
            if self.control not in src['columns']:
                close_at = _find_matching_paren(d, d.index('('))
                d = d[:close_at] + ', ' + control_q + d[close_at:]
            return _add_constraint_sql(target, name, d)
        tail = src['tail']
        if src['unique'] and self.control not in src['columns']:
            tail = widen_index_tail(tail, control_q)
        return sql.SQL('CREATE {}INDEX IF NOT EXISTS {} ON {}' + tail.replace('%', '%%')).format(
            sql.SQL('UNIQUE ' if src['unique'] else ''), sql.Identifier(name), target)

    def on_parent(self, kind, objname):
        """Whether the parent has the constraint or index objname already."""
        if kind == 'constraint':
            have = self.db.scalar(*_constraint_check(self.parent_oid(), objname))
        else:
            have = self.relation_exists(self.schema, objname)
        self.db.rollback()
        return bool(have)

    def step_indexes(self, state):
        db = self.db
        snap = state['snapshot']
        stmts = self.index_statements(snap)
        if self.p['jobs'] > 1:
            # ANALYZE alongside the builds, unless an index has expressions (their statistics are
            # gathered only once the index exists): then it stays after the indexes, in step constrained
            self.build_child_indexes(snap, stmts,
                                     analyze=not any(i.get('has_expressions') for i in snap['indexes']))
        for name, stmt, objname, kind, src in stmts:
            if self.on_parent(kind, objname):
                continue
            t0 = time.time()
            db.execute(stmt)
            if src.get('comment'):
                if kind == 'constraint':
                    db.execute(sql.SQL('COMMENT ON CONSTRAINT {} ON {} IS %s').format(
                        sql.Identifier(objname), self.t_parent), (src['comment'],))
                else:
                    db.execute(sql.SQL('COMMENT ON INDEX {} IS %s').format(sql.Identifier(self.schema, objname)),
                               (src['comment'],))
            db.commit()
            self.log('built %s in %.1fs' % (objname, time.time() - t0))

    def build_child_indexes(self, snap, stmts, analyze=False):
        """jobs > 1: build each index on each child on `jobs` connections;
        the parent-level statement then attaches them instead of building.
        The connections are the parallelism: each builds without PostgreSQL's
        parallel maintenance workers, which cost more than they give on
        partitions. With analyze, the first connection free runs ANALYZE of
        the table meanwhile (it needs the rows, not the indexes); children are
        taken in the reverse of the order ANALYZE visits them (creation order),
        so that the two want the same child at most about once.
        The outgoing foreign keys are added to each child here as well, so that
        their validation runs beside the builds; step constraints then adds them
        to the parent, which attaches these instead of validating again."""
        parts = catalog.partitions(self.db, self.parent_oid())
        self.db.rollback()
        fks = self.child_foreign_keys(snap)
        tasks = [('ANALYZE', None, False)] if analyze else []
        fk_tasks_behind = []
        missing = [(objname, kind, src) for _n, _s, objname, kind, src in stmts if not self.on_parent(kind, objname)]
        for p in sorted(parts, key=lambda r: -r['oid']):
            child = sql.Identifier(p['schema'], p['relname'])
            child_tasks = []
            for objname, kind, src in missing:
                cname = unique_name(p['relname'] + '_' + objname, '')
                # CREATE INDEX has IF NOT EXISTS; ADD CONSTRAINT is looked up first
                check = _constraint_check(p['oid'], cname) if kind == 'constraint' else None
                child_tasks.append((self.key_or_index_sql(kind, src, child, cname), check, False))
            # a child's foreign keys wait until the next child's builds are half done: by then the
            # child's own builds are (nearly always) over, so the key seldom waits for its lock
            tasks.extend(_interleave_second_half(child_tasks, fk_tasks_behind))
            fk_tasks_behind = [self.child_fk_task(p, con) for con in fks]
        tasks.extend(fk_tasks_behind)
        errors = []
        lock = threading.Lock()
        it = iter(tasks)

        def worker():
            conn = self.db.clone()
            try:
                conn.execute("SELECT set_config('max_parallel_maintenance_workers', '0', false)", record=False)
                conn.commit()
                while True:
                    with lock:
                        try:
                            q, check, wait_for_locks = next(it)
                        except StopIteration:
                            return
                    if errors:
                        return
                    try:
                        if q == 'ANALYZE':
                            self.analyze_parent(conn, beside_builds=True)
                            continue
                        if check and conn.scalar(*check):
                            conn.rollback()
                            continue
                        if wait_for_locks:
                            conn.execute("SET LOCAL lock_timeout = 0", record=False)
                        conn.execute(q)
                        conn.commit()
                    except Exception as e:  # reported after join
                        conn.rollback()
                        with lock:
                            errors.append(str(e))
                        return
            finally:
                conn.close()

        threads = [threading.Thread(target=worker) for _i in range(min(self.p['jobs'], max(len(tasks), 1)))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise MigrationError('building indexes and foreign keys on partitions failed: %s' % '; '.join(errors))

    def child_foreign_keys(self, snap):
        """The outgoing foreign keys to add to each child before the parent; not the parent's own
        (a key towards the table itself follows the parent path), not those already on the parent."""
        own = (self.name, self.key, '%s.%s' % (quote_ident(self.schema), quote_ident(self.name)),
               quote_ident(self.name))
        return [con for con in snap['constraints'] if con['type'] == 'f' and con.get('references') not in own
                and not self.on_parent('constraint', con['name'])]

    def child_fk_task(self, p, con):
        """(statement, check, wait_for_locks) adding foreign key con to child p under the parent's
        constraint name, the name PostgreSQL itself gives a child's copy of the parent's key. It waits
        for locks without lock_timeout: for the referenced table while another connection validates a
        key towards it, a wait bounded by that validation."""
        child = sql.Identifier(p['schema'], p['relname'])
        return _add_constraint_sql(child, con['name'], con['def']), _constraint_check(p['oid'], con['name']), True

    # ------------------------------------------------------------ constraints
    def step_constraints(self, state):
        db = self.db
        snap = state['snapshot']
        poid = self.parent_oid()
        for con in snap['constraints']:
            if con['type'] != 'f' or self.on_parent('constraint', con['name']):
                continue
            db.execute(_add_constraint_sql(self.t_parent, con['name'], con['def']))
            if con.get('comment'):
                db.execute(sql.SQL('COMMENT ON CONSTRAINT {} ON {} IS %s').format(
                    sql.Identifier(con['name']), self.t_parent), (con['comment'],))
            db.commit()
        for trg in snap['triggers']:
            if db.scalar('SELECT 1 FROM pg_trigger WHERE tgrelid = %s AND tgname = %s', (poid, trg['name'])):
                continue
            db.execute(trg['def'].replace('%', '%%'))
            if trg['enabled'] == 'D':
                db.execute(sql.SQL('ALTER TABLE {} DISABLE TRIGGER {}').format(self.t_parent, sql.Identifier(trg['name'])))
            elif trg['enabled'] == 'A':
                db.execute(sql.SQL('ALTER TABLE {} ENABLE ALWAYS TRIGGER {}').format(
                    self.t_parent, sql.Identifier(trg['name'])))
            elif trg['enabled'] == 'R':
                db.execute(sql.SQL('ALTER TABLE {} ENABLE REPLICA TRIGGER {}').format(
                    self.t_parent, sql.Identifier(trg['name'])))
            db.commit()
        for fk in snap['inbound_fks']:
            if not fk['repoint']:
                continue
            ref = sql.Identifier(fk['schema'], fk['tablename'])
            target = db.scalar(
                'SELECT confrelid::bigint FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid '
                'JOIN pg_namespace n ON n.oid = r.relnamespace WHERE n.nspname = %s AND r.relname = %s '
                'AND c.conname = %s', (fk['schema'], fk['tablename'], fk['name']))
            if target == poid:
                continue
            if target is not None:
                db.execute(sql.SQL('ALTER TABLE {} DROP CONSTRAINT {}').format(ref, sql.Identifier(fk['name'])))
            db.execute(_add_constraint_sql(ref, fk['name'], fk['def']))
            db.commit()
        db.rollback()
        if not getattr(self, 'analyzed', False):  # done during the index builds of this run (jobs > 1)
            self.analyze_parent(db)

    def analyze_parent(self, db, beside_builds=False):
        """ANALYZE the partitioned table (and so every partition) on connection db. Beside our own
        index builds it waits for locks without lock_timeout: it queues behind one build at a time,
        which may take longer than lock_timeout on a big partition."""
        db.rollback()
        t0 = time.time()
        db.set_autocommit(True)
        try:
            if beside_builds:
                db.execute("SELECT set_config('lock_timeout', '0', false)", record=False)
            db.execute(sql.SQL('ANALYZE {}').format(self.t_parent))
        finally:
            if beside_builds:
                db.execute('SELECT set_config(%s, %s, false)',
                           ('lock_timeout', '%ds' % int(self.p['lock_timeout'])), record=False)
            db.set_autocommit(False)
        self.analyzed = True
        self.log('ANALYZE in %.1fs' % (time.time() - t0))

    # ----------------------------------------------------------------- verify
    def step_verify(self, state):
        db = self.db
        snap = state['snapshot']
        checksum = self.p['verify'] == 'checksum'
        all_cols = [c['name'] for c in snap['columns']]
        rowexpr = sql.SQL('ROW({})::text').format(sql.SQL(', ').join(sql.Identifier(c) for c in all_cols))
        agg = sql.SQL('count(*)')
        if checksum:
            agg = sql.SQL("count(*), coalesce(sum(('x' || substr(md5({}), 1, 15))::bit(60)::bigint), 0)").format(rowexpr)
        else:
            agg = sql.SQL('count(*), 0')
        db.set_autocommit(True)
        try:
            rows = db.execute(sql.SQL('SELECT date_trunc(%s, {c})::timestamptz, {agg} FROM {t} GROUP BY 1').format(
                c=sql.Identifier(self.control), agg=agg, t=self.t_old), (self.interval.trunc,))
            old = dict((r[0], (r[1], r[2])) for r in rows)
            parts = catalog.partitions(db, self.parent_oid())
            problems = []
            seen = set()
            new_total = 0
            for p in parts:
                got = db.execute(sql.SQL('SELECT {} FROM ONLY {}').format(agg, sql.Identifier(p['schema'], p['relname'])),
                                 record=False)[0]
                new_total += got[0]
                if p['is_default']:
                    if got[0]:
                        problems.append('default partition %s holds %d rows' % (p['name'], got[0]))
                    continue
                key = db.scalar(sql.SQL('SELECT %s::{}::timestamptz').format(sql.SQL(snap['control_type'])), (p['lo'],))
                seen.add(key)
                want = old.get(key, (0, 0))
                self.rows_copied[p['name']] = got[0]
                if got[0] != want[0]:
                    problems.append('%s: %d rows, old table has %d in [%s, %s)' % (p['name'], got[0], want[0],
                                                                                   p['lo'], p['hi']))
                elif checksum and got[1] != want[1]:
                    problems.append('%s: checksum differs from the old table' % p['name'])
            for key, (n, _h) in old.items():
                if key not in seen and n:
                    problems.append('%d rows of the old table (bucket %s) have no partition' % (n, key))
            old_total = sum(v[0] for v in old.values())
        finally:
            db.set_autocommit(False)
        self.plan = dict(self.plan or {}, verified_rows=new_total, old_rows=old_total)
        if problems or new_total != old_total:
            msg = ('verification FAILED, %s.%s is intact and was not touched: total %d new vs %d old; %s. '
                   'Investigate, then re-run (verification is repeated) or revert with state: reverted.'
                   % (self.schema, self.old_name, new_total, old_total, '; '.join(problems[:20])))
            st.update(db, self.state_schema, self.key, message=msg)
            db.commit()
            raise MigrationError(msg)
        self.log('verified %d rows in %d partitions (%s)' % (new_total, len(parts), self.p['verify']))

    # -------------------------------------------------------------- configure
    def step_configure(self, state):
        self.configure(state, finished=False)
        write_guard.remove(self.db, self.t_parent)
        st.update(self.db, self.state_schema, self.key, finished_at=datetime.datetime.now(datetime.timezone.utc),
                  message='migrated')

    def configure(self, state, finished):
        db = self.db
        wanted = pm.config_wanted(self.p['premake'], self.p.get('retention'), self.p['retention_keep_table'])
        current = catalog.part_config(db, self.partman_schema, self.key)
        if current is None:
            raise MigrationError("pg_partman has no configuration for %s (part_config row missing); register it "
                                 "again with %s.create_parent or revert" % (self.key, self.partman_schema))
        diff = pm.config_differs(current, wanted)
        if finished and not diff:
            db.rollback()
            return
        if finished:
            self.retention_check(catalog.table_info(db, self.schema, self.name), state['snapshot'])
            if self.check_mode:
                self.changed = True
                self.diff = {'before': dict((k, current.get(k)) for k in wanted), 'after': wanted}
                return
            self.changed = True
            self.diff = {'before': dict((k, current.get(k)) for k in wanted), 'after': wanted}
        q, args = pm.config_update(self.partman_schema, self.key, self.p['premake'], self.p.get('retention'),
                                   self.p['retention_keep_table'])
        db.execute(q, args)
        db.commit()
        if self.p['run_maintenance']:
            q, args = pm.run_maintenance(self.partman_schema, self.key)
            db.execute(q, args)
            db.commit()

    # ----------------------------------------------------------------- revert
    def revert(self, state):
        db = self.db
        tbl = self.exists(self.name)
        old = self.exists(self.old_name)
        if state is None:
            if tbl is not None and not tbl['partitioned']:
                self.plan = {'table': self.key, 'status': 'not migrated', 'steps': []}
                return
            if tbl is None:
                raise MigrationError("table %s does not exist and there is no migration state for it" % self.key)
            raise MigrationError("%s is partitioned but there is no partman_migrate state for it (%s.%s): it was "
                                 "not migrated by this module, refusing to revert"
                                 % (self.key, self.state_schema, st.STATE))
        if old is None:
            raise MigrationError(
                "cannot revert %s: the old table %s.%s is gone (finalized?). The data now lives only in the "
                "partitioned table; revert by hand if needed (pg_partman's undo_partition)."
                % (self.key, self.schema, self.old_name))
        snap = state['snapshot']
        self.changed = True
        self.diff = {'before': {'table': self.key, 'partitioned': True},
                     'after': {'table': self.key, 'partitioned': False}}
        self.plan = {'table': self.key, 'revert_from_step': state['step'], 'old_table': state['old_table'],
                     'steps': ['drop re-pointed foreign keys', 'copy rows written since the migration back',
                               'drop partitions', 'rename %s back to %s' % (self.old_name, self.name),
                               'restore inbound foreign keys', 'remove pg_partman configuration']}
        if self.check_mode:
            return
        if tbl is not None and tbl['partitioned']:
            if state['direction'] == 'forward':
                self.timed('revert_prepare', self.revert_prepare, state, snap)
                state = st.load(db, self.state_schema, self.key)
                db.commit()
            if state['step'] == 'revert-copy':
                self.timed('revert_copy', self.revert_copy, state, snap)
                st.update(db, self.state_schema, self.key, step='revert-drop')
                db.commit()
            self.timed('revert_drop', self.revert_drop, snap)
        self.timed('revert_finish', self.revert_finish, state, snap)

    def revert_prepare(self, state, snap):
        db = self.db
        poid = self.parent_oid()
        db.execute(sql.SQL('LOCK TABLE {}, {} IN ACCESS EXCLUSIVE MODE').format(self.t_parent, self.t_old))
        for fk in snap['inbound_fks']:
            target = db.scalar(
                'SELECT confrelid::bigint FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid '
                'JOIN pg_namespace n ON n.oid = r.relnamespace WHERE n.nspname = %s AND r.relname = %s '
                'AND c.conname = %s', (fk['schema'], fk['tablename'], fk['name']))
            if target == poid:
                db.execute(sql.SQL('ALTER TABLE {} DROP CONSTRAINT {}').format(
                    sql.Identifier(fk['schema'], fk['tablename']), sql.Identifier(fk['name'])))
        extra = dict(state['extra'])
        extra['revert_max'] = db.scalar(sql.SQL('SELECT max({})::text FROM {}').format(
            sql.Identifier(self.control), self.t_old))
        st.update(db, self.state_schema, self.key, direction='revert', step='revert-copy', extra=extra)
        db.commit()

    def revert_copy(self, state, snap):
        """Rows in the partitioned table that the old table lacks go back."""
        db = self.db
        cols = batches.column_list(snap['columns'])
        over = batches.overriding(snap['columns'])
        pk = [c for c in snap['constraints'] if c['type'] == 'p']
        done = set(r['partition'] for r in st.partitions(db, self.state_schema, self.key) if r['reverted'])
        parts = catalog.partitions(db, self.parent_oid())
        db.rollback()
        enabled = [t['name'] for t in snap['triggers'] if t['enabled'] in ('O', 'A')]
        total = 0
        for p in parts:
            if p['name'] in done:
                continue
            src = sql.SQL('ONLY {} AS n').format(sql.Identifier(p['schema'], p['relname']))
            if pk:
                cond = sql.SQL(' AND ').join(
                    sql.SQL('o.{c} = n.{c}').format(c=sql.Identifier(c)) for c in pk[0]['columns'])
                where = sql.SQL('NOT EXISTS (SELECT 1 FROM {} o WHERE {})').format(self.t_old, cond)
                args = None
            else:
                where = sql.SQL('n.{} > %s').format(sql.Identifier(self.control))
                args = (state['extra'].get('revert_max'),)
                if args[0] is None:
                    where = sql.SQL('true')
                    args = None
            for t in enabled:
                db.execute(sql.SQL('ALTER TABLE {} DISABLE TRIGGER {}').format(self.t_old, sql.Identifier(t)))
            ident_cols = sql.SQL(', ').join(sql.SQL('n.{}').format(sql.Identifier(c)) for c in cols)
            q = sql.SQL('INSERT INTO {} ({}){} SELECT {} FROM {} WHERE {}').format(
                self.t_old, sql.SQL(', ').join(sql.Identifier(c) for c in cols),
                sql.SQL(' OVERRIDING SYSTEM VALUE' if over else ''), ident_cols, src, where)
            db.execute(q, args)
            n = max(db.last_rowcount or 0, 0)
            total += n
            for t in enabled:
                db.execute(sql.SQL('ALTER TABLE {} ENABLE {}TRIGGER {}').format(
                    self.t_old, sql.SQL('ALWAYS ' if dict((x['name'], x['enabled']) for x in snap['triggers'])[t] == 'A'
                                        else ''), sql.Identifier(t)))
            st.partition_reverted(db, self.state_schema, self.key, p['name'])
            db.commit()
            if n:
                self.rows_copied[p['name']] = n
        self.log('revert: %d rows written after the migration copied back to %s' % (total, self.old_name))

    def revert_drop(self, snap):
        db = self.db
        if not self.relation_exists(self.schema, self.name):
            db.rollback()
            return
        parts = catalog.partitions(db, self.parent_oid())
        db.rollback()
        for i in range(0, len(parts), DROP_CHUNK):
            for p in parts[i:i + DROP_CHUNK]:
                db.execute(sql.SQL('DROP TABLE {}').format(sql.Identifier(p['schema'], p['relname'])))
            db.commit()

    def revert_finish(self, state, snap):
        db = self.db
        cfg = catalog.part_config(db, self.partman_schema, self.key)
        for seq in snap['sequences']:
            if seq['deptype'] == 'a':
                db.execute(sql.SQL('ALTER SEQUENCE {} OWNED BY {}.{}').format(
                    _ident(seq['sequence']), self.t_old, sql.Identifier(seq['column'])))
            elif seq['deptype'] == 'i':
                db.execute(sql.SQL(
                    'SELECT setval(%s::regclass, greatest((SELECT last_value FROM {s}), (SELECT max({c}) FROM {t})))'
                ).format(s=_ident(seq['sequence']), c=sql.Identifier(seq['column']), t=self.t_old),
                    (seq['sequence'],))
        for q, args in pm.config_delete(self.partman_schema, self.key):
            db.execute(q, args)
        if self.relation_exists(self.schema, self.name):
            db.execute(sql.SQL('DROP TABLE {}').format(self.t_parent))
        template = cfg.get('template_table') if cfg else None
        if template:
            tschema, tname = split_table_name(template)
            if self.relation_exists(tschema, tname):
                db.execute(sql.SQL('DROP TABLE {}').format(sql.Identifier(tschema, tname)))
        db.execute(sql.SQL('ALTER TABLE {} RENAME TO {}').format(self.t_old, sql.Identifier(self.name)))
        for orig, renamed in (state['extra'].get('index_renames') or {}).items():
            if self.relation_exists(self.schema, renamed):
                db.execute(sql.SQL('ALTER INDEX {} RENAME TO {}').format(
                    sql.Identifier(self.schema, renamed), sql.Identifier(orig)))
        for fk in snap['inbound_fks']:
            exists = db.scalar(
                'SELECT 1 FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid '
                'JOIN pg_namespace n ON n.oid = r.relnamespace WHERE n.nspname = %s AND r.relname = %s '
                'AND c.conname = %s', (fk['schema'], fk['tablename'], fk['name']))
            if not exists:
                db.execute(_add_constraint_sql(sql.Identifier(fk['schema'], fk['tablename']), fk['name'], fk['def']))
        st.delete(db, self.state_schema, self.key)
        db.commit()
        self.log('reverted: %s is the plain table again' % self.key)


def run(module):
    try:
        m = Migration(module)
    except PlanError as e:
        module.fail_json(msg=str(e))
    try:
        result = m.run()
    except (MigrationError, PlanError, batches.CopyError) as e:
        res = m.result()
        res.pop('changed', None)
        for w in res.pop('warnings', []):
            module.warn(w)
        module.fail_json(msg=str(e), changed=m.changed and not module.check_mode, **res)
    except psycopg2.Error as e:
        res = m.result()
        for w in res.pop('warnings', []):
            module.warn(w)
        module.fail_json(msg='database error: %s%s. The migration state is kept; fix the cause and run again '
                             'to resume, or use state: reverted.' % (
                                 str(e).strip(), (' (%s)' % e.diag.context.strip()) if getattr(e, 'diag', None)
                                 and e.diag.context else ''),
                         changed=m.changed, **dict((k, v) for k, v in res.items() if k != 'changed'))
    if m.diff and module._diff:
        result['diff'] = m.diff
    for w in result.pop('warnings', []):
        module.warn(w)
    module.exit_json(**result)


__all__ = ['Migration', 'MigrationError', 'run', 'Database']
