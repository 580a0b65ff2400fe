"""The suite's cases as data. Each module case runs in a database of its own, cloned from the
template (the fixture's soar database: public.fixes with 2000 fixes over the last 3 days, its 17
indexes, 4 outgoing and 1 inbound foreign key; schema rel is created by the setups below)."""

# The table every fault and most bad inputs use, and the module options they share.
FIXES = dict(table='public.fixes', control='received_at', inbound_fks='drop', batch_size=50,
             lock_timeout=30, progress_interval=1)

# rel.events: a plain table for the writer and for several bad inputs (3000 rows over 3 days).
EVENTS_SQL = [
    'CREATE SCHEMA IF NOT EXISTS rel',
    'CREATE TABLE rel.events (id bigserial PRIMARY KEY, ts timestamptz NOT NULL DEFAULT now(), payload text)',
    'CREATE INDEX ON rel.events (ts)',
    "INSERT INTO rel.events (ts, payload) SELECT now() - i * interval '86 seconds', 'seed' "
    "FROM generate_series(1, 3000) i",
]
EVENTS = dict(table='rel.events', control='ts', batch_size=50, lock_timeout=30, progress_interval=1)


def small(name, cols, ctl, extra=(), rows=300, days=3, schema='rel', ts_expr=None):
    """Setup of a small table schema.name(cols) with `rows` rows spread over `days` days."""
    t = '%s.%s' % (schema, name)
    ts = ts_expr or "now() - (i * %d / %d) * interval '1 second'" % (days * 86400, rows)
    return ['CREATE SCHEMA IF NOT EXISTS %s' % schema.split('.')[0],
            'CREATE TABLE %s (%s)' % (t, cols)] + list(extra) + [
        "INSERT INTO %s (%s) SELECT %s FROM generate_series(1, %d) i" % (t, ctl, ts, rows)]


