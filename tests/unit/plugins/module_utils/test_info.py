# -*- coding: utf-8 -*-
"""info.py: what partman_info reads for each gather choice (migration facts without pg_partman,
no maintenance evidence unless asked)."""

import datetime

import pytest

psycopg2 = pytest.importorskip('psycopg2')

from ansible_collections.soar.partman.plugins.module_utils import info, partset as ps  # noqa: E402
from ansible_collections.soar.partman.plugins.modules import partman_info  # noqa: E402
from partman_testing import FakeDb, FakeModule, UTC  # noqa: E402

NOW = datetime.datetime(2026, 5, 1, 12, tzinfo=UTC)


def make(db, **over):
    params = dict((k, v.get('default')) for k, v in partman_info.argument_spec().items())
    params.update(over)
    i = info.Info(FakeModule(params))
    i.db = db
    return i


def server_answers():
    return [('server_version_num', '170000'), ('shared_preload_libraries', ''), ('SELECT now()', NOW)]


def test_gather_migration_reads_the_migration_without_pg_partman_or_maintenance():
    db = FakeDb(server_answers() + [('relkind', 'r')])
    res = make(db, table='public.fixes', gather=['migration'])._run()
    assert res['partman_version'] is None and res['partition_sets'] == []
    assert res['migration']['table'] == 'public.fixes'
    assert res['migration']['kind'] == 'plain'
    assert res['healthy'] and res['summary'] == []
    assert not any('part_config' in r or 'cron.job' in r for r in db.reads)


def test_gather_migration_needs_a_table():
    with pytest.raises(ps.InfoError) as e:
        make(FakeDb(server_answers()), gather=['migration'])._run()
    assert 'gather: migration needs table' in str(e.value)


def test_partition_sets_still_need_pg_partman():
    with pytest.raises(ps.InfoError) as e:
        make(FakeDb(server_answers()), table='public.fixes', gather=['partition_sets'])._run()
    assert 'pg_partman is not installed' in str(e.value)


def test_default_gather_has_no_migration_key():
    assert partman_info.argument_spec()['gather']['default'] == ['partition_sets', 'maintenance']
    db = FakeDb(server_answers() + [('pg_extension', [{'version': '5.2.4', 'schema': 'partman'}])])
    res = make(db, backend='none', max_maintenance_age=0)._run()
    assert 'migration' not in res
    assert res['partman_version'] == '5.2.4'
    assert res['summary'][-1].startswith('maintenance by none')
