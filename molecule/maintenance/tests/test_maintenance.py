"""Every maintenance backend runs for real on both distributions and leaves nothing behind;
verify.yml and repair.yml against real failures. The tests run in file order and each acts on both
hosts at once (one ansible-playbook run for both), so the backends follow each other like this:

    converge (inventory)   bookworm pg_cron   trixie cron
    switch A               bgw                bgw
    switch B               systemd            pg_cron
    switch C               cron               systemd
    last                   none               none

An effect is always checked, not a configuration: a future partition is dropped, the backend runs
(the cron line as cron runs it, the systemd service, the pg_cron job, the background worker) and
the partition must be back.

How many partitions lie ahead depends on the time of day: with infinite_time_partitions (which
partman_migrate sets) pg_partman 4.x and 5.x count the partitions ahead from now() itself, rounded
(run_maintenance: round(age(last child's start, now()) / interval) < premake), so from noon on
(in the database's time zone) maintenance keeps premake + 1 daily partitions ahead, before noon
premake. The tests compare with what maintenance itself left, or ask for at least premake.

prepare dropped one before converge, so bookworm's pg_cron job (by the minute on pg_cron 1.4) does
its work while converge and idempotence run.
"""
import json
import os
import re
import shlex
import subprocess
import sys
import time

import pytest
import testinfra

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared"))
import cron_line  # noqa: E402  pylint: disable=wrong-import-position

HERE = os.path.dirname(os.path.abspath(__file__))
SCENARIO = os.path.dirname(HERE)
ROOT = os.path.abspath(os.path.join(SCENARIO, "..", ".."))
NAME = "soar-partman-maintenance"
CRON_FILE = "/etc/cron.d/" + NAME
LOGROTATE_FILE = "/etc/logrotate.d/" + NAME
SCRIPT = "/usr/local/sbin/" + NAME
LOG = "/var/log/soar-partman/maintenance.log"
SERVICE = NAME + ".service"
TIMER = NAME + ".timer"
CONF = {"bookworm": "/etc/postgresql/15/main/conf.d/%s-bgw.conf" % NAME,
        "trixie": "/etc/postgresql/17/main/conf.d/%s-bgw.conf" % NAME}
PARTMAN_MAJOR = {"bookworm": "4", "trixie": "5"}
TABLE = "public.fixes"

# Children of public.fixes whose range starts after now().
FUTURE = """
    SELECT format('%I.%I', n.nspname, c.relname)
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE i.inhparent = 'public.fixes'::regclass AND pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT'
      AND (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \\(''([^'']+)''\\)'))[1]::timestamptz > now()
    ORDER BY 1"""


# --------------------------------------------------------------------------- helpers
@pytest.fixture(scope="module")
def hosts():
    inventory = os.environ["MOLECULE_INVENTORY_FILE"]
    found = testinfra.get_hosts(["all"], connection="ansible", ansible_inventory=inventory)
    return dict((h.backend.get_hostname(), h) for h in found)


def codename(host):
    return host.system_info.codename


def psql(host, sql, db="soar", check=True):
    cmd = host.run("su postgres -c %s", "psql -XAtq -v ON_ERROR_STOP=1 -d %s -c %s" % (db, shlex.quote(sql)))
    if check:
        assert cmd.rc == 0, cmd.stderr
    return cmd.stdout.strip()


def future_partitions(host):
    return [x for x in psql(host, FUTURE).splitlines() if x]


def drop_future(host, count=1):
    """Drop the newest `count` future partitions (what maintenance must create again)."""
    names = future_partitions(host)[-count:]
    for name in names:
        psql(host, "DROP TABLE %s" % name)
    return names


def db_now(host):
    return psql(host, "SELECT now()")


def play(playbook, extra=None, limit=None, check=True):
    env = dict(os.environ, ANSIBLE_PIPELINING="True", ANSIBLE_FORCE_COLOR="0", PY_COLORS="0")
    args = ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], playbook]
    if extra:
        args += ["-e", json.dumps(extra)]
    if limit:
        args += ["-l", limit]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=600, env=env, check=False)
    if check:
        assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    return proc