# --------------------------------------------------------------------------------------- bad inputs
# (name, module, args, setup SQL, substrings the message must hold (case-insensitive))
# Every one: failed, changed false, the catalog fingerprint unchanged.
BAD = [
    # partman_migrate: the table
    ('missing-table', 'partman_migrate', dict(FIXES, table='public.nope'), [], ['public.nope', 'does not exist']),
    ('missing-control', 'partman_migrate', dict(FIXES, control='nope'), [], ['nope', 'control']),
    ('control-not-time', 'partman_migrate', dict(EVENTS, control='id'), EVENTS_SQL, ['id', 'control']),
    ('control-nulls', 'partman_migrate', dict(EVENTS, control='t2'),
     EVENTS_SQL + ['ALTER TABLE rel.events ADD COLUMN t2 timestamptz', 'UPDATE rel.events SET t2 = ts WHERE id > 5'],
     ['t2', 'null']),
    ('already-partitioned', 'partman_migrate', dict(EVENTS, table='rel.parted'),
     ['CREATE SCHEMA rel', 'CREATE TABLE rel.parted (id int, ts timestamptz NOT NULL) PARTITION BY RANGE (ts)'],
     ['rel.parted', 'partitioned']),
    ('leftover-old', 'partman_migrate', FIXES, ['CREATE TABLE public.fixes_old (id int)'], ['fixes_old', 'old_suffix']),
    ('interval-typo', 'partman_migrate', dict(FIXES, interval='1 dy'), [], ['interval', '1 dy']),
    ('interval-empty', 'partman_migrate', dict(FIXES, interval=''), [], ['interval']),
    ('interval-zero', 'partman_migrate', dict(FIXES, interval='0 days'), [], ['interval', '0 days']),
    ('interval-negative', 'partman_migrate', dict(FIXES, interval='-1 day'), [], ['interval', '-1 day']),
    ('premake-zero', 'partman_migrate', dict(FIXES, premake=0), [], ['premake']),
    ('premake-negative', 'partman_migrate', dict(FIXES, premake=-1), [], ['premake']),
    ('premake-huge', 'partman_migrate', dict(FIXES, premake=100000), [], ['premake', '100000']),
    ('retention-unitless', 'partman_migrate', dict(FIXES, retention='30'), [], ['retention', '30']),
    ('retention-below-interval', 'partman_migrate', dict(FIXES, retention='1 hour'), [], ['retention', '1 hour']),
    ('retention-drop-unconfirmed', 'partman_migrate', dict(FIXES, retention='1 day', retention_keep_table=False), [],
     ['retention_confirm_drop']),
    ('retention-detach-unconfirmed', 'partman_migrate', dict(FIXES, retention='1 day'), [],
     ['retention_confirm_detach']),
    ('inbound-fk', 'partman_migrate', dict(FIXES, inbound_fks='error'), [], ['fix_annotations', 'inbound_fks']),
    ('view-depends', 'partman_migrate', FIXES, ['CREATE VIEW public.recent_fixes AS SELECT id FROM public.fixes'],
     ['recent_fixes', 'view']),
    ('row-level-security', 'partman_migrate', FIXES,
     ['ALTER TABLE public.fixes ENABLE ROW LEVEL SECURITY', 'CREATE POLICY p_all ON public.fixes USING (true)'],
     ['row level security']),
    ('fk-not-valid', 'partman_migrate', FIXES,
     ['CREATE TABLE public.rel_ref (n int PRIMARY KEY)', 'ALTER TABLE public.fixes ADD COLUMN rel_n int',
      'ALTER TABLE public.fixes ADD CONSTRAINT fixes_rel_n_fkey FOREIGN KEY (rel_n) REFERENCES public.rel_ref NOT VALID'],
     ['fixes_rel_n_fkey', 'not valid']),
    ('unlogged', 'partman_migrate', EVENTS, EVENTS_SQL + ['ALTER TABLE rel.events SET UNLOGGED'], ['unlogged']),
    ('exclusion-constraint', 'partman_migrate', EVENTS,
     EVENTS_SQL + ['ALTER TABLE rel.events ADD COLUMN span tstzrange',
                   'ALTER TABLE rel.events ADD CONSTRAINT events_excl EXCLUDE USING gist (span WITH &&)'],
     ['events_excl', 'exclusion']),
    ('future-rows', 'partman_migrate', EVENTS,
     EVENTS_SQL + ["INSERT INTO rel.events (ts, payload) VALUES ('2100-01-01', 'future'), ('2100-01-02', 'future')"],
     ['allow_future_rows', '2100']),
    ('batch-size-zero', 'partman_migrate', dict(FIXES, batch_size=0), [], ['batch_size']),
    ('batch-size-negative', 'partman_migrate', dict(FIXES, batch_size=-1), [], ['batch_size']),
    ('copy-pause-ratio-negative', 'partman_migrate', dict(FIXES, copy_pause_ratio=-1), [], ['copy_pause_ratio']),
    ('jobs-zero', 'partman_migrate', dict(FIXES, jobs=0), [], ['jobs']),
    ('jobs-negative', 'partman_migrate', dict(FIXES, jobs=-1), [], ['jobs']),
    ('maintenance-work-mem', 'partman_migrate', dict(FIXES, maintenance_work_mem='lots'), [], ['maintenance_work_mem']),
    ('login-port', 'partman_migrate', dict(FIXES, login_host='127.0.0.1', login_port=1), [], ['login_port']),
    ('login-host', 'partman_migrate', dict(FIXES, login_host='no-such-host.invalid'), [], ['login_host']),
    ('partman-schema', 'partman_migrate', dict(FIXES, partman_schema='nope'), [], ['partman_schema']),
    ('lock-timeout-negative', 'partman_migrate', dict(FIXES, lock_timeout=-1), [], ['lock_timeout']),
    ('table-quote-newline', 'partman_migrate', dict(FIXES, table='public."fi\nxes'), [], ['table']),
    ('partman-not-installed', 'partman_migrate', FIXES, ['DROP EXTENSION pg_partman CASCADE'], ['pg_partman']),
    ('interval-unsupported', 'partman_migrate', dict(FIXES, interval='2 days'), [], ['interval', '2 days']),
    ('var-prefix-names-role-variable', 'partman_migrate', dict(FIXES, premake=-1, var_prefix='migration_'), [],
     ['migration_premake']),
    # partman_info
    ('info-missing-table', 'partman_info', dict(table='public.nope'), [], ['public.nope']),
    ('info-partman-schema', 'partman_info', dict(table='public.fixes', partman_schema='nope'), [], ['partman_schema']),
    ('info-not-partitioned', 'partman_info', dict(table='public.fixes'), [], ['public.fixes']),
    # partman_repair
    ('repair-max-batches-negative', 'partman_repair', dict(table='public.fixes', max_batches=-1), [], ['max_batches']),
    ('repair-not-partitioned', 'partman_repair', dict(table='public.fixes'), [], ['public.fixes']),
    ('repair-missing-table', 'partman_repair', dict(table='public.nope'), [], ['public.nope']),
    # partman_finalize
    # an old table that no migration made
    ('finalize-not-migrated', 'partman_finalize', dict(table='public.fixes', confirm=True),
     ['CREATE TABLE public.fixes_old (LIKE public.fixes)'], ['public.fixes']),
    ('finalize-unconfirmed', 'partman_finalize', dict(table='public.fixes'),
     ['CREATE TABLE public.fixes_old (LIKE public.fixes)'], ['confirm']),
    # pg_cron_job (pg_cron is not installed here)
    ('cron-job-no-pg-cron', 'pg_cron_job', dict(name='x', schedule='0 3 * * *', command='SELECT 1', login_db='postgres'),
     [], ['pg_cron']),
    ('cron-job-no-schedule', 'pg_cron_job', dict(name='x', command='SELECT 1', login_db='postgres'), [], ['schedule']),
    # partman_config
    ('config-retention-unitless', 'partman_config', dict(table='public.fixes', retention='30'), [], ['retention', '30']),
    ('config-missing-table', 'partman_config', dict(table='public.nope', retention='30 days'), [], ['public.nope']),
    ('config-not-partman', 'partman_config', dict(table='public.fixes', retention='30 days'), [], ['public.fixes']),
]

