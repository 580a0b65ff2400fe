# -*- coding: utf-8 -*-
# Copyright: soar.partman contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every step of a partman_migrate run shares: the connection, the parameters, the names
derived from them, what the run reports (log, warnings, seconds per step, the fields of the
result) and the one pool of extra connections (jobs > 1)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import threading
import time

from ansible_collections.soar.partman.plugins.module_utils import catalog
from ansible_collections.soar.partman.plugins.module_utils import write_guard
from ansible_collections.soar.partman.plugins.module_utils.names import quote_ident, split_table_name, truncate_name
from ansible_collections.soar.partman.plugins.module_utils.params import validate_params

try:
    import psycopg2
    import psycopg2.errors
    from psycopg2 import sql
except ImportError:  # the module reports the missing library
    psycopg2 = sql = None


# Steps of a forward migration, in order. The state table records the last one that completed; the
# runner's step tables name the function of each. caught_up and swapped are online mode's only.
STEPS = ('prepared', 'partitioned', 'copied', 'indexed', 'constrained', 'caught_up', 'verified', 'swapped', 'done')
ONLINE_ONLY = ('caught_up', 'swapped')


def mode_steps(online):
    """The steps of a migration in that mode, in order."""
    return [s for s in STEPS if online or s not in ONLINE_ONLY]


# Online mode builds the partitioned table in this schema, under the table's own name, so that its
# partitions, indexes and constraints have their final names from the start; the swap moves them.
BUILD_SCHEMA = 'partman_migrate_online'


class MigrationError(Exception):
    """Fails the module; the message names the problem and the fix."""


class Context(object):
    """One run: parameters and derived names (set once), the connection (set by the runner), and
    what the steps report back."""

    def __init__(self, module):
        self.module = module
        self.p = dict(module.params)
        self.check_mode = module.check_mode
        # reported in the result
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
        # known once connected
        self.major = None
        self.server_version = None
        self.analyzed = False
        self.db = None
        # parameters and derived names
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
        self.online = self.p.get('mode') == 'online'
        self.build_schema = BUILD_SCHEMA
        self.use_target(built_aside=False)

    def use_target(self, built_aside):
        """Which table the steps build (t_target, in target_schema, pg_partman's parent_key) and where
        its rows come from (t_source). Offline, and online once swapped: the partitioned table under
        the table's name, filled from the old table. Online before the swap: the partitioned table in
        the build schema, filled from the table the application still uses."""
        self.built_aside = built_aside
        if built_aside:
            self.target_schema = self.build_schema
            self.t_target = sql.Identifier(self.build_schema, self.name)
            self.t_source = self.t_parent
        else:
            self.target_schema = self.schema
            self.t_target = self.t_parent
            self.t_source = self.t_old
        self.parent_key = '%s.%s' % (self.target_schema, self.name)

    # ------------------------------------------------------------ reporting
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
        """fn(*args), its seconds added to seconds[name]."""
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
        if self.online:
            # beside the running application the migration takes `jobs` cores, not PostgreSQL's
            # parallel workers on top (with one job each index build took the other core as well)
            s['max_parallel_maintenance_workers'] = '0'
            s['max_parallel_workers_per_gather'] = '0'
        return s

    def with_lock_retries(self, what, take, before=None):
        """take() with lock_timeout cutover_lock_timeout, up to cutover_retries + 1 times, before() (a
        catch-up) ahead of each attempt and a short pause after each refusal: writers queue behind a
        waiting lock, so it never waits long. Returns the attempt that succeeded (take's transaction
        still open), None when every attempt was refused."""
        timeout = float(self.p['cutover_lock_timeout'])
        attempts = int(self.p['cutover_retries']) + 1
        for attempt in range(1, attempts + 1):
            if before:
                before()
            self.db.execute('SELECT set_config(%s, %s, true)', ('lock_timeout', '%dms' % int(timeout * 1000)),
                            record=False)
            try:
                take()
                return attempt
            except psycopg2.errors.LockNotAvailable:
                self.db.rollback()
                self.log('%s: lock not granted within %.1fs (attempt %d of %d)' % (what, timeout, attempt, attempts))
                time.sleep(min(0.5 * attempt, 5))
        return None

    # -------------------------------------------------------------- catalog
    def exists(self, name):
        """table_info of schema.name (the table, or the old one), None when absent."""
        return catalog.table_info(self.db, self.schema, name)

    def relation_exists(self, schema, name):
        return catalog.relation_exists(self.db, schema, name)

    def parent_oid(self):
        """The oid of the partitioned table being built (t_target)."""
        return self.db.scalar('SELECT %s::regclass::oid::bigint', (
            '%s.%s' % (quote_ident(self.target_schema), quote_ident(self.name)),))

    def on_parent(self, kind, objname):
        """Whether the parent has the constraint or index objname already."""
        if kind == 'constraint':
            have = self.db.scalar(*catalog.constraint_query(self.parent_oid(), objname))
        else:
            have = self.relation_exists(self.target_schema, objname)
        self.db.rollback()
        return bool(have)

    # ------------------------------------------------------------- the pool
    def in_parallel(self, items, fn, settings=None):
        """fn(connection, item) for every item, on min(jobs, len(items)) (at least one) connections of
        their own, one thread each, with the session settings given set on each. A connection stops at
        its first failure (rolled back) and the others stop taking items; returns the exceptions raised,
        for the caller to report once every thread has ended."""
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
            except Exception as e:  # reported by the caller
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
        return errors