def maintenance_playbook(backend, **extra):
    return play(os.path.join(ROOT, "playbooks", "maintenance.yml"),
                dict(extra, partman_maintenance_backend=backend))


def verify_playbook(**extra):
    """verify.yml; after the switches, checking the backend that is installed (auto)."""
    extra.setdefault("partman_verify_backend", "auto")
    return play(os.path.join(ROOT, "playbooks", "verify.yml"), extra, check=False)


def flat(proc):
    """Play output (stdout and stderr, where failures go) with YAML line folding undone."""
    return " ".join((proc.stdout + "\n" + proc.stderr).split())


def switch(backends):
    return play(os.path.join(SCENARIO, "..", "shared", "switch.yml"), {"switch_backends": backends})


def cron_entry(host):
    return cron_line.cron_entry(host, CRON_FILE)


def run_cron_line(host):
    return cron_line.run_cron_line(host, CRON_FILE)


def run_systemd_service(host):
    cmd = host.run("systemctl start %s" % SERVICE)
    props = dict(line.split("=", 1) for line in host.check_output(
        "systemctl show %s -p Result -p ExecMainStatus" % SERVICE).splitlines() if "=" in line)
    return cmd, props


def pg_cron_succeeded_since(host, since):
    return psql(host, "SELECT count(*) FROM cron.job_run_details d JOIN cron.job j USING (jobid) "
                      "WHERE j.jobname = '%s' AND d.status = 'succeeded' AND d.start_time > '%s'"
                % (NAME, since), db="postgres") != "0"


def run_backend(host, backend):
    """Run the backend's maintenance the way its scheduler does; returns (succeeded, output of that
    run, from its START line on, however many attempts it logged: a fixed tail of the log missed the
    first RETRY line when PostgreSQL came back slowly and a dozen attempts were logged)."""
    if backend == "cron":
        cmd = run_cron_line(host)
        return cmd.rc == 0, this_run(host.file(LOG).content_string)
    cmd, props = run_systemd_service(host)
    journal = host.run("journalctl -u %s -n 1000 --no-pager" % SERVICE).stdout
    return cmd.rc == 0 and props.get("Result") == "success", this_run(journal)


def this_run(log):
    """The lines of a maintenance log from its last run's START line on."""
    start = log.rfind("partman-maintenance: START")
    return log[log.rfind("\n", 0, start) + 1:] if start >= 0 else log[-3000:]


def wait_for(predicate, timeout, step=2):
    deadline = time.time() + timeout
    while True:
        value = predicate()
        if value or time.time() > deadline:
            return value
        time.sleep(step)


def pg_cron_job(host):
    return psql(host, "SELECT jobname || '|' || database || '|' || schedule || '|' || nodename FROM cron.job "
                      "WHERE jobname = '%s'" % NAME, db="postgres")


def preload(host):
    return [x.strip() for x in psql(host, "SHOW shared_preload_libraries").split(",") if x.strip()]


def assert_only(host, backend):
    """What the backend installed is there, and nothing of the others."""
    files = {
        "cron": [CRON_FILE, LOGROTATE_FILE],
        "systemd": ["/etc/systemd/system/" + SERVICE, "/etc/systemd/system/" + TIMER],
        "bgw": [CONF[codename(host)]],
    }
    for name, paths in files.items():
        for path in paths:
            assert host.file(path).exists == (name == backend), (backend, path)
    assert host.file(SCRIPT).exists == (backend != "none")
    units = host.run("systemctl list-unit-files %s %s --no-legend" % (SERVICE, TIMER)).stdout
    assert (NAME in units) == (backend == "systemd"), units
    if backend == "systemd":
        assert host.service(TIMER).is_enabled
        assert host.service(TIMER).is_running
    assert (pg_cron_job(host) != "") == (backend == "pg_cron")
    libraries = preload(host)
    assert ("pg_partman_bgw" in libraries) == (backend == "bgw"), libraries
    # Libraries the role did not add stay, in their order.
    assert libraries[:2] == ["pg_stat_statements", "pg_cron"], libraries


# --------------------------------------------------------------------------- tests
FINAL = {"maintenance-bookworm": "cron", "maintenance-trixie": "systemd"}