# ------------------------------------------------------------------------------- unusual tables
# (name, module args, setup SQL, may_refuse): they must migrate with every row and every index
# (may_refuse: a clear refusal before any change is as good).
NAME62 = 'a' * 62
NAME_MB = 'Flüge_' + 'ü' * 27            # 33 characters, 60 bytes
UNUSUAL = [
    ('upper-case', dict(table='rel."Events"', control='At', batch_size=40),
     small('"Events"', '"Id" bigserial PRIMARY KEY, "At" timestamptz NOT NULL, "Val" text', '"At"',
           ['CREATE INDEX "Events_At" ON rel."Events" ("At")']), False),
    ('unicode', dict(table='rel."Flüge_✈"', control='zeit', batch_size=40),
     small('"Flüge_✈"', 'id bigserial PRIMARY KEY, zeit timestamptz NOT NULL', 'zeit',
           ['CREATE INDEX ON rel."Flüge_✈" (zeit)']), False),
    ('reserved-words', dict(table='rel."order"', control='when', batch_size=40),
     small('"order"', '"user" text DEFAULT current_user, "order" int DEFAULT 1, "select" bigserial PRIMARY KEY, '
                      '"when" timestamptz NOT NULL', '"when"', ['CREATE INDEX ON rel."order" ("when", "user")']), False),
    ('schema-with-space', dict(table='"Odd Schema".t', control='ts', batch_size=40),
     small('t', 'id bigserial PRIMARY KEY, ts timestamptz NOT NULL', 'ts', ['CREATE INDEX ON "Odd Schema".t (ts)'],
           schema='"Odd Schema"'), False),
    ('name-62-chars', dict(table='rel.' + NAME62, control='ts', batch_size=40),
     small(NAME62, 'id bigserial PRIMARY KEY, ts timestamptz NOT NULL', 'ts',
           ['CREATE INDEX ON rel.%s (ts)' % NAME62]), False),
    ('name-multibyte-60-bytes', dict(table='rel."%s"' % NAME_MB, control='ts', batch_size=40),
     small('"%s"' % NAME_MB, 'id bigserial PRIMARY KEY, ts timestamptz NOT NULL', 'ts',
           ['CREATE INDEX ON rel."%s" (ts)' % NAME_MB]), True),
    ('no-primary-key', dict(table='rel.nopk', control='ts', batch_size=40),
     small('nopk', 'ts timestamptz NOT NULL, v int', 'ts', ['CREATE INDEX ON rel.nopk (ts)']), False),
    ('expression-partial-indexes', dict(table='rel.expr', control='ts', batch_size=40),
     small('expr', 'id bigserial PRIMARY KEY, ts timestamptz NOT NULL, name text DEFAULT md5(random()::text), '
                   'flag boolean DEFAULT random() < 0.1', 'ts',
           ['CREATE INDEX ON rel.expr (ts)', 'CREATE INDEX expr_lower_name ON rel.expr (lower(name))',
            'CREATE INDEX expr_flagged ON rel.expr (ts) WHERE flag']), False),
    ('rows-in-1970', dict(table='rel.epoch', control='ts', batch_size=40),
     small('epoch', 'id bigserial PRIMARY KEY, ts timestamptz NOT NULL', 'ts', ['CREATE INDEX ON rel.epoch (ts)'],
           ts_expr="CASE WHEN i <= 5 THEN timestamptz '1970-01-01 00:00:00+00' + i * interval '1 hour' "
                   "ELSE now() - i * interval '10 minutes' END"), False),
    ('date-control', dict(table='rel.daily', control='day', batch_size=40),
     small('daily', 'id bigserial PRIMARY KEY, day date NOT NULL', 'day', ['CREATE INDEX ON rel.daily (day)'],
           ts_expr="current_date - (i % 3)"), False),
    ('timestamp-without-tz', dict(table='rel.naive', control='ts', batch_size=40),
     small('naive', 'id bigserial PRIMARY KEY, ts timestamp NOT NULL', 'ts', ['CREATE INDEX ON rel.naive (ts)'],
           ts_expr="localtimestamp - i * interval '10 minutes'"), False),
    ('quote-in-name', dict(table='rel."we""ird"', control='ts', batch_size=40),
     small('"we""ird"', 'id bigserial PRIMARY KEY, ts timestamptz NOT NULL', 'ts',
           ['CREATE INDEX ON rel."we""ird" (ts)']), False),
    ('interval-1-month', dict(FIXES, interval='1 month'), [], False),
    ('fixes-jobs-2-checksum', dict(FIXES, jobs=2, verify='checksum'), [], False),
    ('no-control-index-ctid', dict(EVENTS, copy_method='auto'), EVENTS_SQL + ['DROP INDEX rel.events_ts_idx'], False),
]
# partman_info without a table must work after these (whole database).
INFO_AFTER = ('quote-in-name', 'upper-case')

