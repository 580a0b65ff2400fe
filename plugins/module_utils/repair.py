# -*- coding: utf-8 -*-
# Copyright: soar.partman contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""partman_repair: move the rows stranded in the default partition into proper children.

pg_partman's own partition_data_time() does the delicate part, the same way in 4.x and 5.x:
in one transaction it moves the rows of one partition interval out of the default (into a
temporary table), creates the child (which it could not while those rows sat in the default),
and inserts the rows into it. We call it once per transaction and commit after each, so a
stopped repair resumes where it stopped, then run maintenance for the set."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.soar.partman.plugins.module_utils import partman as pm
from ansible_collections.soar.partman.plugins.module_utils import partset as ps
from ansible_collections.soar.partman.plugins.module_utils.connection import connect
from ansible_collections.soar.partman.plugins.module_utils.intervals import trunc_unit as bucket_unit
from ansible_collections.soar.partman.plugins.module_utils.names import quote_ident

try:
    from psycopg2 import sql
    import psycopg2
except ImportError:
    sql = None
    psycopg2 = None

MAX_BUCKETS_REPORTED = 200


class RepairError(Exception):
    """Fails the module; the message names the problem and the fix."""


def ignored_columns(columns):
    """Generated columns cannot be inserted into: partition_data_time must leave them out
    (they are computed again from the other columns)."""
    return [c['name'] for c in columns if c.get('generated')]


def identity_always(columns):
    return [c['name'] for c in columns if c.get('identity') == 'a']


def validate(params):
    """Problems with the options (names and fixes), found before connecting; [] when none."""
    problems = []
    if params.get('max_batches') is not None and params['max_batches'] < 0:
        problems.append("max_batches is %d: give the number of batches (one partition interval each) to move in this "
                        "run, 1 or more, or 0 to move every stranded row" % params['max_batches'])
    if params.get('lock_wait') is not None and params['lock_wait'] < 0:
        problems.append("lock_wait is %d: give the seconds to wait for row locks, 1 or more, or 0 to wait without "
                        "limit" % params['lock_wait'])
    if params.get('lock_timeout') is not None and params['lock_timeout'] < 0:
        problems.append("lock_timeout is %d: give the seconds to wait for table locks, 0 or more"
                        % params['lock_timeout'])
    if not (params.get('table') or '').strip():
        problems.append("table is empty: give the partitioned table, schema-qualified (public.fixes)")
    return problems


