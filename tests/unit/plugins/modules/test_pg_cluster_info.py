import json

from ansible_collections.soar.partman.plugins.modules import pg_cluster_info as m

LS_JSON = json.dumps([
    {"version": 15, "cluster": "main", "port": "5432", "running": 0, "pgdata": "/var/lib/postgresql/15/main",
     "socketdir": "/var/run/postgresql", "configdir": "/etc/postgresql/15/main", "logfile": "/var/log/p15.log"},
    {"version": 17, "cluster": "main", "port": "5433", "running": 1, "pgdata": "/var/lib/postgresql/17/main",
     "socketdir": "/var/run/postgresql", "configdir": "/etc/postgresql/17/main", "logfile": "/var/log/p17.log"},
])

LS_TEXT = """Ver Cluster Port Status Owner    Data directory              Log file
15  main    5432 online postgres /var/lib/postgresql/15/main /var/log/postgresql/postgresql-15-main.log
"""


def test_json_and_text_parse_alike():
    text = m.parse_text_clusters(LS_TEXT)[0]
    assert text["version"] == "15" and text["port"] == 5432 and text["running"] is True
    assert text["configdir"] == "/etc/postgresql/15/main"


def test_choose_prefers_running_cluster():
    clusters = m.parse_json_clusters(LS_JSON)
    assert m.choose(clusters, "", "main")["version"] == "17"
    assert m.choose(clusters, "15", "main")["port"] == 5432
    assert m.choose(clusters, "16", "main") is None


def test_requirement_problems_name_the_cause():
    clusters = m.parse_json_clusters(LS_JSON)
    supported = ["15", "16", "17"]
    assert m.requirement_problem(m.choose(clusters, "", "main"), "", clusters, ["15", "17"], supported) is None
    stopped = m.requirement_problem(m.choose(clusters, "15", "main"), "15", clusters, ["15", "17"], supported)
    assert "not running" in stopped and "pg_ctlcluster 15 main start" in stopped
    missing = m.requirement_problem(None, "16", clusters, ["15", "17"], supported)
    assert "Found no PostgreSQL 16" in missing and "15/main, 17/main" in missing
    unsupported = m.requirement_problem(None, "11", clusters, ["15", "17"], supported)
    assert "not supported" in unsupported