# ----------------------------------------------------------------------------------------- faults
# Locks that stop the module at a known point (a test session holds them):
ST = "SELECT 1 FROM partman.partman_migrate_state WHERE table_name = '%s' FOR NO KEY UPDATE"
PART_ROW = ("SELECT 1 FROM partman.partman_migrate_partition WHERE table_name = '{t}' AND partition = "
            "(SELECT partition FROM partman.partman_migrate_partition WHERE table_name = '{t}' "
            "ORDER BY lo, partition OFFSET {n} LIMIT 1) FOR UPDATE")
CHILD_LOCK = ("DO $$ BEGIN EXECUTE format('LOCK TABLE %s IN ROW EXCLUSIVE MODE', (SELECT partition::regclass "
              "FROM partman.partman_migrate_partition WHERE table_name = '{t}' ORDER BY lo, partition "
              "OFFSET {n} LIMIT 1)); END $$")


def at_partitioned(t='public.fixes'):
    """Module stopped after its partitioned step, before recording it: the partition table is
    SHARE-locked from the start (its first register waits), then the state row is locked, then the
    first lock is released."""
    return [['hold', 'p', 'LOCK TABLE partman.partman_migrate_partition IN SHARE MODE'], ['start', 'r1'],
            ['blocked'], ['hold_when', 'a', ST % t], ['release', 'p'], ['blocked']]


