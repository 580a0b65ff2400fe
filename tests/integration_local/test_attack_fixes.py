# -*- coding: utf-8 -*-
"""Defects an attack on partman_migrate found (issue 10), against the local PostgreSQL: each test
failed before its fix. Same needs and run command as test_kill_resume.py."""

from __future__ import absolute_import, division, print_function

import subprocess
import time

# pytestmark: the same skip as test_kill_resume's
from test_kill_resume import DB, env, module_cmd, psql, pytestmark  # noqa: F401  pylint: disable=unused-import


def run(table, *extra):
    return subprocess.run(module_cmd('login_db=%s' % DB, 'table=%s' % table, 'control=received_at',
                                     "interval='1 day'", 'batch_size=500', *extra),
                          capture_output=True, text=True, env=env(), check=False)


def relkind(table):
    return psql("SELECT coalesce((SELECT relkind::text FROM pg_class WHERE oid = to_regclass('%s')), '-')" % table)


def make_table(name, rows=3000, days=3, extra_sql=''):
    psql('DROP TABLE IF EXISTS %s, %s_old CASCADE; DROP TABLE IF EXISTS partman.template_public_%s;'
         "DELETE FROM partman.part_config WHERE parent_table = 'public.%s';"
         "DO $$ BEGIN IF to_regclass('partman.partman_migrate_state') IS NOT NULL THEN "
         "DELETE FROM partman.partman_migrate_state WHERE table_name = 'public.%s'; END IF; END $$;"
         'CREATE TABLE %s (id bigserial PRIMARY KEY, received_at timestamptz NOT NULL, v integer);'
         'CREATE INDEX ON %s (received_at);'
         "INSERT INTO %s (received_at, v) SELECT now() - (g %% %d) * interval '1 day' - g * interval '1 second', g "
         'FROM generate_series(1, %d) g;%s' % (name, name, name, name, name, name, name, name, days, rows, extra_sql))