class Repair(object):

    def __init__(self, module):
        self.module = module
        self.p = module.params
        self.queries = []
        self.warnings = []
        self.db = None
        # True once something was committed: a failure after that must not claim changed=false.
        self.committed = False

    def settings(self):
        return {'statement_timeout': '0', 'lock_timeout': '%ds' % self.p['lock_timeout'],
                'idle_in_transaction_session_timeout': '0', 'DateStyle': 'ISO, YMD'}

    def run(self):
        problems = validate(self.p)
        if problems:
            raise RepairError('; '.join(problems) + ' (nothing was changed)')
        self.db = connect(self.module, session_settings=self.settings(), queries=self.queries)
        try:
            return self._run()
        finally:
            try:
                self.db.rollback()
            except Exception:
                pass
            self.db.close()

    def columns(self, oid):
        return self.db.query("""
            SELECT attname AS name, attgenerated::text <> '' AS generated, attidentity::text AS identity
            FROM pg_attribute WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped ORDER BY attnum""", (oid,))

    def default_buckets(self, default, control, unit):
        t = sql.Identifier(default['schema'], default['relname'])
        c = sql.Identifier(control)
        if unit:
            rows = self.db.query(sql.SQL(
                'SELECT date_trunc(%s, {c})::timestamptz AS start, count(*) AS rows, min({c})::text AS min, '
                'max({c})::text AS max FROM ONLY {t} GROUP BY 1 ORDER BY 1').format(c=c, t=t), (unit,))
        else:
            rows = self.db.query(sql.SQL(
                'SELECT NULL::timestamptz AS start, count(*) AS rows, min({c})::text AS min, max({c})::text AS max '
                'FROM ONLY {t} HAVING count(*) > 0').format(c=c, t=t))
        return [dict(start=ps.iso(r['start']), rows=r['rows'], min=r['min'], max=r['max']) for r in rows]

    def _run(self):
        p = self.p
        db = self.db
        schema = p['partman_schema']
        installed = ps.partman_installed(db)
        if installed is None or installed['schema'] != schema:
            raise RepairError("pg_partman is not installed in schema %s of this database: apply role "
                              "soar.partman.partman (or set partman_schema)" % schema)
        tschema, tname = ps.split_parent(p['table'])
        parent = '%s.%s' % (tschema, tname)
        configs = ps.config_rows(db, schema, parent)
        if not configs:
            raise RepairError("%s is not managed by pg_partman (no row in %s.part_config)" % (parent, schema))
        config = self.config = configs[0]
        oid = self.oid = ps.parent_oid(db, tschema, tname)
        ctype = ps.control_type(db, oid, config['control'])
        if ctype not in ps.TIME_TYPES or config.get('epoch') not in (None, 'none'):
            raise RepairError("%s is partitioned on %s (%s): only time-based partition sets are repaired here; "
                              "use %s.partition_data_id for id-based sets" % (parent, config['control'], ctype, schema))
        cols = self.columns(oid)
        always = identity_always(cols)
        if always:
            raise RepairError("%s has GENERATED ALWAYS identity column(s) %s: moving rows would need OVERRIDING "
                              "SYSTEM VALUE, which partition_data_time does not use here. Change them to GENERATED BY "
                              "DEFAULT (ALTER TABLE ... ALTER COLUMN ... SET GENERATED BY DEFAULT), then run again."
                              % (parent, ', '.join(always)))
        kids = ps.children(db, oid, True)
        default = next((c for c in kids if c['is_default']), None)
        result = dict(changed=False, table=parent, partman_version=installed['version'],
                      default_partition=default['name'] if default else None,
                      default_rows_before=0, default_rows_after=0, rows_moved=0, batches=0,
                      partitions_created=[], buckets=[], maintenance=False, queries=self.queries,
                      notices=self.warnings, seconds=0.0)
        if default is None:
            self.warnings.append('%s has no default partition: no row can be stranded' % parent)
            db.rollback()
            return result
        before_names = set(c['name'] for c in kids)
        result['default_rows_before'] = ps.count_rows(db, default['schema'], default['relname'])
        buckets = self.default_buckets(default, config['control'], bucket_unit(config['partition_interval']))
        result['buckets'] = buckets[:MAX_BUCKETS_REPORTED]
        if config.get('retention') and not config.get('retention_keep_table') and buckets:
            cutoff = ps.retention_cutoff(db, config['retention'])
            old = db.scalar(sql.SQL('SELECT count(*) FROM ONLY {} WHERE {} < %s').format(
                sql.Identifier(default['schema'], default['relname']), sql.Identifier(config['control'])), (cutoff,))
            if old:
                self.warnings.append("%d row(s) in the default are older than the retention %s: their children will "
                                     "be dropped by the next maintenance run (retention_keep_table is false)"
                                     % (old, config['retention']))
        db.rollback()
        if result['default_rows_before'] == 0:
            result['default_rows_after'] = 0
            if p['run_maintenance'] and not self.module.check_mode:
                self.maintenance(schema, parent, result)
            return self.finish(result, oid, before_names)
        result['changed'] = True
        if self.module.check_mode:
            result['default_rows_after'] = result['default_rows_before']
            return result

        ignored = ignored_columns(cols)
        query, args = pm.partition_data_time(schema, parent, p['lock_wait'], ignored)
        # Writers wait for each batch (readers do not): a row written into the default for the interval being
        # moved, between the move and the child's ATTACH, would make the ATTACH fail.
        # The tables its foreign keys reference first (the ATTACH adds triggers to them): a writer that wrote one
        # of them and then waited for the default would deadlock with the ATTACH.
        refs = db.query("SELECT DISTINCT n.nspname, r.relname FROM pg_constraint c JOIN pg_class r ON r.oid = c.confrelid "
                        "JOIN pg_namespace n ON n.oid = r.relnamespace WHERE c.conrelid = %s AND c.contype = 'f' "
                        "ORDER BY 1, 2", (oid,))
        db.rollback()
        locks = [sql.SQL('LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE').format(sql.Identifier(r['nspname'], r['relname']))
                 for r in refs]
        locks.append(sql.SQL('LOCK TABLE {} IN EXCLUSIVE MODE').format(
            sql.Identifier(default['schema'], default['relname'])))
        t0 = time.time()
        self.queries += [db.mogrify(lock) for lock in locks] + [db.mogrify(query, args)]
        while p['max_batches'] == 0 or result['batches'] < p['max_batches']:
            try:
                for lock in locks:
                    db.execute(lock, record=False)
                moved = db.execute(query, args, record=False)[0][0]
            except psycopg2.Error as e:
                db.rollback()
                raise RepairError("moving rows out of %s failed after %d batch(es), %d row(s) moved (committed, a "
                                  "re-run continues): %s" % (default['name'], result['batches'], result['rows_moved'],
                                                             str(e).strip()))
            if moved == -1:
                db.rollback()
                raise RepairError("could not lock the rows of the next batch in %s within %ss (writers hold them); "
                                  "%d row(s) moved so far are committed: run again, or stop the writers, or raise "
                                  "lock_wait" % (default['name'], p['lock_wait'], result['rows_moved']))
            db.commit()
            if not moved:
                break
            self.committed = True
            result['batches'] += 1
            result['rows_moved'] += moved
            self.module.log('partman_repair %s: batch %d moved %d rows' % (parent, result['batches'], moved))
        result['seconds'] = round(time.time() - t0, 3)
        db.execute(sql.SQL('ANALYZE {}').format(sql.Identifier(default['schema'], default['relname'])))
        db.commit()
        result['default_rows_after'] = ps.count_rows(db, default['schema'], default['relname'])
        db.rollback()
        if p['run_maintenance'] and result['default_rows_after'] == 0:
            self.maintenance(schema, parent, result)
        elif p['run_maintenance']:
            self.warnings.append('%d row(s) remain in the default (max_batches reached): maintenance not run; '
                                 'run again to continue' % result['default_rows_after'])
        return self.finish(result, oid, before_names)

    def finish(self, result, oid, before_names):
        after = ps.children(self.db, oid, True)
        self.db.rollback()
        result['partitions_created'] = sorted(c['name'] for c in after if c['name'] not in before_names)
        result['changed'] = bool(result['changed'] or result['partitions_created'])
        return result

    def fill_ahead(self, schema, parent, oid, config, result):
        """Create the children missing between now and max(now + premake, the newest child): after a
        stop, moved rows may have created children days ahead with holes before them, and pg_partman's
        maintenance only adds children after the newest one. Older holes are left alone (history may
        have gaps on purpose)."""
        db = self.db
        unit = bucket_unit(config['partition_interval'])
        if unit is None:
            self.warnings.append('interval %s: children missing ahead of now are left to maintenance'
                                 % config['partition_interval'])
            return
        kids = [c for c in ps.children(db, oid, True) if not c['is_default']]
        have = set(c['from_ts'] for c in kids if c.get('from_ts') is not None)
        newest = max(have) if have else None
        rows = db.execute(
            "SELECT s::timestamptz FROM generate_series(date_trunc(%s, now()), "
            "greatest(date_trunc(%s, now()) + %s * %s::interval, %s::timestamptz), %s::interval) AS s",
            (unit, unit, int(config.get('premake') or 0), config['partition_interval'], newest,
             config['partition_interval']), record=False)
        missing = [r[0] for r in rows if r[0] not in have]
        db.rollback()
        if not missing:
            return
        major = pm.major_version(result['partman_version'])
        query, args = pm.create_partition_time(schema, major, parent, missing)
        try:
            db.execute(query, args)
            db.commit()
            self.committed = True
        except psycopg2.Error as e:
            db.rollback()
            raise RepairError("creating the missing children ahead of now (%s) failed: %s"
                              % (', '.join(ps.iso(m) for m in missing[:5]), str(e).strip()))

    def maintenance(self, schema, parent, result):
        self.fill_ahead(schema, parent, self.oid, self.config, result)
        query, args = pm.run_maintenance(schema, parent, analyze=False)
        try:
            self.db.execute(query, args)
            self.db.commit()
            self.committed = True
        except psycopg2.Error as e:
            self.db.rollback()
            raise RepairError("the rows are out of the default partition, but maintenance of %s failed: %s"
                              % (parent, str(e).strip()))
        result['maintenance'] = True


