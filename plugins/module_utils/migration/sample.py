# -*- coding: utf-8 -*-
# Copyright: soar.partman contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The preflight's measurement for the whole-window estimate (estimate.window_estimate): one
partition's worth of the real table's rows (at most SAMPLE_MAX_ROWS) copied into a TEMP table, the
table's keys and indexes built on it as the migration builds them on each partition, its outgoing
foreign keys checked the way PostgreSQL validates them, ANALYZE and the verification's counts, each
timed. All in one transaction that is rolled back: nothing stays, and the real table is only read."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import time

from ansible_collections.soar.partman.plugins.module_utils import batches
from ansible_collections.soar.partman.plugins.module_utils import ddl
from ansible_collections.soar.partman.plugins.module_utils.intervals import add_interval

try:
    from psycopg2 import sql
except ImportError:  # the module reports the missing library
    sql = None

SAMPLE_MAX_ROWS = 200000
SAMPLE_TABLE = 'partman_migrate_sample'
FK_RE = re.compile(r'^FOREIGN KEY \((?P<cols>[^)]*)\) REFERENCES (?P<ref>.+?)\((?P<refcols>[^)]*)\)')


def sample_bucket(buckets):
    """The bucket measured: the middle one of those holding data (the newest may be a partial day)."""
    if not buckets:
        return None
    return sorted(buckets)[len(buckets) // 2]


def fk_check_query(target, con):
    """PostgreSQL's own validation of a foreign key (RI_Initial_Check): the rows of target whose key is
    set and has no match in the referenced table. None for a definition it cannot read."""
    m = FK_RE.match(con.get('def') or '')
    if not m:
        return None
    cols = [c.strip() for c in m.group('cols').split(',')]
    refcols = [c.strip() for c in m.group('refcols').split(',')]
    if len(cols) != len(refcols):
        return None
    # the names as pg_get_constraintdef printed them (quoted where needed), from the catalog
    on = ' AND '.join('p.%s = f.%s' % (r, c) for c, r in zip(cols, refcols))
    notnull = ' AND '.join('f.%s IS NOT NULL' % c for c in cols)
    rest = ' f LEFT JOIN ONLY %s p ON %s WHERE p.%s IS NULL AND %s LIMIT 1' % (m.group('ref'), on, refcols[0], notnull)
    return sql.SQL('SELECT 1 FROM ') + target + sql.SQL(rest)


def backend_cpu(ctx, pid):
    """A function giving the CPU seconds the session's backend (pid) has used, read from
    /proc/<pid>/stat, when the module runs on the database server (a Unix socket connection, the
    process a postgres one); None otherwise. CPU time is what the work costs on an idle server: the
    wall time of a sample moves with whatever else the machine runs."""
    host = ctx.p.get('login_host') or ''
    if host and not host.startswith('/'):
        return None
    stat = '/proc/%d/stat' % int(pid)
    try:
        with open('/proc/%d/cmdline' % int(pid), 'rb') as f:
            if b'postgres' not in f.read():
                return None
        tick = float(os.sysconf('SC_CLK_TCK'))

        def cpu():
            with open(stat) as f:
                fields = f.read().rsplit(')', 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / tick   # utime, stime
        cpu()
        return cpu
    except (IOError, OSError, ValueError, IndexError):
        return None


def measure(ctx, snap, buckets, own_names):
    """Seconds of each kind of work on the sample and its row count:
    {'rows', 'copy', 'indexes', 'foreign_keys', 'analyze', 'count', 'clock', 'wall'}; None when the
    table is empty. clock: 'cpu' (the backend's CPU seconds, backend_cpu) or 'wall'; wall: the wall
    seconds of all of it. The builds run without
    parallel workers, so that the backend's CPU time is all of their work.
    own_names: names the table's foreign keys towards itself go by (they are left out, as their
    validation needs the whole table). Rolled back whatever happens."""
    bucket = sample_bucket(buckets)
    if bucket is None:
        return None
    db = ctx.db
    tmp = sql.Identifier('pg_temp', SAMPLE_TABLE)
    cols = batches.column_list(snap['columns'])
    c = sql.Identifier(ctx.control)
    out = {}
    try:
        db.rollback()
        clock = backend_cpu(ctx, db.scalar('SELECT pg_backend_pid()') or 0) or time.time
        out['clock'] = 'wall' if clock is time.time else 'cpu'
        wall0 = time.time()
        db.execute("SET LOCAL max_parallel_maintenance_workers = 0", record=False)
        db.execute(sql.SQL('CREATE TEMP TABLE {} (LIKE {} INCLUDING DEFAULTS INCLUDING GENERATED)').format(
            tmp, ctx.t_parent), record=False)
        ident_cols = sql.SQL(', ').join(sql.Identifier(x) for x in cols)
        t0 = clock()
        db.execute(sql.SQL('INSERT INTO {t} ({cols}) SELECT {cols} FROM {src} WHERE {c} >= %s AND {c} < %s '
                           'LIMIT %s').format(t=tmp, cols=ident_cols, src=ctx.t_parent, c=c),
                   (bucket, add_interval(bucket, ctx.interval), SAMPLE_MAX_ROWS), record=False)
        out['copy'] = clock() - t0
        out['rows'] = max(db.last_rowcount or 0, 0)
        t0 = clock()
        n = 0
        for con in snap['constraints']:
            if con['type'] in ('p', 'u'):
                n += 1
                db.execute(ddl.key_or_index('constraint', con, tmp, '%s_%d' % (SAMPLE_TABLE, n), ctx.control),
                           record=False)
        for idx in snap['indexes']:
            if not idx['constraint'] and idx.get('tail'):
                n += 1
                db.execute(ddl.key_or_index('index', idx, tmp, '%s_%d' % (SAMPLE_TABLE, n), ctx.control),
                           record=False)
        out['indexes'] = clock() - t0
        t0 = clock()
        for con in snap['constraints']:
            if con['type'] == 'f' and con.get('references') not in own_names:
                q = fk_check_query(tmp, con)
                if q is not None:
                    db.execute(q, record=False)
        out['foreign_keys'] = clock() - t0
        t0 = clock()
        db.execute(sql.SQL('ANALYZE {}').format(tmp), record=False)
        out['analyze'] = clock() - t0
        t0 = clock()
        db.execute(sql.SQL('SELECT count(*) FROM {}').format(tmp), record=False)
        out['count'] = clock() - t0
        # the sample's wall time: against its CPU time, how busy the server is now
        out['wall'] = time.time() - wall0
    finally:
        db.rollback()
    return out