def test_converged_backends_run(hosts):
    """bookworm's pg_cron job (in cron.database_name postgres, running in soar over the Unix socket)
    has re-created the partition prepare dropped, with a success in cron.job_run_details; trixie's cron
    line, run as cron runs it, does the same and logs OK; the log rotates."""
    for name, host in hosts.items():
        assert psql(host, "SELECT split_part(extversion, '.', 1) FROM pg_extension WHERE extname = 'pg_partman'") \
            == PARTMAN_MAJOR[codename(host)]
    bookworm, trixie = hosts["maintenance-bookworm"], hosts["maintenance-trixie"]

    assert_only(bookworm, "pg_cron")
    job = pg_cron_job(bookworm).split("|")
    assert job == [NAME, "soar", "* * * * *", "/var/run/postgresql"], job
    since = bookworm.file("/var/tmp/molecule-partition-dropped-at").content_string.strip()
    assert wait_for(lambda: pg_cron_succeeded_since(bookworm, since) and len(future_partitions(bookworm)) >= 3, 90), \
        psql(bookworm, "SELECT status, return_message FROM cron.job_run_details ORDER BY runid DESC LIMIT 3",
             db="postgres")

    assert_only(trixie, "cron")
    # The first run at install (converge) has re-created the dropped partition and logged it.
    assert "partman-maintenance: OK" in trixie.file(LOG).content_string
    assert len(future_partitions(trixie)) >= 3
    drop_future(trixie, 1)
    env, user, command = cron_entry(trixie)
    assert user == "postgres" and command.startswith(SCRIPT) and LOG in command
    assert re.match(r"^0 3 \* \* \* ", trixie.file(CRON_FILE).content_string.splitlines()[-1])
    ok, output = run_backend(trixie, "cron")
    assert ok, output
    assert "partman-maintenance: OK" in output
    assert len(future_partitions(trixie)) >= 3
    rotate = trixie.run("logrotate --force /etc/logrotate.d/%s" % NAME)
    assert rotate.rc == 0, rotate.stderr
    assert trixie.file(LOG + ".1").exists


def test_verify_passes_with_the_inventory_backends(hosts):
    """verify.yml reads the evidence of each host's inventory backend: cron.job_run_details on bookworm,
    the rotated cron log on trixie."""
    proc = play(os.path.join(ROOT, "playbooks", "verify.yml"), check=False)
    out = flat(proc)
    assert proc.returncode == 0, out[-4000:]
    assert len(re.findall(r"[34] ahead \(premake 3\)", out)) == 2, out[-4000:]
    assert "maintenance by pg_cron: last success" in out and "maintenance by cron: last success" in out
    assert out.count("(succeeded)") == 2


def test_switch_to_bgw_runs_the_worker(hosts):
    """playbooks/maintenance.yml: pg_partman_bgw preloaded next to pg_stat_statements and pg_cron (one
    restart), its settings in conf.d, the pg_cron job and the cron file gone; the worker (every 5 s)
    re-creates the dropped partition and logs its call."""
    maintenance_playbook("bgw")
    started = {}
    for name, host in hosts.items():
        assert_only(host, "bgw")
        assert psql(host, "SHOW pg_partman_bgw.dbname") == "soar"
        assert psql(host, "SHOW pg_partman_bgw.interval") == "5"
        started[name] = future_partitions(host)
        drop_future(host, 1)
    for name, host in hosts.items():
        assert wait_for(lambda: future_partitions(host) == started[name], 30), future_partitions(host)
        log = host.check_output("tail -n 200 /var/log/postgresql/postgresql-*-main.log")
        assert "pg_partman dynamic background worker (dbname=soar)" in log and "called by role postgres" in log


