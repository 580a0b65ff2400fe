# -*- coding: utf-8 -*-
"""partman_info, pg_cron_job and partman_repair logic that needs no database: the maintenance call per
pg_partman version, evidence parsers (cron log, systemctl show, pg_cron rows, PostgreSQL log of the bgw),
partitions ahead, retention, health checks and pg_cron job planning."""

import datetime

import pytest

from ansible_collections.soar.partman.plugins.module_utils import evidence as ev
from ansible_collections.soar.partman.plugins.module_utils import partman as pm
from ansible_collections.soar.partman.plugins.module_utils import partset as ps
from ansible_collections.soar.partman.plugins.module_utils import pgcron
from ansible_collections.soar.partman.plugins.module_utils import repair

UTC = datetime.timezone.utc


def ts(day, hour=0, minute=0):
    return datetime.datetime(2026, 5, day, hour, minute, tzinfo=UTC)


# ------------------------------------------------------------------ maintenance call
@pytest.mark.parametrize("version, analyze, expected", [
    ("5.2.4", False, "CALL partman.run_maintenance_proc(p_analyze := false)"),
    ("4.7.2", False, "CALL partman.run_maintenance_proc(p_analyze := false)"),
    ("4.0.0", True, "CALL partman.run_maintenance_proc(p_analyze := true)"),
    ("3.2.1", False, "SELECT partman.run_maintenance(p_analyze := false)"),
])
def test_maintenance_call_per_version(version, analyze, expected):
    assert pm.maintenance_call("partman", version, analyze) == expected


def test_maintenance_call_quotes_odd_schema():
    assert pm.maintenance_call("My Schema", "5.1.0").startswith('CALL "My Schema".run_maintenance_proc(')


# ------------------------------------------------------------------ cron / systemd log of the script
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


# ------------------------------------------------------------------ systemd
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


# ------------------------------------------------------------------ pg_cron
def test_pg_cron_evidence():
    job = {"jobid": 3, "schedule": "0 3 * * *", "database": "soar", "username": "postgres", "active": True,
           "nodename": "/var/run/postgresql"}
    ok = ev.pg_cron_evidence(job, ts(1, 3), {"status": "succeeded", "start_time": ts(1, 3), "end_time": ts(1, 3)})
    assert ok["last_status"] == "succeeded" and ok["last_success"] == ts(1, 3)
    bad = ev.pg_cron_evidence(job, ts(1, 3), {"status": "failed", "return_message": "connection failed",
                                              "start_time": None, "end_time": None})
    assert bad["last_status"] == "failed" and bad["message"] == "connection failed"
    assert ev.pg_cron_evidence(None, None, None)["last_status"] == "never"


# ------------------------------------------------------------------ bgw (PostgreSQL log)
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


# ------------------------------------------------------------------ partitions ahead, retention, health
def child(name, day, current=False, default=False, rows=0, bytes_=8192):
    if default:
        return {"name": name, "is_default": True, "rows": rows, "bytes": bytes_}
    return {"name": name, "is_default": False, "from_ts": ts(day), "to_ts": ts(day + 1), "current": current,
            "ahead": day > 1, "rows": rows, "bytes": bytes_}


def test_contiguous_ahead_stops_at_a_gap():
    kids = [child("p1", 1, current=True), child("p2", 2), child("p3", 3), child("p5", 5), child("p6", 6)]
    assert ps.contiguous_ahead(kids) == 2
    assert ps.contiguous_ahead([child("p2", 2), child("p3", 3)]) == 0
    assert ps.contiguous_ahead([child("p1", 1, current=True)]) == 0


def test_retention_plan_drop_detach_and_none():
    kids = [child("old", 1, rows=10, bytes_=1000), child("mid", 3, rows=0), child("new", 9, current=True),
            child("def", 0, default=True)]
    for k in kids:
        if not k["is_default"]:
            k["has_rows"] = k["rows"] > 0
    drop = ps.retention_plan(kids, ts(5), "10 days", False, None)
    assert drop["partitions"] == ["old", "mid"] and drop["holding_data"] == ["old"]
    assert drop["would_drop"] and drop["rows_estimate"] == 10 and drop["action"] == "drop"
    assert not ps.retention_plan(kids, ts(5), "10 days", True, None)["would_drop"]
    assert ps.retention_plan(kids, ts(5), "10 days", False, "archive")["action"] == "move to schema archive"
    assert ps.retention_plan(kids, None, None, False, None)["partitions"] == []
    message = ps.retention_message({"parent": "public.fixes", "retention": drop})
    assert "DROP 1 partition(s) holding data (about 10 rows" in message


