"""The runbook when things go wrong: the verifier runs the playbooks itself and looks at the host.

The tests run in file order and build on each other (one host, one database):
preflight refusal -> migration killed mid-copy (reverted) -> killed again, state kept
(migration_revert_on_failure: false) -> resumed -> finalize refusals -> rollback.
The sequence is written once, here, and runs on each host of the scenario: test_bookworm.py
(PostgreSQL 15, pg_partman 4) and test_trixie.py (PostgreSQL 17, pg_partman 5) import it and name
their host (the `host` fixture), each playbook limited to that host. The hosts are independent: the
verifier runs the two files at the same time, one pytest-xdist worker each (molecule.yml:
-n 2 --dist loadfile), which halves the scenario's time.
"""
import os
import subprocess
import time

import pytest

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
PROJECT = os.environ.get("MOLECULE_PROJECT_DIRECTORY", os.getcwd())
# partman_migrate's sessions carry this application_name (role default migration_application_name).
MIGRATION_APP = "soar.partman-migrate"


def sh(host, command, check=True):
    """A shell command on the test host (docker exec; fast enough to poll)."""
    proc = subprocess.run(["docker", "exec", host, "bash", "-c", command],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120, check=False)
    if check:
        assert proc.returncode == 0, "%s: %s" % (command, proc.stderr)
    return proc


def psql(host, sql, check=True):
    proc = sh(host, "su postgres -c %s" % _quote("psql -XAtq -d soar -v ON_ERROR_STOP=1 -c %s" % _quote(sql)), check)
    return proc.stdout.strip() if check else proc


def _quote(s):
    return "'" + s.replace("'", "'\"'\"'") + "'"


def playbook(host, name, *extra):
    """ansible-playbook on the molecule inventory, limited to the host; returns (rc, output)."""
    cmd = ["ansible-playbook", "-i", os.path.dirname(INVENTORY), "-l", host, os.path.join(PROJECT, "playbooks", name)]
    for e in extra:
        cmd += ["-e", e]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900, check=False)
    return proc.returncode, proc.stdout


def told(out):
    """What a failed assertion shows of a play's output: its failure message (what happened, where
    the data is, the application), else its end; the whole output is too long for a CI's log."""
    start = out.find('THE MAINTENANCE WINDOW FAILED')
    return out[start:start + 4000] if start >= 0 else out[-4000:]


def invocation_id(host):
    return sh(host, "systemctl show -p InvocationID --value soar-run.service").stdout.strip()


def relkind(host, name="public.fixes"):
    return psql(host, "SELECT coalesce((SELECT relkind::text FROM pg_class WHERE oid = to_regclass('%s')), '-')" % name)


def writer_rows(host):
    """Rows the writer inserted: the fixture's rows are all older than /var/tmp/fixture-newest."""
    newest = sh(host, "cat /var/tmp/fixture-newest").stdout.strip()
    return int(psql(host, "SELECT count(*) FROM fixes WHERE received_at > '%s'" % newest))


def assert_writer_inserts(host):
    """The service runs and its inserts succeed (the table it writes to serves)."""
    assert sh(host, "systemctl is-active soar-run.service", check=False).stdout.strip() == "active"
    before = writer_rows(host)
    deadline = time.time() + 60
    while writer_rows(host) < before + 40:
        assert time.time() < deadline, "the writer's inserts do not arrive"
        time.sleep(2)


def assert_no_row_lost(host):
    """Every row the writer says it committed is in the table (writer stopped to compare)."""
    sh(host, "systemctl stop soar.target")
    try:
        committed = int(sh(host, "cat /var/lib/soar-writer/committed").stdout.strip())
        assert committed > 0
        assert writer_rows(host) == committed
    finally:
        sh(host, "systemctl start soar.target")


@pytest.fixture(scope="module")
def fixture_rows(host):
    """Rows the fixture loaded (none is ever deleted, except where a test says so)."""
    newest = sh(host, "cat /var/tmp/fixture-newest").stdout.strip()
    return int(psql(host, "SELECT count(*) FROM fixes WHERE received_at <= '%s'" % newest))


