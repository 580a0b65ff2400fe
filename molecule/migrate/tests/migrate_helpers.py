"""Helpers shared by tests/migrated and tests/reverted (imported by their conftest.py)."""
import base64
import json
import re
import time

import pytest

RESULTS = "/var/tmp/molecule-migrate"

# What each distribution ships: PostgreSQL major, pg_partman major, PostGIS major.minor.
EXPECTED = {
    "bookworm": {"pg": "15", "partman_major": "4", "postgis": "3.3"},
    "trixie": {"pg": "17", "partman_major": "5", "postgis": "3.5"},
}

# The rows the migration started from (kept by converge before anything changed).
BEFORE = "molecule.fixes_before"
CUTOFF = "(SELECT max(received_at) FROM molecule.fixes_before)"


class Pg:
    """psql as postgres on the test host, database soar."""

    def __init__(self, host, db="soar"):
        self.host = host
        self.db = db

    def run(self, sql):
        """Run a script (several statements allowed); stdout, unaligned, tuples only."""
        script = base64.b64encode(sql.encode()).decode()
        cmd = self.host.run(
            "echo %s | base64 -d | runuser -u postgres -- psql -XAtq -v ON_ERROR_STOP=1 -d %s -f -",
            script, self.db)
        assert cmd.rc == 0, "psql failed: %s\n%s" % (cmd.stderr, sql)
        return cmd.stdout.strip()

    def value(self, sql):
        return self.run(sql)

    def int(self, sql):
        return int(self.run(sql))

    def json(self, sql):
        """Rows of a query as a list of dicts."""
        out = self.run("SELECT coalesce(json_agg(t), '[]'::json) FROM (%s) AS t" % sql)
        return json.loads(out)


def grows(pg, count_sql, timeout=15):
    """(first, later) counts of count_sql, polling until the count grows or timeout seconds pass."""
    first = pg.int(count_sql)
    deadline = time.monotonic() + timeout
    later = first
    while later <= first and time.monotonic() < deadline:
        time.sleep(0.5)
        later = pg.int(count_sql)
    return first, later


def expected(host):
    return EXPECTED[host.system_info.codename]


def result(host, name):
    """A JSON observation left by converge or side_effect."""
    f = host.file("%s/%s.json" % (RESULTS, name))
    assert f.exists, "%s.json missing: did converge/side_effect run?" % name
    return json.loads(f.content_string)


def writer_committed(host):
    return int(host.file("/var/lib/soar-writer/committed").content_string.strip())


def index_shape(indexdef):
    """'CREATE [UNIQUE] INDEX name ON [ONLY] schema.table USING ...' -> '[UNIQUE ]USING ...'
    (the definition without the index and table names)."""
    m = re.match(r"^CREATE (UNIQUE )?INDEX \S+ ON (?:ONLY )?\S+ (USING .*)$", indexdef)
    assert m, indexdef
    return (m.group(1) or "") + m.group(2)


def partition_day(bound):
    """"FOR VALUES FROM ('2024-05-01 00:00:00+00') TO (...)" -> '2024-05-01'."""
    m = re.match(r"^FOR VALUES FROM \('(\d{4}-\d{2}-\d{2})[^']*'\) TO \('(\d{4}-\d{2}-\d{2})[^']*'\)$", bound)
    assert m, bound
    return m.group(1)


def partition_name(table, day, partman_major):
    """Name pg_partman gives the daily child starting on day (YYYY-MM-DD)."""
    if partman_major == "4":
        return "%s_p%s" % (table, day.replace("-", "_"))
    return "%s_p%s" % (table, day.replace("-", ""))


@pytest.fixture(scope="module")
def pg(host):
    return Pg(host)