def healthy_set(**over):
    s = {"parent": "public.fixes", "default_rows": 0, "default_partition": "public.fixes_default", "time_based": True,
         "premake": 3, "partitions_ahead": 3, "current_partition": "public.fixes_p20260501", "partition_count": 9}
    s.update(over)
    return s


def maint(**over):
    m = {"backend": "cron", "source": "log", "last_success": "2026-05-01T03:00:00+00:00", "age_seconds": 3600,
         "last_run": "2026-05-01T03:00:00+00:00", "last_status": "succeeded", "message": None}
    m.update(over)
    return m


def test_health_ok():
    assert ps.health([healthy_set()], maint(), 93600, False) == ([], [])


def test_health_each_problem():
    problems, notes = ps.health([healthy_set(default_rows=65, partitions_ahead=0, current_partition=None)],
                                maint(age_seconds=200000, last_status="failed", message="boom"), 93600, False)
    text = " ".join(problems)
    assert "65 row(s) in the default partition" in text and "playbooks/repair.yml" in text
    assert "0 partition(s) exist ahead of now, premake is 3" in text
    assert "no partition covers now()" in text
    assert "more than" in text
    assert "failed: boom" in text


def test_health_just_migrated():
    never = maint(last_success=None, age_seconds=None, last_run=None, last_status="never")
    problems, notes = ps.health([healthy_set()], never, 93600, False)
    assert "no successful maintenance run is recorded" in problems[0]
    assert ps.health([healthy_set()], never, 93600, True)[0] == []
    assert "no maintenance run is recorded yet" in ps.health([healthy_set()], never, 93600, True)[1][0]
    failed = maint(last_success=None, age_seconds=None, last_status="failed", message="x")
    assert ps.health([healthy_set()], failed, 93600, True)[0]
    assert ps.health([healthy_set()], never, 0, False) == ([], [])


def test_summary_lines():
    lines = ps.summary_lines([healthy_set()], maint())
    assert lines[0] == ("public.fixes: 9 partitions, 3 ahead (premake 3), current public.fixes_p20260501, "
                        "default partition 0 rows")
    assert lines[1].startswith("maintenance by cron: last success 2026-05-01T03:00:00+00:00")


# ------------------------------------------------------------------ pg_cron job planning
def wanted(**over):
    params = {"name": "m", "schedule": "0 3 * * *", "command": "CALL partman.run_maintenance_proc()",
              "database": "soar", "username": "", "active": True, "nodename": "/var/run/postgresql", "nodeport": 0}
    params.update(over)
    return pgcron.wanted_job(params, "postgres", "postgres")


def row(**over):
    r = {"jobid": 7, "jobname": "m", "schedule": "0 3 * * *", "command": "CALL partman.run_maintenance_proc()",
         "database": "soar", "username": "postgres", "active": True, "nodename": "/var/run/postgresql",
         "nodeport": 5432}
    r.update(over)
    return r


def test_pg_cron_plan():
    assert pgcron.plan([], wanted(), "present") == [("create", None), ("node", None)]
    assert pgcron.plan([row()], wanted(), "present") == []
    assert pgcron.plan([row(schedule="0  3 * * *")], wanted(), "present") == []
    assert pgcron.plan([row(schedule="5 3 * * *")], wanted(), "present") == [("alter", 7)]
    assert pgcron.plan([row(nodename="localhost")], wanted(), "present") == [("node", 7)]
    assert pgcron.plan([row(nodename="localhost")], wanted(nodename=""), "present") == []
    assert pgcron.plan([row(username="other")], wanted(), "present") == [
        ("unschedule", 7), ("create", None), ("node", None)]
    assert pgcron.plan([row(), row(jobid=8)], wanted(), "absent") == [("unschedule", 7), ("unschedule", 8)]
    assert pgcron.plan([], wanted(), "absent") == []
    assert wanted(database="")["database"] == "postgres"


# ------------------------------------------------------------------ repair helpers
def test_repair_helpers():
    assert repair.bucket_unit("1 day") == "day"
    assert repair.bucket_unit("1 mon") == "month"
    assert repair.bucket_unit("2 days") is None
    cols = [{"name": "id", "generated": False, "identity": ""},
            {"name": "location", "generated": True, "identity": ""},
            {"name": "n", "generated": False, "identity": "a"}]
    assert repair.ignored_columns(cols) == ["location"]
    assert repair.identity_always(cols) == ["n"]
