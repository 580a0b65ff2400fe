# -*- coding: utf-8 -*-
"""partset.py: partitions ahead, retention, health checks and summary of a partition set."""

import datetime

from ansible_collections.soar.partman.plugins.module_utils import partset as ps
from partman_testing import UTC


def ts(day, hour=0, minute=0):
    return datetime.datetime(2026, 5, day, hour, minute, tzinfo=UTC)


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


def test_summary_line_of_a_maintenance_never_run_says_never_once():
    lines = ps.summary_lines([], maint(last_success=None, last_run=None, last_status='never'))
    assert lines[-1] == 'maintenance by cron: last success never, last run never'
    ran = ps.summary_lines([], maint(last_run='2026-05-01T03:00:00+00:00', last_status='ok'))
    assert ran[-1].endswith('last run 2026-05-01T03:00:00+00:00 (ok)')
