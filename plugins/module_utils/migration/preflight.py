# -*- coding: utf-8 -*-
# Copyright: soar.partman contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Step preflight, before any change: every check of the table, its keys, indexes, dependents, rows
and the disk, gathered into one failure that names each problem and its fix; the catalog snapshot
and the plan the later steps follow. The retention check is also run when a migration resumes."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from ansible_collections.soar.partman.plugins.module_utils import catalog
from ansible_collections.soar.partman.plugins.module_utils.ddl import describe_inbound_fks, describe_key_change, widen_columns
from ansible_collections.soar.partman.plugins.module_utils.estimate import disk_needed, window_estimate
from ansible_collections.soar.partman.plugins.module_utils.human import human_seconds
from ansible_collections.soar.partman.plugins.module_utils.human import human_bytes
from ansible_collections.soar.partman.plugins.module_utils.intervals import add_interval, premake_buckets
from ansible_collections.soar.partman.plugins.module_utils.migration import sample
from ansible_collections.soar.partman.plugins.module_utils.migration.context import MigrationError, mode_steps
from ansible_collections.soar.partman.plugins.module_utils.names import NAMEDATALEN, datetime_format, qualified, quote_ident
from ansible_collections.soar.partman.plugins.module_utils.plan import build_plan

try:
    import psycopg2
    from psycopg2 import sql
except ImportError:  # the module reports the missing library
    psycopg2 = sql = None