def run(module):
    repair = Repair(module)
    try:
        result = repair.run()
    except (RepairError, ps.InfoError) as e:
        module.fail_json(msg=str(e), changed=repair.committed)
    except psycopg2.Error as e:
        done = ' (rows moved before it are committed; a re-run continues)' if repair.committed \
            else ' (nothing was changed)'
        module.fail_json(msg='database error: %s%s' % (str(e).strip(), done), changed=repair.committed)
    for notice in result['notices']:
        module.warn(notice)
    module.exit_json(**result)


# ---------------------------------------------------------------- the scheduled job's SQL
# One DO block run by every SQL-driven backend (the cron and systemd script through psql, pg_cron as
# its job's command): it needs no object of ours in the database and commits between batches and sets
# (DO at top level may COMMIT; a procedure called from it too). Locks are taken with lock_timeout and
# retried with backoff until a deadline; other errors of one set are reported and the others still run,
# then the block fails naming them, so the job's status tells the truth.
# A lock error is lock_not_available or deadlock_detected, or one of them re-raised by pg_partman 4.x,
# whose functions catch every error and raise its text again as a plain exception (SQLSTATE P0001);
# the text is PostgreSQL's English message (lc_messages other than English: those are not retried).
_IS_LOCK_ERROR = ("(SQLSTATE IN ('55P03', '40P01') OR (SQLSTATE = 'P0001' AND SQLERRM ~ "
                  "'(deadlock detected|due to lock timeout|could not obtain lock)'))")
