# -*- coding: utf-8 -*-
"""evidence.py: when maintenance last ran, from the cron/systemd/pg_cron/bgw traces."""

import datetime

import pytest

from ansible_collections.soar.partman.plugins.module_utils import evidence as ev
from partman_testing import UTC


def ts(day, hour=0, minute=0):
    return datetime.datetime(2026, 5, day, hour, minute, tzinfo=UTC)


SCRIPT_LOG = """\
2026-05-01T03:00:00Z partman-maintenance: START database=soar
2026-05-01T03:00:02Z partman-maintenance: OK database=soar seconds=2
2026-05-02T03:00:00Z partman-maintenance: START database=soar
psql:<stdin>:1: ERROR:  updated partition constraint for default partition "fixes_default" would be violated by some row
2026-05-02T03:00:01Z partman-maintenance: FAILED rc=3 database=soar seconds=1
"""


def test_script_log_last_success_and_failure():
    e = ev.script_log_evidence(SCRIPT_LOG, "cron", "/var/log/x.log")
    assert e["last_success"] == datetime.datetime(2026, 5, 1, 3, 0, 2, tzinfo=UTC)
    assert e["last_run"] == datetime.datetime(2026, 5, 2, 3, 0, 1, tzinfo=UTC)
    assert e["last_status"] == "failed"
    assert "would be violated by some row" in e["message"]


def test_script_log_running_and_never():
    e = ev.parse_script_log(SCRIPT_LOG + "2026-05-03T03:00:00Z partman-maintenance: START database=soar\n")
    assert e["last_status"] == "running"
    assert ev.parse_script_log("")["last_status"] == "never"
    assert ev.parse_script_log(None)["last_success"] is None


def test_systemd_success():
    props = ev.parse_systemctl_show(
        "LoadState=loaded\nActiveState=inactive\nResult=success\nExecMainStatus=0\n"
        "ExecMainStartTimestamp=@1777604400\nExecMainExitTimestamp=@1777604402\n")
    e = ev.systemd_evidence(props, "x.service")
    assert e["last_status"] == "succeeded"
    assert e["last_success"] == datetime.datetime.fromtimestamp(1777604402, UTC)


def test_systemd_failed_never_and_missing():
    failed = ev.systemd_evidence(ev.parse_systemctl_show(
        "LoadState=loaded\nActiveState=failed\nResult=exit-code\nExecMainStatus=3\n"
        "ExecMainStartTimestamp=@1777604400\nExecMainExitTimestamp=@1777604401\n"), "x.service")
    assert failed["last_status"] == "failed" and failed["last_success"] is None
    assert "ExecMainStatus=3" in failed["message"]
    never = ev.systemd_evidence(ev.parse_systemctl_show(
        "LoadState=loaded\nActiveState=inactive\nResult=success\nExecMainStatus=0\n"
        "ExecMainStartTimestamp=\nExecMainExitTimestamp=\n"), "x.service")
    assert never["last_status"] == "never"
    missing = ev.systemd_evidence({"LoadState": "not-found"}, "x.service")
    assert missing["last_status"] == "never" and "not-found" in missing["message"]


@pytest.mark.parametrize("text, expected", [
    ("@1777604400", datetime.datetime.fromtimestamp(1777604400, UTC)),
    ("Fri 2026-05-01 03:00:00 UTC", datetime.datetime(2026, 5, 1, 3, 0, tzinfo=UTC)),
    ("", None),
    ("n/a", None),
])
def test_systemd_timestamps(text, expected):
    assert ev.parse_systemd_timestamp(text) == expected


def test_pg_cron_evidence():
    job = {"jobid": 3, "schedule": "0 3 * * *", "database": "soar", "username": "postgres", "active": True,
           "nodename": "/var/run/postgresql"}
    ok = ev.pg_cron_evidence(job, ts(1, 3), {"status": "succeeded", "start_time": ts(1, 3), "end_time": ts(1, 3)})
    assert ok["last_status"] == "succeeded" and ok["last_success"] == ts(1, 3)
    bad = ev.pg_cron_evidence(job, ts(1, 3), {"status": "failed", "return_message": "connection failed",
                                              "start_time": None, "end_time": None})
    assert bad["last_status"] == "failed" and bad["message"] == "connection failed"
    assert ev.pg_cron_evidence(None, None, None)["last_status"] == "never"


