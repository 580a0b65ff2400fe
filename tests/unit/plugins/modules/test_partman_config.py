# -*- coding: utf-8 -*-
"""partman_config's pure logic (retention text, wanted settings, the drop/detach guard), its
documentation, and the job-name rule of pg_cron_job."""

import datetime

import pytest

from ansible_collections.soar.partman.plugins.module_utils import partman_config as pc
from ansible_collections.soar.partman.plugins.module_utils import partset as ps
from ansible_collections.soar.partman.plugins.module_utils import pgcron


PREFIX = 'partman_maintenance_'


def ts(day):
    return datetime.datetime(2026, 5, day, tzinfo=datetime.timezone.utc)


def kids():
    out = []
    for name, day, rows in (('p01', 1, 10), ('p02', 2, 0), ('p09', 9, 5)):
        out.append({'name': name, 'is_default': False, 'from_ts': ts(day), 'to_ts': ts(day + 1), 'rows': rows,
                    'bytes': 8192, 'has_rows': rows > 0})
    out.append({'name': 'pdef', 'is_default': True, 'rows': 0, 'bytes': 8192})
    return out


# ------------------------------------------------------------------ retention text
@pytest.mark.parametrize('text', ['30', ' 30 ', '30.5', '-30', '00:30:00', '3600'])
def test_a_retention_without_unit_is_refused_naming_the_variable_and_the_fix(text):
    with pytest.raises(pc.ConfigError) as e:
        pc.parse_retention(text, PREFIX)
    msg = str(e.value)
    assert 'partman_maintenance_retention' in msg and 'has no unit' in msg
    assert '-e \'{"partman_maintenance_retention": "' in msg


def test_the_module_alone_names_its_own_option():
    with pytest.raises(pc.ConfigError) as e:
        pc.parse_retention('30')
    assert str(e.value).startswith("retention '30' has no unit") and '-e' not in str(e.value)


@pytest.mark.parametrize('text', ['', '   ', '30 days\narchive_command', 'x\x00'])
def test_empty_or_control_characters_are_refused(text):
    with pytest.raises(pc.ConfigError):
        pc.parse_retention(text, PREFIX)


def test_retention_text_is_normalised_and_none_removes():
    assert pc.parse_retention('  30   days ', PREFIX) == '30 days'
    assert pc.parse_retention('1 year 6 mons') == '1 year 6 mons'
    assert pc.parse_retention('None') == pc.NONE and pc.parse_retention('none') == pc.NONE
    assert pc.parse_retention(None) is None


def test_wanted_settings_and_differs():
    cur = {'retention': '30 days', 'retention_keep_table': True}
    assert pc.wanted_settings(cur, None, None) == ('30 days', True)
    assert pc.wanted_settings(cur, pc.NONE, None) == (None, True)
    assert pc.wanted_settings(cur, '40 days', False) == ('40 days', False)
    assert not pc.differs(cur, '30 days', True)
    assert not pc.differs({'retention': '30  days', 'retention_keep_table': True}, '30 days', True)
    assert pc.differs(cur, None, True)
    assert pc.differs(cur, '30 days', False)
    assert pc.differs({'retention': None, 'retention_keep_table': True}, '30 days', True)


# ------------------------------------------------------------------ the guard
def test_detach_needs_its_own_confirmation_with_the_numbers_of_the_drop_message():
    plan = ps.retention_plan(kids(), ts(5), '2 days', True, None)
    assert plan['would_detach'] and not plan['would_drop'] and plan['holding_data'] == ['p01']
    msgs = pc.refusals(plan, 'public.fixes', confirm_drop=True, confirm_detach=False, var_prefix=PREFIX)
    assert len(msgs) == 1
    assert 'would DETACH 1 partition(s) holding data (about 10 rows, 16.0 kB: p01) from public.fixes' in msgs[0]
    assert 'partman_maintenance_retention_confirm_detach: true' in msgs[0]
    assert pc.refusals(plan, 'public.fixes', False, True, PREFIX) == []


def test_drop_needs_confirm_drop():
    plan = ps.retention_plan(kids(), ts(5), '2 days', False, None)
    msgs = pc.refusals(plan, 'public.fixes', confirm_drop=False, confirm_detach=True, var_prefix=PREFIX)
    assert len(msgs) == 1
    assert 'would DROP 1 partition(s) holding data (about 10 rows, 16.0 kB: p01)' in msgs[0]
    assert 'partman_maintenance_retention_confirm_drop: true' in msgs[0]
    assert pc.refusals(plan, 'public.fixes', True, False, PREFIX) == []


def test_moving_to_a_schema_is_a_detach():
    plan = ps.retention_plan(kids(), ts(5), '2 days', False, 'archive')
    assert plan['would_detach'] and not plan['would_drop']
    msgs = pc.refusals(plan, 'public.fixes', False, False, PREFIX)
    assert 'from public.fixes and move to schema archive' in msgs[0]


def test_empty_partitions_or_no_retention_need_no_confirmation():
    plan = ps.retention_plan([k for k in kids() if k['name'] != 'p01'], ts(5), '2 days', False, None)
    assert plan['partitions'] == ['p02'] and pc.refusals(plan, 'public.fixes', False, False) == []
    plan = ps.retention_plan(kids(), None, None, True, None)
    assert not plan['would_detach'] and pc.refusals(plan, 'public.fixes', False, False) == []


# ------------------------------------------------------------------ job names
@pytest.mark.parametrize('name', ['soar.partman', 'soar partman', 'soar~', '', 'a/b', 'x\ny'])
def test_job_names_cron_would_ignore_are_refused(name):
    with pytest.raises(pgcron.CronJobError) as e:
        pgcron.check_name(name, 'partman_maintenance_name')
    assert 'partman_maintenance_name' in str(e.value) and "letters, digits, '_' and '-'" in str(e.value)


def test_plain_job_names_pass():
    pgcron.check_name('soar-partman_maintenance2')