def test_preflight_refusal_stops_nothing(host, fixture_rows):
    before = invocation_id(host)
    rc, out = playbook(host, "migrate.yml", "migration_inbound_fks=error")
    assert rc != 0, told(out)
    assert "foreign keys of other tables reference public.fixes" in out, told(out)
    assert "PLAY [Maintenance window]" not in out, told(out)
    assert invocation_id(host) == before, "the service was restarted although the preflight failed"
    assert relkind(host) == "r"


def migrate_killed_mid_copy(host, *extra):
    """migrate.yml while a watcher terminates the migration's sessions as soon as rows are being
    copied (as a failover or an OOM kill would). The watcher runs inside the container, as
    postgres: one process, cheap to poll. Returns (rc, output)."""
    watcher = r"""
    q() { psql -XAtq -d soar -c "$1" 2>/dev/null; }
    while [ ! -e /tmp/stop-killer ]; do
      n=$(q "SELECT coalesce(sum(rows), 0) FROM partman.partman_migrate_partition WHERE table_name = 'public.fixes'")
      if [ "${n:-0}" -gt 0 ]; then
        k=$(q "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = '%s'")
        t=$(q "SELECT rows_total FROM partman.partman_migrate_state WHERE table_name = 'public.fixes'")
        echo "rows=$n sessions=$k total=$t"
        exit 0
      fi
      sleep 0.05
    done
    exit 1
    """ % MIGRATION_APP
    sh(host, "rm -f /tmp/stop-killer")
    killer = subprocess.Popen(["docker", "exec", "-u", "postgres", host, "bash", "-c", watcher],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        rc, out = playbook(host, "migrate.yml", *extra)
    finally:
        sh(host, "touch /tmp/stop-killer")
        watched = killer.communicate(timeout=60)[0]
    killed = dict((k, int(v or 0)) for k, v in (w.split("=") for w in watched.split() if "=" in w))
    assert killed.get("sessions", 0) > 0, "the migration was not caught copying: %s\n%s" % (killed, told(out))
    assert killed["rows"] < killed["total"], killed  # really in the middle of the copy
    # libpq words it either way, depending on when the termination reaches the client.
    assert "terminating connection due to administrator command" in out \
        or "server closed the connection unexpectedly" in out, told(out)
    return rc, out


def test_killed_migration_fails_and_the_service_runs_on_the_plain_table(host, fixture_rows):
    rc, out = migrate_killed_mid_copy(host)
    # The play fails, and says what happened and what to do.
    assert rc != 0, told(out)
    assert "THE MAINTENANCE WINDOW FAILED" in out, told(out)
    assert "the migration was reverted: public.fixes is the plain table again" in out, told(out)
    assert "%s: started again (soar.target)" % host in out, told(out)
    assert "What to do:" in out and "run the same ansible-playbook command again" in out, told(out)
    # The old table is back under its name, complete, with the foreign key pointing at it.
    assert relkind(host) == "r"
    assert relkind(host, "public.fixes_old") == "-"
    assert psql(host, "SELECT count(*) FROM partman.partman_migrate_state WHERE table_name = 'public.fixes'") == "0"
    assert psql(host, "SELECT confrelid::regclass::text FROM pg_constraint WHERE conname = 'fix_annotations_fix_id_fkey'") \
        == "fixes"
    newest = sh(host, "cat /var/tmp/fixture-newest").stdout.strip()
    assert int(psql(host, "SELECT count(*) FROM fixes WHERE received_at <= '%s'" % newest)) == fixture_rows
    # The service runs on it again: inserts succeed, and nothing it wrote is missing.
    assert_writer_inserts(host)
    assert_no_row_lost(host)


def test_killed_migration_kept_for_resuming_leaves_the_service_stopped(host, fixture_rows):
    rc, out = migrate_killed_mid_copy(host, "migration_revert_on_failure=false")
    assert rc != 0, told(out)
    assert "THE MAINTENANCE WINDOW FAILED" in out, told(out)
    assert "the migration state is kept (step partitioned)" in out, told(out)
    assert "%s: left STOPPED" % host in out, told(out)
    assert relkind(host) == "p"
    assert relkind(host, "public.fixes_old") == "r"
    assert sh(host, "systemctl is-active soar-run.service", check=False).stdout.strip() != "active"


def test_migration_resumes_and_succeeds(host, fixture_rows):
    rc, out = playbook(host, "migrate.yml")
    assert rc == 0, told(out)
    assert "a migration stopped after step partitioned; it resumes with copied" in out, told(out)
    assert "public.fixes: done" in out, told(out)   # the last progress line
    assert "default partition public.fixes_default: 0 rows" in out, told(out)
    assert "(1 of " in out, told(out)  # the day's query scans one partition
    assert relkind(host) == "p"
    assert relkind(host, "public.fixes_old") == "r"
    newest = sh(host, "cat /var/tmp/fixture-newest").stdout.strip()
    assert int(psql(host, "SELECT count(*) FROM fixes WHERE received_at <= '%s'" % newest)) == fixture_rows
    assert_writer_inserts(host)
    assert psql(host, "SELECT count(*) FROM ONLY fixes_default") == "0"
    assert_no_row_lost(host)


def test_finalize_refuses_without_confirmation(host):
    rc, out = playbook(host, "finalize.yml", "migration_finalize_min_age='0 seconds'")
    assert rc != 0, told(out)
    assert "not dropping public.fixes_old" in out and "not confirmed" in out, told(out)
    assert relkind(host, "public.fixes_old") == "r"


def test_finalize_refuses_when_too_young(host):
    rc, out = playbook(host, "finalize.yml", "migration_finalize_confirm=true", "migration_finalize_min_age='30 days'")
    assert rc != 0, told(out)
    assert "the migration finished only" in out and "min_age is 30 days" in out, told(out)
    assert "not confirmed" not in out, told(out)
    assert relkind(host, "public.fixes_old") == "r"


def test_finalize_refuses_when_a_row_is_missing(host):
    # A row of the old table that the partitioned table no longer has.
    victim = psql(host, "SELECT id FROM fixes_old ORDER BY received_at LIMIT 1")
    assert psql(host, "WITH d AS (DELETE FROM fixes WHERE id = '%s' RETURNING 1) SELECT count(*) FROM d" % victim) == "1"
    rc, out = playbook(host, "finalize.yml", "migration_finalize_confirm=true", "migration_finalize_min_age='0 seconds'")
    assert rc != 0, told(out)
    assert "1 of the" in out and "are not in public.fixes" in out and victim in out, told(out)
    assert relkind(host, "public.fixes_old") == "r"


def test_rollback_puts_the_plain_table_back(host, fixture_rows):
    victim = psql(host, "SELECT id FROM fixes_old ORDER BY received_at LIMIT 1")
    before = invocation_id(host)
    rc, out = playbook(host, "rollback.yml")
    assert rc == 0, told(out)
    assert "public.fixes is the plain table again" in out, told(out)
    assert relkind(host) == "r"
    assert relkind(host, "public.fixes_old") == "-"
    assert psql(host, "SELECT count(*) FROM partman.part_config WHERE parent_table = 'public.fixes'") == "0"
    # The old table had every fixture row (also the one deleted from the partitioned table),
    # and the rows written since the migration were carried back.
    assert psql(host, "SELECT count(*) FROM fixes WHERE id = '%s'" % victim) == "1"
    newest = sh(host, "cat /var/tmp/fixture-newest").stdout.strip()
    assert int(psql(host, "SELECT count(*) FROM fixes WHERE received_at <= '%s'" % newest)) == fixture_rows
    assert invocation_id(host) != before  # stopped and started around the revert
    assert_writer_inserts(host)
    assert_no_row_lost(host)