WORKER = "pg_partman dynamic background worker (dbname=%s)"


BGW_LOG = "\n".join([
    "2026-05-01 03:00:00.100 UTC [101] LOG:  " + WORKER % "soar"
    + " dynamic background worker initialized with role postgres on database soar",
    "2026-05-01 03:00:00.200 UTC [101] LOG:  " + WORKER % "soar" + ": CALL partman.run_maintenance_proc(p_wait => 0, "
    "p_analyze => false, p_jobmon => true) called by role postgres on database soar",
    '2026-05-01 03:00:00.210 UTC [90] LOG:  background worker "pg_partman background worker" (PID 101) exited '
    'with exit code 1',
    "2026-05-01 04:00:00.100 UTC [102] LOG:  " + WORKER % "other"
    + " dynamic background worker initialized with role postgres on database other",
    "2026-05-01 04:00:00.150 UTC [102] ERROR:  something in another database",
    "2026-05-01 05:00:00.100 UTC [103] LOG:  " + WORKER % "soar"
    + " dynamic background worker initialized with role postgres on database soar",
    '2026-05-01 05:00:00.300 UTC [103] ERROR:  updated partition constraint for default partition "fixes_default" '
    'would be violated by some row',
])


def test_bgw_log_success_then_failure():
    e = ev.bgw_log_evidence(BGW_LOG, "soar")
    assert e["last_success"] == datetime.datetime(2026, 5, 1, 3, 0, 0, tzinfo=UTC)
    assert e["last_run"] == datetime.datetime(2026, 5, 1, 5, 0, 0, tzinfo=UTC)
    assert e["last_status"] == "failed"
    assert e["message"].startswith("updated partition constraint")


def test_bgw_log_4x_select_and_no_worker():
    line = ("2026-05-01 03:00:00.2 UTC [7] LOG:  pg_partman dynamic background worker (dbname=soar): SELECT "
            "\"partman\".run_maintenance(p_analyze := false, p_jobmon := true) called by role postgres on database soar")
    assert ev.bgw_log_evidence(line, "soar")["last_status"] == "succeeded"
    assert ev.bgw_log_evidence(BGW_LOG, "nothing")["last_status"] == "never"


def test_log_timestamp_zones():
    assert ev.parse_log_timestamp("2026-05-01 03:00:00.1 +02 [1] LOG: x") == \
        datetime.datetime(2026, 5, 1, 1, 0, tzinfo=UTC)
    assert ev.parse_log_timestamp("2026-05-01 03:00:00 CEST [1] LOG: x", datetime.timedelta(hours=2)) == \
        datetime.datetime(2026, 5, 1, 1, 0, tzinfo=UTC)
    assert ev.parse_log_timestamp("no time here") is None


def test_summarise_age():
    e = ev.summarise(dict(ev.empty("cron", "x"), last_success=ts(1, 3), last_run=ts(1, 3)), ts(2, 3))
    assert e["age_seconds"] == 86400
    assert e["last_success"] == "2026-05-01T03:00:00+00:00"


def test_newest_run_merges_a_run_now_into_the_backend_evidence():
    import datetime
    utc = datetime.timezone.utc
    old = datetime.datetime(2026, 5, 1, 3, 0, tzinfo=utc)
    new = datetime.datetime(2026, 5, 2, 9, 0, tzinfo=utc)
    backend = dict(ev.empty('pg_cron', 'cron.job_run_details'), installed=True, job='pg_cron job x',
                   last_success=old, last_run=old, last_status='succeeded')
    script = dict(ev.empty('pg_cron', '/var/log/x.log'), last_success=new, last_run=new, last_status='succeeded')
    merged = ev.newest_run(backend, script)
    assert merged['last_success'] == new and merged['installed'] is True
    failed = dict(script, last_success=None, last_status='failed', message='rc=2')
    merged = ev.newest_run(backend, failed)
    assert merged['last_success'] == old and merged['last_status'] == 'failed' and merged['message'] == 'rc=2'
    assert ev.newest_run(dict(backend, last_run=new), dict(failed, last_run=old))['last_status'] == 'succeeded'
