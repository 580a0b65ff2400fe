"""The provisioned hosts, checked from the outside: packages, extensions, preload, restarts, bad input."""
import json
import os
import subprocess

import pytest

# Debian ships one PostgreSQL major per release; partman majors differ between them.
EXPECTED = {
    "bookworm": {"pg": "15", "partman_major": "4"},
    "trixie": {"pg": "17", "partman_major": "5"},
}


def expected(host):
    return EXPECTED[host.system_info.codename]


def psql(host, sql, db="soar"):
    cmd = host.run("su postgres -c %s", "psql -XAt -d %s -c %s" % (db, _quote(sql)))
    assert cmd.rc == 0, cmd.stderr
    return cmd.stdout.strip()


def _quote(s):
    return "'" + s.replace("'", "'\"'\"'") + "'"


def package_version(host, name):
    return host.check_output("dpkg-query -W -f '${Version}' %s", name)


def upstream(version):
    """'4.7.3-1.pgdg+1' -> '4.7.3'; '1.6.4-1' -> '1.6.4'."""
    return version.split(":")[-1].split("-")[0]


def test_packages_installed(host):
    major = expected(host)["pg"]
    for name in ("postgresql-%s-partman" % major, "postgresql-%s-cron" % major, "python3-psycopg2"):
        assert host.package(name).is_installed, name


def test_pg_partman_at_distribution_version(host):
    major = expected(host)["pg"]
    extversion = psql(host, "SELECT extversion FROM pg_extension WHERE extname = 'pg_partman'")
    assert extversion == upstream(package_version(host, "postgresql-%s-partman" % major))
    assert extversion.split(".")[0] == expected(host)["partman_major"]
    schema = psql(host, "SELECT extnamespace::regnamespace FROM pg_extension WHERE extname = 'pg_partman'")
    assert schema == "partman"


def test_pg_cron_at_distribution_version(host):
    major = expected(host)["pg"]
    extversion = psql(host, "SELECT extversion FROM pg_extension WHERE extname = 'pg_cron'")
    packaged = upstream(package_version(host, "postgresql-%s-cron" % major))
    # pg_cron's extension versions name the SQL level (1.4-1, 1.6): major.minor must match the package.
    assert extversion.split("-")[0].split(".")[:2] == packaged.split(".")[:2], (extversion, packaged)


def test_pg_cron_preloaded_next_to_existing_library(host):
    libraries = [x.strip() for x in psql(host, "SHOW shared_preload_libraries").split(",")]
    assert "pg_cron" in libraries
    assert "pg_stat_statements" in libraries  # set by prepare, before the role ran
    assert psql(host, "SHOW cron.database_name") == "soar"


def test_pg_cron_schedules_in_soar(host):
    # The extension lives in cron.database_name and its metadata table answers.
    assert psql(host, "SELECT count(*) >= 0 FROM cron.job") == "t"


def test_postgresql_restarted_exactly_once(host):
    before = int(host.file("/var/tmp/molecule-starts-before-converge").content_string.strip())
    now = int(host.check_output(
        "cat /var/log/postgresql/postgresql-*-main.log | grep -c 'database system is ready to accept connections'"))
    # converge restarted once (pg_cron preload); the idempotence run restarted nothing.
    assert now == before + 1


def run_bad_input(host, role, **extra):
    inventory = os.environ["MOLECULE_INVENTORY_FILE"]
    playbook = os.path.join(os.path.dirname(__file__), "..", "bad_input.yml")
    extra = dict(extra, target=host.backend.get_hostname(), role_under_test=role)
    proc = subprocess.run(
        ["ansible-playbook", "-i", inventory, playbook, "-e", json.dumps(extra)],
        capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode != 0, proc.stdout[-3000:]
    return proc.stdout + proc.stderr  # ansible-core 2.19 prints task errors on stderr


@pytest.mark.parametrize("role, extra, words", [
    ("partman", {"partman_postgresql_version": "11"}, ["not supported", "partman_postgresql_version"]),
    ("partman", {"partman_postgresql_version": "16"}, ["Found no PostgreSQL 16", "partman_postgresql_version"]),
    ("partman", {"partman_database": "no_such_db"}, ["no_such_db", "does not exist", "Set partman_database"]),
    ("partman", {"partman_package": "postgresql-{major}-no-such-package"},
     ["apt has no package postgresql-", "partman_source: pgdg"]),
    ("pg_cron", {"pg_cron_database_name": "no_such_db"}, ["does not exist", "pg_cron_database_name"]),
    ("partman", {"partman_source": "nowhere"}, ["partman_source", "nowhere"]),
])
def test_bad_input_fails_with_the_fix(host, role, extra, words):
    out = run_bad_input(host, role, **extra)
    for word in words:
        assert word in out, "%r not in output:\n%s" % (word, out[-3000:])