def test_switch_to_systemd_and_pg_cron(hosts):
    """switch.yml, one backend per host: bookworm to systemd, trixie to pg_cron (every 5 seconds on
    pg_cron 1.6). pg_partman_bgw leaves the preload list (the other libraries stay) and its settings go.
    The service (checked by systemd-analyze verify, started as its timer would) and the job each
    re-create a dropped partition."""
    switch({"maintenance-bookworm": "systemd", "maintenance-trixie": "pg_cron"})
    bookworm, trixie = hosts["maintenance-bookworm"], hosts["maintenance-trixie"]
    assert_only(bookworm, "systemd")
    assert_only(trixie, "pg_cron")
    for host in hosts.values():
        assert psql(host, "SELECT current_setting('pg_partman_bgw.dbname', true) IS NULL") == "t"
    assert pg_cron_job(trixie).split("|") == [NAME, "soar", "5 seconds", "/var/run/postgresql"]
    since = db_now(trixie)
    expected = {name: future_partitions(host) for name, host in hosts.items()}
    for host in hosts.values():
        drop_future(host, 1)

    analyze = bookworm.run("systemd-analyze verify /etc/systemd/system/%s /etc/systemd/system/%s" % (SERVICE, TIMER))
    assert analyze.rc == 0, analyze.stderr
    timer = bookworm.check_output("systemctl show %s -p Persistent -p TimersCalendar" % TIMER)
    assert "Persistent=yes" in timer and "03:00:00" in timer, timer
    ok, output = run_backend(bookworm, "systemd")
    assert ok, output
    assert "partman-maintenance: OK" in output
    assert future_partitions(bookworm) == expected["maintenance-bookworm"]

    assert wait_for(lambda: pg_cron_succeeded_since(trixie, since), 60)
    assert wait_for(lambda: future_partitions(trixie) == expected["maintenance-trixie"], 20)


def test_switch_to_cron_and_systemd(hosts):
    """switch.yml: bookworm to cron, trixie to systemd; nothing of the previous backends is left and
    both run for real, so every backend has now run on both distributions."""
    switch(FINAL)
    for name, host in hosts.items():
        assert_only(host, FINAL[name])
        before = future_partitions(host)
        drop_future(host, 1)
        ok, output = run_backend(host, FINAL[name])
        assert ok, output
        assert future_partitions(host) == before


def test_files_have_deliberate_owners_and_modes(hosts):
    """The files the role writes, as README's table "Files the roles write" lists them (cron on bookworm,
    systemd on trixie after the switches)."""
    expected = {
        "maintenance-bookworm": [("/etc/cron.d/" + NAME, "root", 0o644), (SCRIPT, "root", 0o755),
                                 (LOGROTATE_FILE, "root", 0o644), (os.path.dirname(LOG), "postgres", 0o750),
                                 (LOG, "postgres", 0o640)],
        "maintenance-trixie": [("/etc/systemd/system/%s.service" % NAME, "root", 0o644),
                               ("/etc/systemd/system/%s.timer" % NAME, "root", 0o644), (SCRIPT, "root", 0o755)],
    }
    for name, host in hosts.items():
        for path, owner, mode in expected[name]:
            f = host.file(path)
            assert f.exists, path
            assert (f.user, f.mode) == (owner, mode), (name, path, f.user, oct(f.mode))


def test_verify_fails_with_too_few_partitions_ahead(hosts):
    for host in hosts.values():
        drop_future(host, len(future_partitions(host)) - 2)
    proc = verify_playbook()
    assert proc.returncode != 0
    out = flat(proc)
    for name in hosts:
        assert "%s: public.fixes: 2 partition(s) exist ahead of now, premake is 3" % name in out, out[-4000:]
    for name, host in hosts.items():
        ok, output = run_backend(host, FINAL[name])
        assert ok, output
        assert len(future_partitions(host)) >= 3


def test_verify_fails_when_maintenance_is_not_recent(hosts):
    time.sleep(2)
    proc = verify_playbook(partman_verify_max_age_hours=0.0003)
    assert proc.returncode != 0
    out = flat(proc)
    for name in hosts:
        assert "%s: the last successful maintenance run" % name in out, out[-4000:]