def then(lock, t='public.fixes'):
    """From at_partitioned: take another lock, release the state row: the module runs on to it."""
    return at_partitioned(t) + [['hold' if lock.startswith('DO') else 'hold_when', 'b', lock], ['release', 'a'],
                                ['blocked']]


KILL = [['kill', 'r1'], ['gone'], ['check', 'after kill -9']]
TERM = [['terminate'], ['wait', 'r1'], ['gone'], ['check', 'after pg_terminate_backend']]
RESTART = [['restart'], ['wait', 'r1'], ['gone'], ['check', 'after restart']]
RESUME = [['run', 'resume']]
REVERT = [['run', 'revert', {'state': 'reverted'}]]
COPY_MID = PART_ROW.format(t='public.fixes', n=2)

# (name, args, setup, ops, expected step recorded when stopped, outcome: partitioned | reverted)
F10 = dict(FIXES, batch_size=10)
FAULTS = [
    ('kill-prepare-lock-wait', F10, [], [['hold', 'h', 'LOCK TABLE public.fixes IN ACCESS SHARE MODE'],
                                         ['start', 'r1'], ['blocked']] + KILL + RESUME, None, 'partitioned'),
    ('kill-prepare-transaction', F10, [], [['hold', 'h', 'LOCK TABLE partman.partman_migrate_state IN SHARE MODE'],
                                           ['start', 'r1'], ['blocked']] + KILL + RESUME, None, 'partitioned'),
    ('kill-partitions-registered', F10, [], at_partitioned() + KILL + RESUME, 'prepared', 'partitioned'),
    ('kill-copy-first-partition', F10, [], then(PART_ROW.format(t='public.fixes', n=0)) + KILL + RESUME,
     'partitioned', 'partitioned'),
    ('kill-copy-middle', F10, [], then(COPY_MID) + KILL + RESUME, 'partitioned', 'partitioned'),
    ('kill-copy-last', F10, [], then(PART_ROW.format(t='public.fixes', n=3)) + KILL + RESUME,
     'partitioned', 'partitioned'),
    ('kill-copy-middle-jobs-2', dict(F10, jobs=2), [], then(COPY_MID) + KILL + RESUME, 'partitioned', 'partitioned'),
    ('kill-index-build', F10, [], then(CHILD_LOCK.format(t='public.fixes', n=1)) + KILL + RESUME,
     'copied', 'partitioned'),
    ('kill-index-build-jobs-2', dict(F10, jobs=2), [], then(CHILD_LOCK.format(t='public.fixes', n=1)) + KILL + RESUME,
     'copied', 'partitioned'),
    ('kill-foreign-keys', F10, [], [['hold', 'd', 'LOCK TABLE public.devices IN ROW EXCLUSIVE MODE'],
                                    ['start', 'r1'], ['blocked']] + KILL + RESUME, 'indexed', 'partitioned'),
    ('kill-configure', F10, [], then("SELECT 1 FROM partman.part_config WHERE parent_table = 'public.fixes' FOR UPDATE")
     + KILL + RESUME, 'verified', 'partitioned'),
    ('kill-twice-copy-then-index', F10, [], then(COPY_MID) + KILL + [
        ['hold', 'c', CHILD_LOCK.format(t='public.fixes', n=1)], ['start', 'r2'], ['blocked'], ['kill', 'r2'], ['gone'],
        ['check', 'after second kill -9']] + RESUME, 'partitioned', 'partitioned'),
    ('terminate-copy', F10, [], then(COPY_MID) + TERM + RESUME, 'partitioned', 'partitioned'),
    ('terminate-index-build', F10, [], then(CHILD_LOCK.format(t='public.fixes', n=1)) + TERM + RESUME,
     'copied', 'partitioned'),
    ('terminate-foreign-keys', F10, [], [['hold', 'd', 'LOCK TABLE public.devices IN ROW EXCLUSIVE MODE'],
                                         ['start', 'r1'], ['blocked']] + TERM + RESUME, 'indexed', 'partitioned'),
    ('restart-postgresql-copy', F10, [], then(COPY_MID) + RESTART + RESUME, 'partitioned', 'partitioned'),
    ('restart-postgresql-index-build', F10, [], then(CHILD_LOCK.format(t='public.fixes', n=1)) + RESTART + RESUME,
     'copied', 'partitioned'),
    ('concurrent-run-while-blocked', F10, [], [['hold', 'h', 'LOCK TABLE public.fixes IN ACCESS SHARE MODE'],
                                               ['start', 'r1'], ['blocked'], ['run', 'second'], ['release', 'h'],
                                               ['wait', 'r1']], None, 'partitioned'),
    ('concurrent-runs-together', F10, [], [['start', 'r1'], ['start', 'r2'], ['wait', 'r1'], ['wait', 'r2'],
                                           ['run', 'resume']], None, 'partitioned'),
    ('revert-after-kill-copy', F10, [], then(COPY_MID) + KILL + REVERT, 'partitioned', 'reverted'),
    ('revert-after-kill-index', F10, [], then(CHILD_LOCK.format(t='public.fixes', n=1)) + KILL + REVERT,
     'copied', 'reverted'),
    ('kill-revert-then-revert', F10, [], [['run', 'migrate'], ['hold_when', 'a', ST % 'public.fixes'],
                                          ['start', 'r1', {'state': 'reverted'}], ['blocked']] + KILL + REVERT,
     'done', 'reverted'),
    # the table on a tablespace of its own, on a tmpfs with 60 % of its size free: the preflight refuses
    # naming the tablespace's path; with disk_check false the copy fails with "No space left on
    # device"; more room (remount), resume
    ('tablespace-full', F10, [], [['tablespace', 0.6], ['fingerprint', 'before refusal'], ['run', 'refused'],
                                  ['fingerprint', 'after refusal'], ['run', 'r1', {'disk_check': False}], ['gone'],
                                  ['check', 'after no space left'], ['grow', '256m'], ['run', 'resume']],
     None, 'partitioned'),
    ('writer-left-running', dict(EVENTS, batch_size=5), EVENTS_SQL,
     [['writer_start', "INSERT INTO rel.events (payload) VALUES ('writer') RETURNING id"], ['sleep', 0.3],
      ['run', 'migrate'], ['sleep', 0.3], ['writer_stop']], None, 'partitioned'),
    ('writer-during-resume', dict(EVENTS, batch_size=5), EVENTS_SQL,
     then(PART_ROW.format(t='rel.events', n=1), 'rel.events') + KILL + [
         ['writer_start', "INSERT INTO rel.events (payload) VALUES ('writer') RETURNING id"], ['sleep', 0.3],
         ['run', 'resume'], ['sleep', 0.3], ['writer_stop']], 'partitioned', 'partitioned'),
]

