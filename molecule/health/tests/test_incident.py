"""SOAR's incident, reproduced once per round, each host on its own maintenance backend, so that every
backend of the scheduled kind (systemd, cron, pg_cron) goes through it on both distributions:

    round      health-bookworm   health-trixie
    1          systemd           cron            (converge, from the inventory)
    2          cron              pg_cron         (molecule/shared/switch.yml)
    3          pg_cron           systemd

In each round:
(a) the health check, on its own timer, reports the incident within one period and the example alert
    rules fire in `promtool test rules` against the metrics the check wrote (healthy: none);
(b) the next scheduled maintenance gets through although the stand-in's role still holds every connection
    not reserved, moves the stranded rows into proper children and creates the partitions ahead, every row
    kept (count and checksum; the writer is stopped for the comparison, its slot taken by a second hog);
(c) the metrics and verify.yml are healthy again.
Nobody runs maintenance: its scheduler is stopped for the simulated days and started again, the
schedules (every minute) do the rest.

The incident: the stand-in's role takes every connection PostgreSQL does not reserve for superusers;
maintenance stops; the premade children are dropped (their rows put into the default partition first,
none lost) and the writer keeps writing, into the default partition.

Last, the bgw backend (pg_partman's own worker) on both hosts: the check reports its runs.
"""
import os
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import health_testing as ht  # noqa: E402  pylint: disable=wrong-import-position

PERIOD = 60  # partman_health_interval_minutes: 1
ROUNDS = [
    {"health-bookworm": "systemd", "health-trixie": "cron"},
    {"health-bookworm": "cron", "health-trixie": "pg_cron"},
    {"health-bookworm": "pg_cron", "health-trixie": "systemd"},
]
JOB = "soar-partman-maintenance"

# Children of public.fixes that cover now or later: what three days without maintenance use up.
PREMADE = """
    SELECT format('%I.%I', n.nspname, c.relname)
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE i.inhparent = 'public.fixes'::regclass AND pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT'
      AND (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \\(''([^'']+)''\\)'))[1]::timestamptz > now()
    ORDER BY 1"""

# Every column but the generated ones (they cannot be given).
COLUMNS = """
    SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute
    WHERE attrelid = 'public.fixes'::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = ''"""

CHECKSUM = "SELECT count(*) || ' ' || coalesce(sum(hashtext(f::text)::bigint), 0) FROM public.fixes f"


def succeeded_by(found, backend):
    """The check read a completed, successful last run of this backend (not one still running)."""
    return any(n == "soar_partman_maintenance_status" and v == 1 and dict(ls).get("status") == "succeeded"
               and dict(ls).get("backend") == backend for (n, ls), v in found.items())


def pause_maintenance(host, backend, active):
    """Stop (active False) or start again the scheduler of the backend: the days without maintenance."""
    if backend == "systemd":
        host.run_expect([0], "systemctl %s %s", "start" if active else "stop", ht.MAINTENANCE_TIMER)
    elif backend == "cron":
        host.run_expect([0], "systemctl %s cron.service", "start" if active else "stop")
    else:
        assert ht.psql(host, "UPDATE cron.job SET active = %s WHERE jobname = '%s' RETURNING jobid"
                       % ("true" if active else "false", JOB), db="postgres") != ""


def refused_one_more(host):
    """The stand-in's role is refused one more connection: every one not reserved is taken. A slot that a
    superuser's session (the health check) has just left may be free for a moment before the hog takes
    it: three tries."""
    said = []
    for _try in range(3):
        refused = host.run("PGPASSWORD=soar psql -XAtq -h 127.0.0.1 -U soar -d soar -c 'SELECT 1'")
        said.append(refused.stderr + refused.stdout)
        if refused.rc != 0 and ("too many clients" in said[-1] or "remaining connection slots are reserved"
                                in said[-1]):
            return True, said
        time.sleep(1)
    return False, said