def test_verify_tells_a_just_migrated_table_apart(hosts):
    """No run recorded at all (the cron host's log is gone, as right after a migration): verify fails,
    unless partman_verify_allow_no_maintenance is set."""
    host = hosts["maintenance-bookworm"]
    saved = "for f in %s %s.1; do if [ -e $f ]; then mv $f $f.saved; fi; done" % (LOG, LOG)
    restore = "for f in %s %s.1; do if [ -e $f.saved ]; then mv $f.saved $f; fi; done" % (LOG, LOG)
    host.run(saved)
    try:
        verify = os.path.join(ROOT, "playbooks", "verify.yml")
        proc = play(verify, {"partman_verify_backend": "cron"}, limit="maintenance-bookworm", check=False)
        assert proc.returncode != 0
        assert "no successful maintenance run is recorded" in flat(proc), flat(proc)[-3000:]
        assert "set partman_verify_allow_no_maintenance=true" in flat(proc), flat(proc)[-3000:]
        proc = play(verify, {"partman_verify_backend": "cron", "partman_verify_allow_no_maintenance": True},
                    limit="maintenance-bookworm", check=False)
        assert proc.returncode == 0, flat(proc)[-3000:]
        assert "no maintenance run is recorded yet" in flat(proc)
    finally:
        host.run(restore)


def test_job_retries_while_postgresql_is_down(hosts):
    """PostgreSQL stopped, started again 5 s later: the scheduled job (cron line on bookworm, the
    systemd service on trixie) retries with backoff, logs RETRY lines and then succeeds."""
    for name, host in hosts.items():
        service = "postgresql@%s-main.service" % {"bookworm": "15", "trixie": "17"}[codename(host)]
        host.check_output("systemctl stop %s" % service)
        host.check_output("systemd-run --on-active=5s systemctl start %s" % service)
        ok, output = run_backend(host, FINAL[name])
        assert ok, output
        assert "partman-maintenance: RETRY attempt=1" in output, output
        # However long PostgreSQL took to come back (under load, 40 s and 12 attempts were seen): more than one.
        assert re.search(r"partman-maintenance: OK database=soar seconds=\d+ attempts=([2-9]|[1-9]\d+)\b", output), output


CHECKSUM = "SELECT count(*) || ' ' || md5(string_agg(id::text || received_at::text, ',' ORDER BY id, received_at)) FROM public.fixes"