def run(ctx, tbl):
    """Every check before any change. Returns the snapshot; sets ctx.plan."""
    problems = []
    snap = catalog.snapshot(ctx.db, ctx.schema, ctx.name)
    if ctx.server_version < 120000:
        raise MigrationError("PostgreSQL %s is too old: partman_migrate needs 12 or newer"
                             % ctx.server_version)
    if tbl['relkind'] != 'r':
        raise MigrationError("%s is not a plain table (relkind %s)" % (ctx.key, tbl['relkind']))
    if tbl['is_partition']:
        raise MigrationError("%s is itself a partition of another table" % ctx.key)
    if tbl['relpersistence'] != 'p':
        problems.append("%s is UNLOGGED or TEMPORARY; make it a logged table first (ALTER TABLE %s SET LOGGED)"
                        % (ctx.key, ctx.key))
    cols = dict((c['name'], c) for c in snap['columns'])
    ctl = cols.get(ctx.control)
    if ctl is None:
        raise MigrationError("control column %s does not exist in %s (columns: %s)"
                             % (ctx.control, ctx.key, ', '.join(sorted(cols))))
    if ctl['type'] not in catalog.TIME_TYPES:
        raise MigrationError("control column %s is %s; it must be timestamp with time zone, timestamp or date"
                             % (ctx.control, ctl['type']))
    if ctl['generated']:
        raise MigrationError("control column %s is a generated column; pick a stored column" % ctx.control)
    if not ctl['notnull']:
        nulls = ctx.db.scalar(sql.SQL('SELECT count(*) FROM {} WHERE {} IS NULL').format(
            ctx.t_parent, sql.Identifier(ctx.control)))
        if nulls:
            problems.append("%d rows of %s have %s IS NULL; they have no partition. Fix or delete them "
                            "(UPDATE ... SET %s = ... WHERE %s IS NULL) first"
                            % (nulls, ctx.key, ctx.control, ctx.control, ctx.control))
        else:
            ctx.warn("%s will be NOT NULL on the partitioned table (pg_partman requires it)" % ctx.control)
    if ctx.major >= 5 and ctx.server_version < 140000:
        problems.append("pg_partman 5 needs PostgreSQL 14 or newer")
    # keys
    for con in snap['constraints']:
        if con['type'] == 'x':
            problems.append("exclusion constraint %s cannot be carried to a partitioned table unless it contains "
                            "%s with =; drop it before the migration and re-create it afterwards"
                            % (con['name'], ctx.control))
        if con['type'] == 'f' and not con['validated'] and ctx.server_version < 180000:
            problems.append("foreign key %s is NOT VALID: its rows may not all satisfy it, and PostgreSQL before 18 "
                            "refuses NOT VALID foreign keys on a partitioned table. Validate it first "
                            "(ALTER TABLE %s VALIDATE CONSTRAINT %s) or drop it"
                            % (con['name'], ctx.key, quote_ident(con['name'])))
        if con['type'] == 'c' and con['noinherit']:
            problems.append("CHECK constraint %s is NO INHERIT, which partitioned tables refuse; drop it or "
                            "re-create it without NO INHERIT" % con['name'])
        if con['type'] in ('p', 'u'):
            after = widen_columns(con['columns'], ctx.control)
            if after != con['columns']:
                kind = 'PRIMARY KEY' if con['type'] == 'p' else 'UNIQUE'
                ctx.pk_changed.append(describe_key_change(kind, con['columns'], after))
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
            elif ctx.control not in idx['columns']:
                ctx.pk_changed.append('UNIQUE INDEX %s (%s) -> (%s)' % (
                    idx['name'], ', '.join(idx['columns']),
                    ', '.join(widen_columns(idx['columns'], ctx.control))))
    # inbound foreign keys
    bad = []
    for fk in snap['inbound_fks']:
        fk['repoint'] = ctx.control in fk['referenced_columns']
        if not fk['repoint']:
            bad.append(fk)
    if bad:
        names = describe_inbound_fks(bad, ctx.key)
        if ctx.p['inbound_fks'] == 'drop':
            ctx.warn("inbound foreign keys will be dropped (%s: drop) and restored only on revert: %s"
                     % (ctx.opt('inbound_fks'), names))
        else:
            problems.append(
                "foreign keys of other tables reference %s on columns without %s, and a partitioned table "
                "can only be referenced through a key containing the partition key: %s. Fix: drop them, or "
                "widen them to include %s (add the column to the referencing table and reference "
                "(..., %s)), or set %s: drop to have them dropped and reported"
                % (ctx.key, ctx.control, names, ctx.control, ctx.control, ctx.opt('inbound_fks')))
    if snap['views']:
        problems.append("views/rules depend on %s and would keep pointing at %s.%s after the rename: %s. "
                        "Drop them before the migration and re-create them afterwards"
                        % (ctx.key, ctx.schema, ctx.old_name, ', '.join(v['name'] for v in snap['views'])))
    if snap['policies'] or tbl['rls']:
        problems.append("%s uses row level security (policies: %s); not supported by partman_migrate: "
                        "drop the policies and re-create them afterwards"
                        % (ctx.key, ', '.join(p['name'] for p in snap['policies']) or 'none'))
    if snap['publications']:
        ctx.warn("%s is in publication(s) %s; add the partitioned table to them after the migration"
                 % (ctx.key, ', '.join(p['name'] for p in snap['publications'])))
    if tbl['reloptions']:
        ctx.warn("storage parameters of %s (%s) are not carried over: partitioned tables cannot have them; "
                 "set them on the partitions if needed" % (ctx.key, ', '.join(tbl['reloptions'])))
    if tbl['relreplident'] not in ('d', 'n'):
        ctx.warn("replica identity of %s is not the default; set it again on the partitioned table" % ctx.key)
    # copy method
    cidx = catalog.control_index(snap['indexes'], ctx.control)
    method = ctx.p['copy_method']
    if method == 'auto':
        method = 'range' if cidx else 'ctid'
    if method == 'range' and not cidx:
        ctx.warn("copy_method range without a btree index on %s: every slice scans the whole table"
                 % ctx.control)
    if method == 'ctid' and ctx.server_version < 140000:
        problems.append("copy by ctid ranges needs PostgreSQL 14+; create an index on %s (%s) first so the "
                        "range copy can be used" % (ctx.key, ctx.control))
    snap['copy_method'] = method
    snap['control_index'] = cidx['name'] if cidx else None
    snap['control_type'] = ctl['type']
    # buckets holding data
    buckets, counts = compute_buckets(ctx, bool(cidx))
    snap['buckets'] = [b.isoformat() for b in buckets]
    snap['bucket_counts'] = counts
    now = ctx.db.scalar('SELECT now()')
    current = current_bucket(ctx)
    premade = premake_buckets(now, ctx.interval, ctx.p['premake'])
    premade = [current] + list(premade[1:])
    snap['start_partition'] = current.isoformat()
    problems.extend(future_rows_check(ctx, add_interval(premade[-1], ctx.interval)))
    problems.extend(retention_problems(ctx, tbl, snap))
    # disk: the partitions go to the table's tablespace, else to default_tablespace
    space = tbl['tablespace'] or catalog.setting(ctx.db, 'default_tablespace') or None
    path = catalog.data_path_for(ctx.db, space)
    free = catalog.free_disk(path)
    needed = disk_needed(tbl['table_bytes'], tbl['index_bytes'])
    where = '%s (tablespace %s)' % (path, space) if space else path
    if free is None:
        ctx.warn("free disk space unknown (%s not readable from where the module runs); "
                 "make sure about %s are free" % (where or 'the data directory', human_bytes(needed)))
    elif free < needed and ctx.p['disk_check']:
        problems.append("not enough disk space: about %s needed for the copy and its indexes, %s free on %s. "
                        "Free space, or set %s: false if you know better"
                        % (human_bytes(needed), human_bytes(free), where, ctx.opt('disk_check')))
    # lock budget
    max_locks = int(catalog.setting(ctx.db, 'max_locks_per_transaction') or 64)
    max_conn = int(catalog.setting(ctx.db, 'max_connections') or 100)
    n_parts = len(set(buckets) | set(premade)) + 1
    if n_parts * (len(snap['indexes']) + 3) > max_locks * max_conn / 2:
        ctx.warn("%d partitions with %d indexes may exhaust the lock table (max_locks_per_transaction=%d); "
                 "raise max_locks_per_transaction if index builds fail with 'out of shared memory'"
                 % (n_parts, len(snap['indexes']), max_locks))
    rows = sum(counts.values()) if counts else tbl['reltuples']
    ctx.plan = build_plan(snap, ctx.p, ctx.interval, ctx.major, buckets, premade,
                          free_bytes=free, rows_estimate=rows)
    ctx.plan['copy_method'] = method
    ctx.plan['pk_changed'] = ctx.pk_changed
    ctx.plan['steps'] = mode_steps(ctx.online)
    ctx.plan['mode'] = 'online' if ctx.online else 'offline'
    ctx.plan['timezone'] = ctx.db.scalar("SELECT current_setting('TimeZone')")
    problems.extend(predict_partition_names(ctx))
    if ctx.online:
        problems.extend(online_problems(ctx, snap, cidx))
    ctx.partitions_created = [p['name'] for p in ctx.plan['partitions']]
    if problems:
        raise MigrationError('preflight found problems, nothing was changed:\n- ' + '\n- '.join(problems))
    ctx.db.rollback()
    if ctx.check_mode:  # the day before and before the window; not again inside it
        estimate_window(ctx, snap, buckets, rows)
    return snap


