"""After playbooks/migrate.yml with the application (runbook-app) and the database (runbook-db) apart.

The soar stand-in on runbook-app kept writing before the window and resumed after it; every row
it says it committed must be in the database, new rows must land in their day's partition, the
maintenance schedule of the inventory's backend (cron) runs and keeps the partitions ahead, and
finalize.yml must then drop the old table.
"""
import os
import subprocess
import sys
import time

import pytest
import testinfra

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared"))
import cron_line  # noqa: E402  pylint: disable=wrong-import-position

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
PROJECT = os.environ.get("MOLECULE_PROJECT_DIRECTORY", os.getcwd())


@pytest.fixture(scope="module")
def db():
    return testinfra.get_host("ansible://runbook-db?ansible_inventory=%s" % INVENTORY)


@pytest.fixture(scope="module")
def app():
    return testinfra.get_host("ansible://runbook-app?ansible_inventory=%s" % INVENTORY)


def psql(host, sql):
    cmd = host.run("su postgres -c %s", "psql -XAtq -d soar -v ON_ERROR_STOP=1 -c %s" % _quote(sql))
    assert cmd.rc == 0, cmd.stderr
    return cmd.stdout.strip()


def _quote(s):
    return "'" + s.replace("'", "'\"'\"'") + "'"


def playbook(name, *extra):
    """ansible-playbook on the molecule inventory; returns (rc, output)."""
    cmd = ["ansible-playbook", "-i", os.path.dirname(INVENTORY), os.path.join(PROJECT, "playbooks", name)]
    for e in extra:
        cmd += ["-e", e]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900, check=False)
    return proc.returncode, proc.stdout


def writer_rows(db):
    """Rows the writer inserted: the fixture's rows are all older than /var/tmp/fixture-newest."""
    newest = db.file("/var/tmp/fixture-newest").content_string.strip()
    return int(psql(db, "SELECT count(*) FROM fixes WHERE received_at > '%s'" % newest))


def test_fixes_is_partitioned_with_partitions_ahead(db):
    assert psql(db, "SELECT relkind FROM pg_class WHERE oid = 'public.fixes'::regclass") == "p"
    ahead = int(psql(db, """
        SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'public.fixes'::regclass
          AND (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \\(''([^'']*)''\\)'))[1]::timestamptz > now()"""))
    assert ahead >= 3
    assert psql(db, "SELECT to_regclass('public.fixes_old') IS NOT NULL") == "t"


def test_migration_recorded_for_diesel(db):
    assert psql(db, "SELECT version FROM __diesel_schema_migrations") == "2025-06-01-000000_partition_fixes"


def test_writer_resumed_into_the_right_partitions(db, app):
    assert app.service("soar-run.service").is_running
    finished = psql(db, "SELECT finished_at FROM partman.partman_migrate_state WHERE table_name = 'public.fixes'")
    assert finished
    # The writer inserts with received_at = now(): rows after the migration show it resumed.
    deadline = time.time() + 60
    while int(psql(db, "SELECT count(*) FROM fixes WHERE received_at > '%s'" % finished)) < 50:
        assert time.time() < deadline, "the writer did not resume after the migration"
        time.sleep(2)
    assert psql(db, "SELECT count(*) FROM ONLY fixes_default") == "0"
    # Every new row is in the partition of its day (not the default one).
    misplaced = psql(db, """
        SELECT count(*) FROM fixes f JOIN pg_class c ON c.oid = f.tableoid
        WHERE f.received_at > '%s'
          AND (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \\(''([^'']*)''\\)'))[1]::timestamptz
              IS DISTINCT FROM date_trunc('day', f.received_at)""" % finished)
    assert misplaced == "0"


def test_no_row_written_by_the_application_is_missing(db, app):
    # Stop the writer so that its committed count and the table agree at one instant.
    app.run_expect([0], "systemctl stop soar.target")
    try:
        committed = int(app.file("/var/lib/soar-writer/committed").content_string.strip())
        assert committed > 0
        assert writer_rows(db) == committed
    finally:
        app.run_expect([0], "systemctl start soar.target")


CRON_FILE = "/etc/cron.d/soar-partman-maintenance"
MAINTENANCE_LOG = "/var/log/soar-partman/maintenance.log"
FUTURE = """
    SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'public.fixes'::regclass AND pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT'
      AND (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \\(''([^'']+)''\\)'))[1]::timestamptz > now()
    ORDER BY 1"""


def test_verify_is_green_right_after_migrate(db):
    """migrate.yml ran maintenance once when it installed the backend, so verify.yml passes at once,
    without partman_verify_allow_no_maintenance; the health check installed beside it says healthy."""
    rc, out = playbook("verify.yml")
    assert rc == 0, out
    assert "maintenance by cron: last success 20" in out, out
    assert db.service("soar-partman-health.timer").is_enabled
    db.run_expect([0], "systemctl start soar-partman-health.service")
    assert "soar_partman_healthy{database=\"soar\"} 1" in \
        db.file("/var/lib/prometheus/node-exporter/soar_partman.prom").content_string


def test_migrate_installed_the_maintenance_schedule(db):
    """migrate.yml ends by installing the inventory's backend (cron here): its line, run as cron
    runs it, re-creates a dropped future partition and logs OK; verify.yml then passes."""
    ahead = psql(db, FUTURE).splitlines()
    assert len(ahead) >= 3, ahead
    assert db.file(CRON_FILE).exists
    # The scheduled job's block (self-healing, then each set's maintenance with lock retries) calls the
    # function run_maintenance per set; run_maintenance_proc is a procedure that a SELECT would fail on.
    script = db.file("/usr/local/sbin/soar-partman-maintenance").content_string
    assert "PERFORM partman.run_maintenance(p_parent_table := cfg.parent_table" in script
    assert "SELECT partman.run_maintenance_proc" not in script
    psql(db, "DROP TABLE public.%s" % ahead[-1])
    assert psql(db, FUTURE).splitlines() == ahead[:-1]
    assert cron_line.cron_entry(db, CRON_FILE)[1] == "postgres"
    cmd = cron_line.run_cron_line(db, CRON_FILE)
    assert cmd.rc == 0, cmd.stderr
    assert "partman-maintenance: OK" in db.file(MAINTENANCE_LOG).content_string
    # The dropped one is back; from noon on pg_partman also adds premake + 1 (see the maintenance
    # scenario's tests: infinite_time_partitions counts ahead from now() itself).
    after = psql(db, FUTURE).splitlines()
    assert set(ahead) <= set(after) and len(after) <= len(ahead) + 1, (ahead, after)
    rc, out = playbook("verify.yml")
    assert rc == 0, out
    assert "maintenance by cron: last success" in out, out


def test_finalize_drops_the_old_table(db):
    rc, out = playbook("finalize.yml", "migration_finalize_confirm=true", "migration_finalize_min_age='0 seconds'")
    assert rc == 0, out
    assert "public.fixes_old dropped" in out, out
    assert psql(db, "SELECT to_regclass('public.fixes_old') IS NULL") == "t"
    # Run again: nothing left to drop, no failure.
    rc, out = playbook("finalize.yml", "migration_finalize_confirm=true", "migration_finalize_min_age='0 seconds'")
    assert rc == 0, out
    assert "finalized already" in out, out