def test_self_heal_gets_through_exhausted_connections(hosts):
    """SOAR's incident: maintenance stopped, the future partitions ran out and rows for tomorrow and
    5 days ahead landed in the default partition; verify.yml fails. Then the application holds every
    connection (max_connections 10, the 7 slots left to non-superusers taken by sleeping sessions, an
    8th refused): the next scheduled run still connects (a superuser slot), moves the rows into proper
    children, creates the partitions ahead, and keeps every row (count and checksum); verify.yml passes."""
    before = {}
    for name, host in hosts.items():
        for partition in future_partitions(host):
            psql(host, "DROP TABLE %s" % partition)
        for days, count in ((1, 40), (5, 25)):
            psql(host, """
                INSERT INTO fixes (source, aprs_type, via, timestamp, latitude, longitude, device_id, received_at,
                                   receiver_id, aprs_message_id)
                SELECT source, aprs_type, via, timestamp, latitude, longitude, device_id,
                       date_trunc('day', now()) + interval '%d days' + (row_number() OVER () || ' minutes')::interval,
                       receiver_id, aprs_message_id
                FROM fixes LIMIT %d""" % (days, count))
        assert psql(host, "SELECT count(*) FROM ONLY public.fixes_default") == "65"
        before[name] = psql(host, CHECKSUM)
    proc = verify_playbook()
    assert proc.returncode != 0
    for name in hosts:
        assert "%s: public.fixes: 65 row(s) in the default partition" % name in flat(proc), flat(proc)[-4000:]

    for name, host in hosts.items():
        service = "postgresql@%s-main.service" % {"bookworm": "15", "trixie": "17"}[codename(host)]
        psql(host, "DROP ROLE IF EXISTS app; CREATE ROLE app LOGIN PASSWORD 'app'")
        psql(host, "ALTER SYSTEM SET max_connections = 10")  # not in a transaction block: a psql -c of its own
        host.check_output("systemctl restart %s" % service)
        try:
            for _slot in range(7):
                host.check_output("systemd-run --collect -E PGPASSWORD=app psql -X -h 127.0.0.1 -U app -d soar "
                                  "-c 'SELECT pg_sleep(300)'")
            assert wait_for(lambda: psql(host, "SELECT count(*) FROM pg_stat_activity WHERE usename = 'app'") == "7", 20)
            refused = host.run("PGPASSWORD=app psql -X -h 127.0.0.1 -U app -d soar -c 'SELECT 1'")
            assert refused.rc != 0 and "reserved" in refused.stderr, refused.stderr
            ok, output = run_backend(host, FINAL[name])
            assert ok, output
            assert "soar.partman self-heal" in output, output
        finally:
            psql(host, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'app'")
            psql(host, "ALTER SYSTEM RESET max_connections")
            host.check_output("systemctl restart %s" % service)
        assert psql(host, "SELECT count(*) FROM ONLY public.fixes_default") == "0"
        assert psql(host, CHECKSUM) == before[name]
        assert psql(host, "SELECT count(*) FROM public.fixes WHERE received_at >= date_trunc('day', now()) "
                          "+ interval '5 days' AND tableoid <> 'public.fixes_default'::regclass") == "25"
        assert len(future_partitions(host)) >= 5

    proc = verify_playbook()
    assert proc.returncode == 0, flat(proc)[-4000:]
    # repair.yml finds nothing left to do.
    proc = play(os.path.join(ROOT, "playbooks", "repair.yml"))
    assert len(re.findall(r"maintenance-\w+\s*: ok=\d+\s+changed=0", proc.stdout)) == 2, proc.stdout[-2000:]


def test_verify_fails_when_no_host_matched(hosts):
    """'skipping: no hosts matched' would exit 0: verify.yml fails instead, naming partman_verify_hosts."""
    proc = verify_playbook(partman_verify_hosts="no_such_group")
    assert proc.returncode != 0
    assert "No host was checked" in flat(proc) and "partman_verify_hosts" in flat(proc), flat(proc)[-3000:]


def test_retention_guard_refuses_before_any_change(hosts):
    """A retention of 1 day that would DROP partitions holding rows fails the play before anything
    changes (the requested switch to none does not happen) and says how much would go."""
    proc = play(os.path.join(ROOT, "playbooks", "maintenance.yml"),
                {"partman_maintenance_backend": "none", "partman_maintenance_retention": "1 day",
                 "partman_maintenance_retention_keep_table": False}, check=False)
    assert proc.returncode != 0
    out = flat(proc)
    for name in hosts:
        assert "fatal: [%s]" % name in out, out[-4000:]
    assert out.count("Nothing was changed") >= 2, out[-4000:]
    assert re.search(r"would DROP \d+ partition\(s\) holding data \(about \d+ rows", out), out[-4000:]
    assert "partman_maintenance_retention_confirm_drop" in out
    for name, host in hosts.items():
        assert psql(host, "SELECT coalesce(retention, 'none') FROM partman.part_config "
                          "WHERE parent_table = 'public.fixes'") == "none"
        assert_only(host, FINAL[name])


def test_confirmed_retention_and_none_leave_nothing_behind(hosts):
    """Confirmed, the retention is written to part_config; backend none removes every backend: no cron
    file, no logrotate file, no script, no units, no pg_cron job, no pg_partman_bgw (nothing runs
    maintenance any more, so the confirmed retention drops nothing here)."""
    maintenance_playbook("none", partman_maintenance_retention="1 day",
                         partman_maintenance_retention_keep_table=False,
                         partman_maintenance_retention_confirm_drop=True)
    for host in hosts.values():
        assert_only(host, "none")
        assert psql(host, "SELECT retention || ' ' || retention_keep_table FROM partman.part_config "
                          "WHERE parent_table = 'public.fixes'") == "1 day false"


def test_check_mode_and_the_retention_in_part_config(hosts):
    """The retention now in part_config (1 day, tables dropped) is refused on the next run without the
    confirmation too. Confirmed, a check-mode run of the inventory's backends reports what it would do
    and changes nothing."""
    maintenance = os.path.join(ROOT, "playbooks", "maintenance.yml")
    proc = play(maintenance, {"partman_maintenance_backend": "cron"}, check=False)
    assert proc.returncode != 0
    out = flat(proc)
    for name in hosts:
        assert "%s: nothing was changed. public.fixes: retention 1 day" % name in out, out[-3000:]
    env = dict(os.environ, ANSIBLE_PIPELINING="True")
    proc = subprocess.run(["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], maintenance, "--check",
                           "-e", json.dumps({"partman_maintenance_retention_confirm_drop": True})],
                          capture_output=True, text=True, timeout=600, env=env, check=False)
    assert proc.returncode == 0, flat(proc)[-3000:]
    assert len(re.findall(r"maintenance-\w+\s*: ok=\d+\s+changed=[1-9]", proc.stdout)) == 2, proc.stdout[-2000:]
    for host in hosts.values():
        assert_only(host, "none")


# --------------------------------------------------------------------------- issue 10: retention, injection
def part_config_retention(host):
    return psql(host, "SELECT coalesce(retention, 'none') || ' ' || retention_keep_table FROM partman.part_config "
                      "WHERE parent_table = 'public.fixes'")


def test_unitless_retention_is_refused_before_any_change(hosts):
    """-e partman_maintenance_retention=30 days, as typed on a command line, arrives as 30 (seconds to
    PostgreSQL): refused before any change, naming the variable and the JSON form; so is a retention
    shorter than the partition interval. part_config keeps its retention, no backend is installed."""
    maintenance = os.path.join(ROOT, "playbooks", "maintenance.yml")
    env = dict(os.environ, ANSIBLE_PIPELINING="True", ANSIBLE_FORCE_COLOR="0")
    proc = subprocess.run(["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], maintenance,
                           "-e", "partman_maintenance_retention=30 days",
                           "-e", json.dumps({"partman_maintenance_backend": "cron"})],
                          capture_output=True, text=True, timeout=600, env=env, check=False)
    assert proc.returncode != 0
    out = flat(proc).replace("''", "'")  # the YAML callback doubles quotes
    # The message is in the fatal line of each host (and again in the error summary).
    assert out.count("partman_maintenance_retention '30' has no unit") >= 2, out[-4000:]
    for name in hosts:
        assert "fatal: [%s]" % name in out, out[-4000:]
    assert """-e '{"partman_maintenance_retention": "30 days"}'""" in out, out[-4000:]
    proc = play(maintenance, {"partman_maintenance_backend": "cron", "partman_maintenance_retention": "30 seconds"},
                check=False)
    assert proc.returncode != 0
    assert flat(proc).count("is shorter than the partition interval of public.fixes (1 day)") >= 2, flat(proc)[-4000:]
    for host in hosts.values():
        assert part_config_retention(host) == "1 day false"
        assert_only(host, "none")


def test_detach_guard_fires_and_can_be_confirmed(hosts):
    """A retention that keeps the tables still takes partitions holding rows away from the table the
    application reads: refused with the numbers of the drop message unless
    partman_maintenance_retention_confirm_detach; confirmed, it is written; the guard then holds for
    the retention in part_config too."""
    maintenance = os.path.join(ROOT, "playbooks", "maintenance.yml")
    wanted = {"partman_maintenance_backend": "none", "partman_maintenance_retention": "1 day",
              "partman_maintenance_retention_keep_table": True, "partman_maintenance_retention_confirm_drop": True}
    proc = play(maintenance, wanted, check=False)
    assert proc.returncode != 0
    out = flat(proc)
    assert len(re.findall(r"would DETACH \d+ partition\(s\) holding data \(about \d+ rows, [^)]*\) from public.fixes",
                          out)) >= 2, out[-4000:]
    for name in hosts:
        assert "fatal: [%s]" % name in out, out[-4000:]
    assert "partman_maintenance_retention_confirm_detach: true" in out
    for host in hosts.values():
        assert part_config_retention(host) == "1 day false"

    play(maintenance, dict(wanted, partman_maintenance_retention_confirm_detach=True))
    for host in hosts.values():
        assert part_config_retention(host) == "1 day true"

    proc = play(maintenance, {"partman_maintenance_backend": "none"}, check=False)
    assert proc.returncode != 0
    out = flat(proc)
    for name in hosts:
        assert "%s: nothing was changed. public.fixes: retention 1 day with retention_keep_table true would DETACH" \
            % name in out, out[-4000:]


def test_retention_none_removes_it(hosts):
    """partman_maintenance_retention: none sets part_config.retention to NULL; a second run changes nothing."""
    maintenance_playbook("none", partman_maintenance_retention="none")
    for host in hosts.values():
        assert part_config_retention(host) == "none true"
    proc = maintenance_playbook("none", partman_maintenance_retention="none")
    assert len(re.findall(r"maintenance-\w+\s*: ok=\d+\s+changed=0", proc.stdout)) == 2, proc.stdout[-3000:]


def test_verify_says_the_job_is_not_installed(hosts):
    """Backend none: verify.yml for the cron backend says the job is not installed, not 'no run recorded'."""
    proc = verify_playbook(partman_verify_backend="cron")
    assert proc.returncode != 0
    out = flat(proc)
    for name in hosts:
        assert "%s: maintenance (cron): the job is not installed (/etc/cron.d/%s not found)" % (name, NAME) in out, \
            out[-3000:]
    assert "no successful maintenance run is recorded" not in out


def test_values_that_would_add_lines_are_refused_before_any_change(hosts):
    """A bgw role name with a quote and a newline (an archive_command line in postgresql.conf), and a
    cron file name with a dot (ignored by Debian's cron): refused, naming the variable, nothing written."""
    maintenance = os.path.join(ROOT, "playbooks", "maintenance.yml")
    for extra, variable in (
            ({"partman_maintenance_db_user": "postgres'\narchive_command = 'touch /tmp/pwned'"},
             "partman_maintenance_db_user"),
            ({"partman_maintenance_name": "soar.partman"}, "partman_maintenance_name")):
        proc = play(maintenance, dict(extra, partman_maintenance_backend="bgw"), check=False)
        assert proc.returncode != 0
        out = flat(proc)
        assert out.count("Nothing was changed") >= 2 and variable in out, out[-4000:]
    for host in hosts.values():
        assert_only(host, "none")
        assert not host.file(CONF[codename(host)]).exists


WEIRD_DB = "soar$(touch /tmp/pwned)'x"


def test_database_name_with_a_shell_command_stays_data(hosts):
    """A database named soar$(touch /tmp/pwned)'x: the cron backend's script (sh -n, then run as cron
    runs it) and the bgw settings take it as a name. Nothing is executed, pg_partman_bgw.dbname is
    that exact name, the log lines carry it."""
    for host in hosts.values():
        host.run("rm -f /tmp/pwned")
        psql(host, 'CREATE DATABASE "%s"' % WEIRD_DB.replace('"', '""'), db="postgres")
        psql(host, "CREATE SCHEMA partman; CREATE EXTENSION pg_partman SCHEMA partman", db=shlex.quote(WEIRD_DB))
    try:
        play(os.path.join(SCENARIO, "..", "shared", "switch.yml"),
             {"switch_backends": {"maintenance-bookworm": "cron", "maintenance-trixie": "bgw"},
              "partman_maintenance_database": WEIRD_DB})
        bookworm, trixie = hosts["maintenance-bookworm"], hosts["maintenance-trixie"]
        syntax = bookworm.run("sh -n %s" % SCRIPT)
        assert syntax.rc == 0, syntax.stderr
        cmd = run_cron_line(bookworm)
        assert cmd.rc == 0, cmd.stdout + cmd.stderr
        log = bookworm.file(LOG).content_string
        assert "partman-maintenance: OK database=%s seconds=" % WEIRD_DB in log, log[-2000:]
        assert psql(trixie, "SHOW pg_partman_bgw.dbname") == WEIRD_DB
        time.sleep(6)  # the worker runs every 5 seconds
        for host in hosts.values():
            assert not host.file("/tmp/pwned").exists
    finally:
        switch({"maintenance-bookworm": "none", "maintenance-trixie": "none"})
        for host in hosts.values():
            psql(host, 'DROP DATABASE IF EXISTS "%s"' % WEIRD_DB.replace('"', '""'), db="postgres", check=False)
    for host in hosts.values():
        assert_only(host, "none")