_SCHEDULED = r"""
DECLARE
  deadline timestamptz := clock_timestamp() + make_interval(secs => @retry_seconds@);
  delay float8;
  cfg record;
  dflt regclass;
  ctype text;
  ignored text[];
  newest text;
  moved bigint;
  child regclass;
  ref regclass;
  child_rows bigint;
  batches int;
  rows_left boolean;
  unit text;
  missing timestamptz[];
  failed text[] := '{}';
BEGIN
  -- One run at a time (a run-now while the schedule runs): the second one leaves the work to the first.
  IF NOT pg_try_advisory_lock(hashtext('soar.partman scheduled maintenance')) THEN
    RAISE NOTICE 'soar.partman: maintenance is already running in another session';
    RETURN;
  END IF;
  PERFORM set_config('lock_timeout', '@lock_timeout@s', false);
  FOR cfg IN SELECT c.parent_table, c.control, c.partition_interval, c.premake, c.retention,
                    c.retention_keep_table, coalesce(to_jsonb(c) ->> 'epoch', 'none') AS epoch
             FROM @schema@.part_config c
             WHERE c.undo_in_progress = false AND c.automatic_maintenance = 'on' AND @self_heal@
             ORDER BY c.parent_table
  LOOP
    delay := 1;
    LOOP
      BEGIN
        SELECT i.inhrelid::regclass INTO dflt FROM pg_inherits i JOIN pg_class k ON k.oid = i.inhrelid
         WHERE i.inhparent = cfg.parent_table::regclass AND pg_get_expr(k.relpartbound, k.oid) = 'DEFAULT';
        EXIT;
      EXCEPTION WHEN lock_not_available OR deadlock_detected OR raise_exception THEN
        IF NOT @is_lock_error@ THEN RAISE; END IF;
        IF clock_timestamp() + make_interval(secs => delay) > deadline THEN RAISE; END IF;
        RAISE WARNING 'soar.partman: % (reading the partitions of %); retrying in % s', SQLERRM, cfg.parent_table, delay;
        PERFORM pg_sleep(delay);
        delay := least(delay * 2, @max_delay@);
      END;
    END LOOP;
    CONTINUE WHEN dflt IS NULL;
    SELECT format_type(a.atttypid, a.atttypmod) INTO ctype FROM pg_attribute a
     WHERE a.attrelid = cfg.parent_table::regclass AND a.attname = cfg.control;
    IF ctype NOT IN ('timestamp with time zone', 'timestamp without time zone', 'date') OR cfg.epoch <> 'none' THEN
      RAISE NOTICE 'soar.partman self-heal: % is not partitioned by time: rows in % are left (partition_data_id)',
        cfg.parent_table, dflt;
      CONTINUE;
    END IF;
    -- Generated columns cannot be inserted into: pg_partman leaves them out (computed again).
    ignored := ARRAY(SELECT a.attname::text FROM pg_attribute a WHERE a.attrelid = cfg.parent_table::regclass
                      AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated <> '');
    IF cardinality(ignored) = 0 THEN ignored := NULL; END IF;
    batches := 0;
    rows_left := false;
    -- Newest interval first: the rows of today and the next days are the ones that block maintenance.
    LOOP
      IF batches >= @max_batches@ THEN rows_left := true; EXIT; END IF;
      delay := 1;
      LOOP
        BEGIN
          -- Writers wait until this batch commits (readers do not): a row written into the default for the
          -- interval being moved, between the move and the child's ATTACH, would make the ATTACH fail
          -- ("updated partition constraint for default partition would be violated").
          -- First the tables the set's foreign keys reference: the ATTACH adds the keys' triggers to them.
          -- A writer that wrote one of them (a message, then its fix) and then waited for the default would
          -- otherwise deadlock with the ATTACH (pg_partman 4.x re-raises that as a plain error).
          FOR ref IN SELECT DISTINCT c.confrelid::regclass FROM pg_constraint c
                     WHERE c.conrelid = cfg.parent_table::regclass AND c.contype = 'f' LOOP
            EXECUTE format('LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE', ref);
          END LOOP;
          EXECUTE format('LOCK TABLE %s IN EXCLUSIVE MODE', dflt);
          EXECUTE format('SELECT max(%I)::text FROM ONLY %s', cfg.control, dflt) INTO newest;
          EXIT WHEN newest IS NULL;
          IF cfg.retention IS NOT NULL AND NOT cfg.retention_keep_table
             AND newest::timestamptz < now() - cfg.retention::interval THEN
            RAISE WARNING 'soar.partman self-heal: rows of % in % older than retention %: left to repair.yml',
              cfg.parent_table, dflt, cfg.retention;
            rows_left := true;
            newest := NULL;
            EXIT;
          END IF;
          moved := @schema@.partition_data_time(p_parent_table := cfg.parent_table, p_batch_count := 1,
                     p_lock_wait := @lock_wait@, p_order := 'DESC', p_analyze := false,
                     p_ignored_columns := ignored);
          IF moved = -1 THEN
            RAISE EXCEPTION USING ERRCODE = 'lock_not_available',
              MESSAGE = format('row locks of a batch in %s not obtained within @lock_wait@ s', dflt);
          END IF;
          -- Never lose a row: the rows must be in the child of their interval, all of them, or the
          -- batch is rolled back (the exception leaves this block and the job fails).
          EXECUTE format('SELECT tableoid::regclass FROM %s WHERE %I = $1::%s LIMIT 1',
                         cfg.parent_table, cfg.control, ctype) INTO child USING newest;
          IF child IS NULL OR child = dflt THEN
            RAISE EXCEPTION 'soar.partman self-heal: rows at % of % not in a child after partition_data_time; rolled back',
              newest, cfg.parent_table;
          END IF;
          EXECUTE format('SELECT count(*) FROM %s', child) INTO child_rows;
          IF child_rows <> moved THEN
            RAISE EXCEPTION 'soar.partman self-heal: % row(s) left % but % holds %; batch rolled back',
              moved, dflt, child, child_rows;
          END IF;
          EXIT;
        EXCEPTION WHEN lock_not_available OR deadlock_detected OR raise_exception THEN
          IF NOT @is_lock_error@ THEN RAISE; END IF;
          IF clock_timestamp() + make_interval(secs => delay) > deadline THEN RAISE; END IF;
          RAISE WARNING 'soar.partman: % (moving rows out of %); retrying in % s', SQLERRM, dflt, delay;
          PERFORM pg_sleep(delay);
          delay := least(delay * 2, @max_delay@);
        END;
      END LOOP;
      EXIT WHEN newest IS NULL;
      COMMIT;
      batches := batches + 1;
      RAISE NOTICE 'soar.partman self-heal: % row(s) of % moved from % into %', moved, cfg.parent_table, dflt, child;
    END LOOP;
    CONTINUE WHEN batches = 0;
    IF rows_left THEN
      RAISE WARNING 'soar.partman self-heal: rows are left in % after % batch(es); the next run continues', dflt, batches;
      CONTINUE;
    END IF;
    -- Children missing between now and the newest child (moved rows may have created one days ahead,
    -- and maintenance only adds children after the newest); older holes are left alone.
    unit := CASE cfg.partition_interval::interval WHEN '1 hour' THEN 'hour' WHEN '1 day' THEN 'day'
              WHEN '1 week' THEN 'week' WHEN '1 month' THEN 'month' WHEN '1 year' THEN 'year' END;
    CONTINUE WHEN unit IS NULL;
    delay := 1;
    LOOP
      BEGIN
        missing := ARRAY(
          SELECT s FROM generate_series(date_trunc(unit, now()),
                   (SELECT max((regexp_match(pg_get_expr(k.relpartbound, k.oid), 'FROM \(''([^'']+)''\)'))[1]::timestamptz)
                    FROM pg_inherits i JOIN pg_class k ON k.oid = i.inhrelid WHERE i.inhparent = cfg.parent_table::regclass),
                   cfg.partition_interval::interval) AS s
          WHERE NOT EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_class k ON k.oid = i.inhrelid
                            WHERE i.inhparent = cfg.parent_table::regclass
                              AND (regexp_match(pg_get_expr(k.relpartbound, k.oid), 'FROM \(''([^'']+)''\)'))[1]::timestamptz = s));
        IF cardinality(missing) > 0 THEN
          PERFORM @schema@.create_partition_time(p_parent_table := cfg.parent_table, p_partition_times := missing@analyze_arg@);
        END IF;
        EXIT;
      EXCEPTION WHEN lock_not_available OR deadlock_detected OR raise_exception THEN
        IF NOT @is_lock_error@ THEN RAISE; END IF;
        IF clock_timestamp() + make_interval(secs => delay) > deadline THEN RAISE; END IF;
        RAISE WARNING 'soar.partman: % (creating the children ahead of %); retrying in % s', SQLERRM, cfg.parent_table, delay;
        PERFORM pg_sleep(delay);
        delay := least(delay * 2, @max_delay@);
      END;
    END LOOP;
    COMMIT;
  END LOOP;
  -- pg_partman's run_maintenance_proc, one set per transaction, with lock retries and every set tried.
  FOR cfg IN SELECT c.parent_table FROM @schema@.part_config c
             WHERE c.undo_in_progress = false AND c.automatic_maintenance = 'on' ORDER BY c.parent_table
  LOOP
    delay := 1;
    LOOP
      BEGIN
        PERFORM @schema@.run_maintenance(p_parent_table := cfg.parent_table, p_analyze := @analyze@);
        EXIT;
      EXCEPTION WHEN OTHERS THEN
        IF NOT @is_lock_error@ OR clock_timestamp() + make_interval(secs => delay) > deadline THEN
          RAISE WARNING 'soar.partman maintenance of % failed: %', cfg.parent_table, SQLERRM;
          failed := failed || (cfg.parent_table || ': ' || SQLERRM);
          EXIT;
        END IF;
        RAISE WARNING 'soar.partman: % (maintenance of %); retrying in % s', SQLERRM, cfg.parent_table, delay;
        PERFORM pg_sleep(delay);
        delay := least(delay * 2, @max_delay@);
      END;
    END LOOP;
    COMMIT;
  END LOOP;
  IF cardinality(failed) > 0 THEN
    PERFORM pg_advisory_unlock(hashtext('soar.partman scheduled maintenance'));
    RAISE EXCEPTION 'soar.partman maintenance failed for % set(s): %', cardinality(failed), array_to_string(failed, ' | ');
  END IF;
  PERFORM pg_advisory_unlock(hashtext('soar.partman scheduled maintenance'));
END
"""