@pytest.fixture(scope="module", params=range(len(ROUNDS)), ids=["round%d" % (i + 1) for i in range(len(ROUNDS))])
def backends(request):
    """The round's backend per host; rounds after the first switch to it (which runs maintenance once)."""
    if request.param > 0:
        ht.play(os.path.join(ht.ROOT, "molecule", "shared", "switch.yml"), {"switch_backends": ROUNDS[request.param]})
    ht.STATE.clear()
    yield ROUNDS[request.param]
    # A failed round must not leave its incident to the next one: the hogs go, the writer and the
    # schedulers run again.
    for name, host in ht.get_hosts().items():
        host.run("systemctl stop health-hog.service health-hog-2.service; systemctl reset-failed 'health-hog*'")
        host.run("systemctl start soar-run.service")
        pause_maintenance(host, ROUNDS[request.param][name], active=True)


def test_the_check_reports_healthy_figures(backends):
    hosts = ht.get_hosts()
    start = time.time()
    for name, host in hosts.items():
        assert host.service(ht.HEALTH_TIMER).is_enabled
        assert host.service(ht.HEALTH_TIMER).is_running
    for name, host in hosts.items():
        # The check and a schedule of every minute start together: wait for a check that saw the run end.
        found, text = ht.wait_metrics(
            host, lambda f: ht.value(f, "soar_partman_healthy") == 1 and succeeded_by(f, backends[name]), start,
            3 * PERIOD + 30)
        assert ht.value(found, "soar_partman_health_check_success") == 1
        children = int(ht.psql(host, "SELECT count(*) FROM pg_inherits WHERE inhparent = 'public.fixes'::regclass"))
        assert ht.value(found, "soar_partman_partitions", parent="public.fixes") == children - 1
        assert ht.value(found, "soar_partman_default_rows", parent="public.fixes") == 0
        assert ht.value(found, "soar_partman_partitions_ahead", parent="public.fixes") >= 3
        assert ht.value(found, "soar_partman_maintenance_status", parent="public.fixes", status="succeeded",
                        backend=backends[name]) == 1
        ht.STATE[name] = {"healthy": text}


def test_no_alert_fires_on_the_healthy_metrics(backends):
    for name, host in ht.get_hosts().items():
        cmd = ht.promtool_test(host, ht.STATE[name]["healthy"], name, [(5, {}), (60, {})], 120)
        assert cmd.rc == 0, cmd.stdout + cmd.stderr


def test_the_incident_is_reported_within_one_period(backends):
    hosts = ht.get_hosts()
    for name, host in hosts.items():
        pause_maintenance(host, backends[name], active=False)
        cmd = host.run("systemd-run --unit health-hog --property=User=nobody python3 -c %s", ht.HOG)
        assert cmd.rc == 0, cmd.stderr
    time.sleep(5)
    for name, host in hosts.items():
        refused, said = refused_one_more(host)
        assert refused, said
        premade = [x for x in ht.psql(host, PREMADE).splitlines() if x]
        assert len(premade) >= 4
        # The premade children's rows go to the default partition first: none is lost by the simulation.
        columns = ht.psql(host, COLUMNS)
        statements = ["BEGIN", "LOCK TABLE public.fixes IN ACCESS EXCLUSIVE MODE"]
        for child in premade:
            statements += ["ALTER TABLE public.fixes DETACH PARTITION %s" % child,
                           "INSERT INTO public.fixes (%s) OVERRIDING SYSTEM VALUE SELECT %s FROM %s"
                           % (columns, columns, child),
                           "DROP TABLE %s" % child]
        statements.append("COMMIT")
        ht.psql(host, "; ".join(statements))
        ht.STATE[name]["broken_at"] = time.time()
    for name, host in hosts.items():
        found, text = ht.wait_metrics(
            host, lambda f: ht.value(f, "soar_partman_default_rows", parent="public.fixes") > 0,
            ht.STATE[name]["broken_at"], PERIOD + 20)
        stamp = ht.value(found, "soar_partman_health_check_timestamp_seconds")
        assert stamp - ht.STATE[name]["broken_at"] <= PERIOD + 15
        assert ht.value(found, "soar_partman_health_check_success") == 1
        assert ht.value(found, "soar_partman_partitions_ahead", parent="public.fixes") == 0
        assert ht.value(found, "soar_partman_healthy") == 0
        ht.STATE[name]["broken"] = text