def online_problems(ctx, snap, cidx):
    """What online mode needs beyond the offline checks."""
    problems = []
    offline = "or set %s: offline" % ctx.opt('mode')
    if not [c for c in snap['constraints'] if c['type'] == 'p']:
        problems.append("online mode needs a primary key on %s: the changes made during the copy are found again "
                        "by key. Add one (ALTER TABLE %s ADD PRIMARY KEY (...)), %s"
                        % (ctx.key, ctx.key, offline))
    if not cidx:
        problems.append("online mode copies the history by ranges of %s and needs a btree index on it: CREATE INDEX "
                        "CONCURRENTLY ON %s (%s), %s" % (ctx.control, ctx.key, ctx.control, offline))
    if snap['copy_method'] == 'ctid':
        problems.append("online mode copies by ranges of %s: set %s: range (or auto)"
                        % (ctx.control, ctx.opt('copy_method')))
    try:
        ctx.db.execute("SELECT set_config('session_replication_role', 'replica', true)", record=False)
    except psycopg2.Error:
        problems.append("online mode applies the captured changes with session_replication_role = replica, which "
                        "%s may not set: connect as a superuser (the default, postgres), or GRANT SET ON PARAMETER "
                        "session_replication_role TO it (PostgreSQL 15+), %s"
                        % ('the connecting role', offline))
    ctx.db.rollback()
    if ctx.relation_exists(ctx.build_schema, ctx.name):
        problems.append("%s.%s exists: a partitioned table left by an earlier online attempt (revert it with "
                        "state: reverted) or an unrelated table there: drop or rename it"
                        % (ctx.build_schema, ctx.name))
    for p in ctx.plan.get('partitions') or []:
        name = p['name'] if isinstance(p, dict) else p
        relname = name.split('.')[-1].strip('"')
        if ctx.relation_exists(ctx.schema, relname):
            problems.append("%s.%s exists: the cut-over moves the partition of that name there; rename or drop it"
                            % (ctx.schema, relname))
    ctx.db.rollback()
    return problems


