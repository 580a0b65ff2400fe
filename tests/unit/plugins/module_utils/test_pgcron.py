# -*- coding: utf-8 -*-
"""pgcron.py: planning the pg_cron job."""

from ansible_collections.soar.partman.plugins.module_utils import pgcron


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
