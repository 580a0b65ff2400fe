# -*- coding: utf-8 -*-
"""migration/runner.py: the step table, resume, the result and how a run fails."""

import pytest

psycopg2 = pytest.importorskip('psycopg2')

from ansible_collections.soar.partman.plugins.module_utils.migration import runner  # noqa: E402
from ansible_collections.soar.partman.plugins.module_utils.migration.context import ONLINE_ONLY, STEPS  # noqa: E402
from partman_testing import FakeModule, make_ctx, migration_params  # noqa: E402


def test_step_table_follows_the_recorded_steps():
    assert STEPS[0] == 'prepared'
    offline = tuple(name for name, _fn in runner.STEP_TABLE)
    assert offline == tuple(s for s in STEPS[1:] if s not in ONLINE_ONLY)
    assert [fn.__module__.rsplit('.', 1)[1] for _n, fn in runner.STEP_TABLE] == [
        'partitions', 'copy', 'indexes', 'constraints', 'verify', 'configure']
    online = runner.ONLINE_PREPARE_STEPS + runner.ONLINE_CUTOVER_STEPS
    assert tuple(name for name, _fn in online) == STEPS[1:]
    assert ['%s.%s' % (fn.__module__.rsplit('.', 1)[1], fn.__name__) for _n, fn in online] == [
        'partitions.run', 'copy.run', 'indexes.run', 'constraints.run', 'catchup.run', 'verify.run_online',
        'cutover.run', 'cutover.finish']


def test_remaining_steps():
    assert runner.remaining_steps('copied') == ['indexed', 'constrained', 'verified', 'done']
    assert runner.remaining_steps('done') == []
    assert runner.remaining_steps('constrained', online=True) == ['caught_up', 'verified', 'swapped', 'done']


def test_result_fields():
    ctx = make_ctx()
    assert sorted(runner.result(ctx)) == ['changed', 'partitions', 'partman_version', 'pk_changed', 'plan', 'queries',
                                          'rows_copied', 'seconds', 'warnings']
    assert runner.result(ctx)['plan'] == {}


class Failed(Exception):
    pass


class Module(FakeModule):
    _diff = False

    def fail_json(self, **kw):
        raise Failed(kw)


def test_a_bad_parameter_fails_before_connecting():
    module = Module(migration_params(interval='5 days', var_prefix='migration_'))
    with pytest.raises(Failed) as e:
        runner.run(module)
    assert e.value.args[0]['msg'].startswith("migration_interval: interval '5 days' is not supported")


def test_online_sessions_take_no_parallel_workers():
    # an online prepare runs beside the application: `jobs` cores, none of PostgreSQL's parallel workers on top
    online = make_ctx(mode='online').session_settings()
    assert online['max_parallel_maintenance_workers'] == '0' and online['max_parallel_workers_per_gather'] == '0'
    offline = make_ctx().session_settings()
    assert 'max_parallel_maintenance_workers' not in offline and 'max_parallel_workers_per_gather' not in offline