# A sample whose wall time exceeds its CPU time this much tells of a busy server (the plan says so).
LOADED_RATIO = 1.5


def estimate_window(ctx, snap, buckets, rows):
    """The plan's estimate of the whole window from a measurement on a sample of the table
    (sample.measure), replacing the rough one from fixed rates; the rough one stays when the sample
    cannot be taken (a warning says why)."""
    own = (ctx.name, ctx.key, '%s.%s' % (quote_ident(ctx.schema), quote_ident(ctx.name)), quote_ident(ctx.name))
    try:
        measured = sample.measure(ctx, snap, buckets, own)
    except Exception as e:  # psycopg2.Error; the estimate is a guide, the preflight goes on
        ctx.db.rollback()
        ctx.warn('the time estimate comes from fixed rates: measuring a sample of %s failed (%s)'
                 % (ctx.key, str(e).strip()))
        measured = None
    est = window_estimate(measured, rows, len(buckets), ctx.p['jobs'], ctx.p.get('copy_pause_ratio'))
    if est is None:
        ctx.plan['estimate_basis'] = 'fixed rates, no sample (rough)'
        return
    # the sample took longer than its CPU time: the server is busy now, and a window now would be too
    cpu = sum(measured.get(k) or 0 for k in ('copy', 'indexes', 'foreign_keys', 'analyze', 'count'))
    if measured.get('clock') == 'cpu' and cpu > 0 and measured.get('wall', 0) / cpu > LOADED_RATIO:
        ctx.plan['estimated_seconds_at_current_load'] = int(round(est['seconds'] * measured['wall'] / cpu))
    ctx.plan['estimated_seconds'] = est['seconds']
    ctx.plan['estimated_time'] = human_seconds(est['seconds'])
    ctx.plan['estimated_phases'] = est['phases']
    # the measurement itself, so that an estimate can be checked (and the factors fitted again) later
    ctx.plan['estimate_sample'] = dict((k, round(v, 3) if isinstance(v, float) else v) for k, v in measured.items())
    ctx.plan['estimate_basis'] = ('an estimate from a sample of %d rows (one partition\'s worth) copied, indexed, '
                                  'checked and analyzed in a temporary table (%s time), scaled %.1fx, with jobs %d'
                                  % (est['sample_rows'], {'cpu': 'its CPU'}.get(measured.get('clock'), 'wall'),
                                     est['scale'], ctx.p['jobs']))


def future_rows_check(ctx, bound):
    """Rows at or after the end of the premade partitions. pg_partman's maintenance counts premake
    from the newest child, so one row dated 2100 would stop it making partitions for today's rows."""
    c = sql.Identifier(ctx.control)
    n, first, last, parts = ctx.db.execute(sql.SQL(
        'SELECT count(*), min({c})::text, max({c})::text, count(DISTINCT date_trunc(%s, {c})) FROM {t} '
        'WHERE {c} >= %s').format(c=c, t=ctx.t_parent), (ctx.interval.trunc, bound), record=False)[0]
    ctx.db.rollback()
    if not n:
        return []
    consequence = ("pg_partman's maintenance counts premake from the newest partition, so it would make no "
                   "partitions for new rows until then, and they would pile up in the default partition")
    if ctx.p.get('allow_future_rows'):
        ctx.warn("%d rows of %s lie beyond now + premake (%s to %s, %d partitions; %s: true): %s. Create "
                 "the partitions ahead yourself and watch the default partition (verify.yml)"
                 % (n, ctx.key, first, last, parts, ctx.opt('allow_future_rows'), consequence))
        return []
    return ["%d rows of %s have %s at or after %s, beyond now + premake (%s to %s, in %d partitions): %s. "
            "Fix or delete those rows first (SELECT * FROM %s WHERE %s >= '%s'), or set %s: true to migrate "
            "them anyway and keep the partitions ahead yourself"
            % (n, ctx.key, ctx.control, bound.isoformat(), first, last, parts, consequence, ctx.key,
               quote_ident(ctx.control), bound.isoformat(), ctx.opt('allow_future_rows'))]