def scheduled_call(schema, extversion, analyze=False, self_heal=True, max_batches=50, lock_wait=30,
                   lock_timeout=10, retry_seconds=600, max_delay=60):
    """SQL text of one run of the scheduled maintenance job (psql -c, or a pg_cron job's command):
    when self_heal, the rows in each time-based set's default partition move into proper children
    first (newest interval first, at most max_batches per set and run, each batch committed and
    counted), then every set's maintenance; lock failures are retried with backoff for retry_seconds.
    Every value is an integer or a quoted identifier; the dollar quote is one the text does not hold."""
    for name, value in (('max_batches', max_batches), ('lock_wait', lock_wait), ('lock_timeout', lock_timeout),
                        ('retry_seconds', retry_seconds), ('max_delay', max_delay)):
        if int(value) < 0:
            raise RepairError('%s is %d: give 0 or more' % (name, value))
    values = dict(
        schema=quote_ident(schema), self_heal='true' if self_heal else 'false', max_batches=int(max_batches),
        lock_wait=int(lock_wait), lock_timeout=int(lock_timeout), retry_seconds=int(retry_seconds),
        max_delay=max(1, int(max_delay)), analyze='true' if analyze else 'false',
        analyze_arg=', p_analyze := false' if pm.major_version(extversion) < 5 else '',
        is_lock_error=_IS_LOCK_ERROR)
    body = _SCHEDULED
    for key, value in values.items():
        body = body.replace('@%s@' % key, str(value))
    tag = '$soar_partman$'
    n = 0
    while tag in body:
        n += 1
        tag = '$soar_partman_%d$' % n
    return 'DO %s%s%s' % (tag, body, tag)