def test_writer_left_running_loses_no_row():
    """An application that was not stopped keeps inserting through the table's name while the copy
    runs. Before: rows it put into the new partitions were truncated away and verification passed.
    Now every insert either lands in a table (and is migrated) or fails with a clear error."""
    make_table('wfixes', rows=60000, days=5)
    writer = subprocess.Popen(['su', 'postgres', '-c', 'psql -X -q -At -d %s' % DB], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    module = subprocess.Popen(module_cmd('login_db=%s' % DB, 'table=public.wfixes', 'control=received_at',
                                         "interval='1 day'", 'batch_size=100', 'jobs=1'),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())
    sent = 0
    while module.poll() is None:
        writer.stdin.write("INSERT INTO wfixes (received_at, v) VALUES (now(), -1) RETURNING id;\n")
        writer.stdin.flush()
        sent += 1
        time.sleep(0.005)
    out, err = module.communicate()
    w_out, w_err = writer.communicate("\\q\n")
    assert module.returncode == 0, out + err
    committed = [int(x) for x in w_out.split()]
    assert sent > 100 and committed, (sent, w_out, w_err)
    assert 'is being migrated by partman_migrate' in w_err, w_err[-2000:]
    assert relkind('public.wfixes') == 'p'
    ids = psql('SELECT string_agg(id::text, \' \') FROM wfixes WHERE v = -1').split()
    assert sorted(int(i) for i in ids) == sorted(committed)
    # the old table's rows are all there (the writer's later rows came after the migration ended)
    assert psql('SELECT count(*) FROM (SELECT * FROM wfixes_old EXCEPT ALL SELECT * FROM wfixes) x') == '0'
    assert psql("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'public.wfixes'::regclass "
                "AND tgname = 'partman_migrate_refuse_writes'") == '0'
    psql("INSERT INTO wfixes (received_at, v) VALUES (now(), -2)")   # writes work again once done


def test_rows_far_in_the_future_refused_unless_allowed():
    make_table('ffixes', extra_sql="INSERT INTO ffixes (received_at, v) "
                                   "SELECT '2100-01-01'::timestamptz + g * interval '1 hour', 0 "
                                   "FROM generate_series(1, 5) g;")
    res = run('public.ffixes')
    assert res.returncode != 0
    assert '5 rows of public.ffixes have received_at at or after' in res.stdout, res.stdout
    assert 'allow_future_rows: true' in res.stdout and 'default partition' in res.stdout
    assert '"changed": true' not in res.stdout
    assert relkind('public.ffixes') == 'r' and relkind('public.ffixes_old') == '-'
    res = run('public.ffixes', 'allow_future_rows=true')
    assert res.returncode == 0, res.stdout
    assert 'beyond now + premake' in res.stdout
    assert psql("SELECT count(*) FROM ffixes WHERE received_at >= '2100-01-01'") == '5'


def test_table_referenced_by_a_partitioned_table():
    """After fixes is partitioned, migrating the table its foreign key points to handles the key on
    the partitioned parent, not its per-partition copies."""
    psql('DROP TABLE IF EXISTS pfixes, pfixes_old, pmsgs, pmsgs_old CASCADE;'
         "DELETE FROM partman.part_config WHERE parent_table IN ('public.pfixes', 'public.pmsgs');"
         "DELETE FROM partman.partman_migrate_state WHERE table_name IN ('public.pfixes', 'public.pmsgs');"
         'CREATE TABLE pmsgs (id bigserial PRIMARY KEY, received_at timestamptz NOT NULL);'
         "INSERT INTO pmsgs (received_at) SELECT now() - g * interval '1 hour' FROM generate_series(1, 60) g;"
         'CREATE TABLE pfixes (id bigserial PRIMARY KEY, received_at timestamptz NOT NULL, '
         'msg_id bigint CONSTRAINT pfixes_msg_fkey REFERENCES pmsgs (id));'
         "INSERT INTO pfixes (received_at, msg_id) SELECT now() - g * interval '1 hour', g FROM generate_series(1, 60) g")
    assert run('public.pfixes').returncode == 0
    res = run('public.pmsgs')
    assert res.returncode != 0
    assert 'pfixes_msg_fkey' in res.stdout and 'pfixes_p' not in res.stdout, res.stdout
    res = run('public.pmsgs', 'inbound_fks=drop')
    assert res.returncode == 0, res.stdout
    assert relkind('public.pmsgs') == 'p'
    res = run('public.pmsgs', 'state=reverted')
    assert res.returncode == 0, res.stdout
    assert psql("SELECT count(*) FROM pg_constraint WHERE conrelid = 'public.pfixes'::regclass "
                "AND conname = 'pfixes_msg_fkey'") == '1'


def test_multibyte_name_whose_children_would_collide():
    name = 'ä' * 27 + 'fixes_'        # 33 characters, 60 bytes
    psql('DROP TABLE IF EXISTS "{0}", "{0}old" CASCADE; DELETE FROM partman.part_config WHERE parent_table = \'public.{0}\';'
         'DELETE FROM partman.partman_migrate_state WHERE table_name = \'public.{0}\';'
         'CREATE TABLE "{0}" (id bigint PRIMARY KEY, received_at timestamptz NOT NULL);'
         "INSERT INTO \"{0}\" SELECT g, now() - g * interval '1 hour' FROM generate_series(1, 100) g".format(name))
    res = run('public."%s"' % name)
    major = psql("SELECT split_part(extversion, '.', 1) FROM pg_extension WHERE extname = 'pg_partman'")
    if major == '4':       # 4.x cuts by characters: the date suffix falls past PostgreSQL's 63 bytes
        assert res.returncode != 0
        assert 'the same name' in res.stdout and 'at most 51 bytes' in res.stdout, res.stdout
        assert relkind('public."%s"' % name) == 'r'
    else:
        assert res.returncode == 0, res.stdout


def test_bad_retention_and_premake_refused_before_any_change():
    make_table('rfixes', days=10)
    for args, words in (
            (['retention=30'], ['not an interval with a unit', "30 days"]),
            (["retention='1 hour'"], ['shorter than one partition']),
            (["retention='2 days'"], ['would detach 8 partitions', 'retention_confirm_detach: true']),
            (["retention='2 days'", 'retention_keep_table=false'],
             ['would DROP 8 partitions', 'retention_confirm_drop: true']),
            (['premake=100000'], ['premake is 100000', 'between 1 and 1000'])):
        res = run('public.rfixes', *args)
        assert res.returncode != 0, args
        for w in words:
            assert w in res.stdout, (args, w, res.stdout)
        assert '"changed": true' not in res.stdout
        assert relkind('public.rfixes') == 'r' and relkind('public.rfixes_old') == '-'
    res = run('public.rfixes', 'retention=30', 'var_prefix=migration_')
    assert 'migration_retention' in res.stdout