def predict_partition_names(ctx):
    """Name every planned child as the installed pg_partman will (its own check_name_length, then
    PostgreSQL's cut at 63 bytes): pg_partman 4.x counts characters, so a long multibyte table name
    loses its date suffix and every child would get the same name."""
    fmt = datetime_format(ctx.major, ctx.interval)
    parts = ctx.plan['partitions']
    suffixes = [datetime.datetime.fromisoformat(p['from']).strftime(fmt) for p in parts]
    fn = sql.SQL('{}.check_name_length').format(sql.Identifier(ctx.partman_schema))
    rows = ctx.db.execute(sql.SQL(
        'SELECT {fn}(%s, s, true)::name::text FROM unnest(%s::text[]) WITH ORDINALITY u(s, i) ORDER BY i'
    ).format(fn=fn), (ctx.name, suffixes), record=False)
    default = ctx.db.scalar(sql.SQL("SELECT {}(%s, '_default')::name::text").format(fn), (ctx.name,))
    ctx.db.rollback()
    names = [r[0] for r in rows]
    for p, name in zip(parts, names):
        p['name'] = qualified(ctx.schema, name)
    ctx.plan['default_partition'] = qualified(ctx.schema, default)
    clashes = sorted(set(n for n in names + [default, ctx.name, ctx.old_name]
                         if (names + [default, ctx.name, ctx.old_name]).count(n) > 1))
    if not clashes:
        return []
    room = NAMEDATALEN - len(('_p' + suffixes[0]).encode('utf-8'))
    return ["pg_partman %s would give several partitions of %s the same name (%s): the table's name is %d "
            "characters, %d bytes, and with the date suffix the names pass PostgreSQL's limit of 63 bytes. "
            "Rename the table to at most %d bytes first (ALTER TABLE ... RENAME TO ...)"
            % (ctx.partman_version, ctx.key, ', '.join(clashes[:3]), len(ctx.name),
               len(ctx.name.encode('utf-8')), room)]


def current_bucket(ctx):
    return ctx.db.scalar('SELECT date_trunc(%s, now())', (ctx.interval.trunc,))


def compute_buckets(ctx, have_index, table=None):
    """Bucket starts (timestamptz) that hold data. With an index on the
    control column: a loose index scan (one probe per bucket); without:
    one GROUP BY scan, which also gives the row count of each bucket."""
    t = table or ctx.t_parent
    c = sql.Identifier(ctx.control)
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
        # rows with a NULL control value have no bucket: the preflight names them as a problem
        q = sql.SQL('SELECT date_trunc(%(unit)s, {c})::timestamptz AS bucket, count(*) FROM {t} '
                    'WHERE {c} IS NOT NULL GROUP BY 1 ORDER BY 1').format(c=c, t=t)
    rows = ctx.db.execute(q, {'unit': ctx.interval.trunc, 'step': ctx.interval.pg_text}, record=False)
    buckets = [r[0] for r in rows]
    counts = dict((r[0].isoformat(), r[1]) for r in rows if r[1] is not None)
    return buckets, counts


def retention_check(ctx, tbl, snap):
    problems = retention_problems(ctx, tbl, snap)
    if problems:
        raise MigrationError(problems[0])


def retention_problems(ctx, tbl, snap):
    """What the first maintenance run would take away from the live table: partitions older than
    the retention are dropped (retention_keep_table: false) or detached (true). Either needs the
    user's explicit confirmation when those partitions hold rows."""
    ret = ctx.p.get('retention')
    if not ret:
        return []
    keep = ctx.p['retention_keep_table']
    verb, confirm = ('detach', 'retention_confirm_detach') if keep else ('DROP', 'retention_confirm_drop')
    rows, parts = ctx.db.execute(sql.SQL(
        'SELECT count(*), count(DISTINCT date_trunc(%s, {c})) FROM {t} WHERE {c} < now() - %s::interval'
    ).format(c=sql.Identifier(ctx.control), t=ctx.t_parent), (ctx.interval.trunc, ret), record=False)[0]
    ctx.db.rollback()
    if not rows:
        return []
    what = ("retention %s (%s: %s) would %s %d partitions holding %d rows of %s older than %s at the first "
            "pg_partman maintenance run" % (ret, ctx.opt('retention_keep_table'), str(keep).lower(), verb,
                                            parts, rows, ctx.key, ret))
    if ctx.p.get(confirm):
        ctx.warn(what + ' (%s: true)' % ctx.opt(confirm))
        return []
    return ["%s%s. Nothing was changed. Set %s: true if that is intended, or lengthen %s (or leave it empty "
            "to keep every partition)" % (what, ', taking them away from the table the application reads'
                                          if keep else '', ctx.opt(confirm), ctx.opt('retention'))]