def test_the_alert_rules_fire_on_the_broken_metrics(backends):
    for name, host in ht.get_hosts().items():
        base = {"database": "soar", "parent": "public.fixes"}
        at_once = {"PartmanDefaultPartitionRows": [base], "PartmanPartitionsAheadLow": [base]}
        three_days = dict(at_once, PartmanMaintenanceStale=[dict(base, backend=backends[name])])
        # Three simulated days without a successful run: the age the check reports grows a minute a minute.
        cmd = ht.promtool_test(host, ht.STATE[name]["broken"], name, [(5, at_once), (3 * 24 * 60, three_days)],
                               3 * 24 * 60 + 10, age_growth=True)
        assert cmd.rc == 0, cmd.stdout + cmd.stderr
        # The check itself stopped: its file goes stale.
        cmd = ht.promtool_test(host, ht.STATE[name]["broken"], name,
                               [(10, at_once), (20, dict(at_once, PartmanHealthCheckStale=[{}]))], 30, stale=True)
        assert cmd.rc == 0, cmd.stdout + cmd.stderr


def test_the_next_scheduled_maintenance_heals_with_every_row_kept(backends):
    hosts = ht.get_hosts()
    for name, host in hosts.items():
        # The writer stops so that the rows before and after can be compared; a second hog takes the slot
        # it leaves, so that every connection not reserved stays taken.
        host.run_expect([0], "systemctl stop soar-run.service")
        cmd = host.run("systemd-run --unit health-hog-2 --property=User=nobody python3 -c %s", ht.HOG)
        assert cmd.rc == 0, cmd.stderr
        ht.STATE[name]["default_before"] = int(ht.psql(host, "SELECT count(*) FROM ONLY public.fixes_default"))
        assert ht.STATE[name]["default_before"] > 0
        ht.STATE[name]["checksum"] = ht.psql(host, CHECKSUM)
    time.sleep(5)
    for name, host in hosts.items():
        refused, said = refused_one_more(host)
        assert refused, said
        pause_maintenance(host, backends[name], active=True)
        ht.STATE[name]["resumed_at"] = time.time()
    for name, host in hosts.items():
        deadline = time.time() + 4 * PERIOD
        while time.time() < deadline:
            if ht.psql(host, "SELECT count(*) FROM ONLY public.fixes_default") == "0":
                break
            time.sleep(5)
        assert ht.psql(host, "SELECT count(*) FROM ONLY public.fixes_default") == "0", backends[name]
        assert ht.psql(host, CHECKSUM) == ht.STATE[name]["checksum"]
        # Still exhausted: maintenance got in through the connections reserved for it.
        refused, said = refused_one_more(host)
        assert refused, said


def test_the_metrics_are_healthy_again_within_one_period(backends):
    for name, host in ht.get_hosts().items():
        found, text = ht.wait_metrics(
            host, lambda f: ht.value(f, "soar_partman_healthy") == 1 and succeeded_by(f, backends[name]),
            ht.STATE[name]["resumed_at"], 4 * PERIOD)
        assert ht.value(found, "soar_partman_default_rows", parent="public.fixes") == 0
        assert ht.value(found, "soar_partman_partitions_ahead", parent="public.fixes") >= 3
        assert ht.value(found, "soar_partman_maintenance_status", parent="public.fixes", status="succeeded",
                        backend=backends[name]) == 1
        cmd = ht.promtool_test(host, text, name, [(5, {})], 10)
        assert cmd.rc == 0, cmd.stdout + cmd.stderr


def test_verify_is_healthy_again(backends):
    for host in ht.get_hosts().values():
        host.run_expect([0], "systemctl stop health-hog.service health-hog-2.service")
        host.run_expect([0], "systemctl start soar-run.service")
    ht.play(os.path.join(ht.ROOT, "playbooks", "verify.yml"), {"partman_verify_backend": "auto"})