# ------------------------------------------------------------------------------------- secrets
CANARY = 'Canary-Pw-7f2b9c'        # through login_password
CANARY_CP = 'Canary-Cp-41d8e0'     # through connect_params.password
CANARY_SQL = [
    "DO $$ BEGIN CREATE ROLE rel_canary LOGIN SUPERUSER PASSWORD '%s'; "
    "EXCEPTION WHEN duplicate_object THEN NULL; END $$" % CANARY,
    "DO $$ BEGIN CREATE ROLE rel_canary_cp LOGIN SUPERUSER PASSWORD '%s'; "
    "EXCEPTION WHEN duplicate_object THEN NULL; END $$" % CANARY_CP,
]
# (database, setup): made before the controller's secrets cases
SECRET_DBS = [('sec_login', CANARY_SQL, None), ('sec_cp', CANARY_SQL, None), ('sec_fail', CANARY_SQL, None),
              ('sec_role', CANARY_SQL, None)]
TCP = dict(login_host='127.0.0.1')
# (name, module, args): `ansible -vvv all -m module -a args`; must not print the canaries
SECRET_ADHOC = [
    ('secret-login-password', 'soar.partman.partman_migrate',
     dict(FIXES, login_db='sec_login', login_user='rel_canary', login_password=CANARY, **TCP)),
    ('secret-connect-params', 'soar.partman.partman_migrate',
     dict(FIXES, login_db='sec_cp', login_user='rel_canary_cp', connect_params={'password': CANARY_CP}, **TCP)),
    ('secret-failure', 'soar.partman.partman_migrate',
     dict(FIXES, premake=-1, login_db='sec_fail', login_user='rel_canary_cp', login_password=CANARY,
          connect_params={'password': CANARY_CP}, **TCP)),
]
# the ones that must succeed (the others must fail)
SECRET_OK = ('secret-login-password', 'secret-connect-params', 'secret-role')
MIGRATION_ROLE = dict(migration_jobs=1, migration_progress_interval=1, migration_inbound_fks='drop',
                      migration_batch_size=500)
SECRET_PLAYBOOK = [{
    'name': 'The migration role with a password (ansible-playbook -vvv)',
    'hosts': 'all',
    'gather_facts': False,
    'become': True,
    'roles': [{'role': 'soar.partman.migration', 'vars': dict(
        MIGRATION_ROLE, migration_database='sec_role', migration_login_host='127.0.0.1',
        migration_login_user='rel_canary', migration_login_password=CANARY)}],
}]
# Files the roles and modules may write (the suite's own work directory is left out).
SCAN_PATHS = ['/etc', '/root', '/home', '/tmp', '/var/tmp', '/var/log', '/usr/local', '/var/spool',
              '/var/lib/postgresql/.ansible_async', '/var/lib/postgresql/.ansible',
              '/var/lib/postgresql/.ansible_async_soar_partman']

FAULT_WHERE = {'writer-left-running': "payload = 'seed'", 'writer-during-resume': "payload = 'seed'"}

# ----------------------------------------------------------------------------------- role variables
# (name, role, variables (@DB@: the case's database), setup SQL, migrate first (module args) or None,
#  substrings the failure message must hold). Every one: the play fails at the role, the database's
# fingerprint is unchanged.
MR = dict(MIGRATION_ROLE, migration_database='@DB@')
ROLE_CASES = [
    ('migration-jobs-type', 'soar.partman.migration', dict(MR, migration_jobs='many'), [], None, ['migration_jobs']),
    ('migration-copy-pause-ratio', 'soar.partman.migration', dict(MR, migration_copy_pause_ratio=-2), [], None,
     ['migration_copy_pause_ratio', 'between 0']),
    ('migration-verify-choice', 'soar.partman.migration', dict(MR, migration_verify='sha1'), [], None,
     ['migration_verify']),
    ('migration-inbound-fks-choice', 'soar.partman.migration', dict(MR, migration_inbound_fks='keep'), [], None,
     ['migration_inbound_fks']),
    ('migration-inbound-fk-error', 'soar.partman.migration', dict(MR, migration_inbound_fks='error'), [], None,
     ['migration_inbound_fks', 'fix_annotations']),
    ('migration-interval', 'soar.partman.migration', dict(MR, migration_interval='1 dy'), [], None,
     ['migration_interval']),
    ('migration-premake', 'soar.partman.migration', dict(MR, migration_premake=-1), [], None, ['migration_premake']),
    ('migration-retention-unitless', 'soar.partman.migration', dict(MR, migration_retention='30'), [], None,
     ['migration_retention']),
    ('migration-retention-detach', 'soar.partman.migration', dict(MR, migration_retention='1 day'), [], None,
     ['migration_retention_confirm_detach']),
    ('migration-future-rows', 'soar.partman.migration',
     dict(MR, migration_table='rel.events', migration_control='ts'),
     EVENTS_SQL + ["INSERT INTO rel.events (ts, payload) VALUES ('2100-01-01', 'future')"], None,
     ['migration_allow_future_rows']),
    ('maintenance-backend-choice', 'soar.partman.partman_maintenance',
     dict(partman_maintenance_backend='anacron', partman_maintenance_database='@DB@'), [], None,
     ['partman_maintenance_backend']),
    ('maintenance-cron-name-dot', 'soar.partman.partman_maintenance',
     dict(partman_maintenance_name='soar.maint', partman_maintenance_database='@DB@'), [], None,
     ['partman_maintenance_name']),
    ('maintenance-database-newline', 'soar.partman.partman_maintenance',
     dict(partman_maintenance_backend='bgw', partman_maintenance_database="x'\narchive_command = 'touch /tmp/pwned'"),
     [], None, ['partman_maintenance_database']),
    ('maintenance-cron-schedule', 'soar.partman.partman_maintenance',
     dict(partman_maintenance_cron_schedule='0 3 * *', partman_maintenance_database='@DB@'), [], None,
     ['partman_maintenance_cron_schedule']),
    ('maintenance-retention-unitless', 'soar.partman.partman_maintenance',
     dict(partman_maintenance_retention='30', partman_maintenance_table='public.fixes',
          partman_maintenance_database='@DB@'), [], FIXES, ['partman_maintenance_retention']),
    ('maintenance-retention-detach', 'soar.partman.partman_maintenance',
     dict(partman_maintenance_retention='1 day', partman_maintenance_table='public.fixes',
          partman_maintenance_database='@DB@'), [], FIXES, ['partman_maintenance_retention_confirm_detach']),
    ('maintenance-retention-drop', 'soar.partman.partman_maintenance',
     dict(partman_maintenance_retention='1 day', partman_maintenance_retention_keep_table=False,
          partman_maintenance_table='public.fixes', partman_maintenance_database='@DB@'), [], FIXES,
     ['partman_maintenance_retention_confirm_drop']),
    ('partman-source-choice', 'soar.partman.partman', dict(partman_source='ppa', partman_database='@DB@'), [], None,
     ['partman_source']),
    ('partman-missing-cluster', 'soar.partman.partman',
     dict(partman_postgresql_cluster='nope', partman_database='@DB@'), [], None, ['partman_postgresql_cluster']),
    ('pg-cron-missing-cluster', 'soar.partman.pg_cron', dict(pg_cron_postgresql_cluster='nope'), [], None,
     ['pg_cron_postgresql_cluster']),
    ('service-state-choice', 'soar.partman.service', dict(service_state='paused', service_database='@DB@'), [], None,
     ['service_state']),
    ('service-timeout-type', 'soar.partman.service', dict(service_timeout='soon', service_database='@DB@'), [], None,
     ['service_timeout']),
]

# ----------------------------------------------------------------------------- controller faults
# (name, role variables (@DB@: the case's database), setup SQL, lock): the migration role run by
# ansible-playbook from the controller; a test session in the container holds `lock` (the copy stops
# at the third partition); once the module waits for it, the playbook (its process group: the
# controller's end of the connection) is killed with SIGKILL, then the lock released. The module must
# finish by itself or be resumed by running the role again; the table equals the snapshot.
CONTROLLER_FAULTS = [
    ('controller-lost-copy', dict(MR, migration_batch_size=10), [], COPY_MID),
]
