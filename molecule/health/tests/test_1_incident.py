"""SOAR's incident, part (a): the health check, on its own timer, reports it within one period, and the
example alert rules fire in `promtool test rules` against the metrics the check wrote (healthy: none).

The incident: the stand-in's role takes every connection PostgreSQL does not reserve for superusers;
maintenance stops (its timer stopped: the simulated days without a run); the premade children are
dropped (the current one's rows put into the default partition first, none lost) and the writer keeps
writing, into the default partition.
"""
import sys
import os
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import health_testing as ht  # noqa: E402  pylint: disable=wrong-import-position

PERIOD = 60  # partman_health_interval_minutes: 1

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

STATE = ht.STATE


def test_the_check_runs_on_its_own_timer_and_reports_healthy_figures_equal_to_partman_info():
    hosts = ht.get_hosts()
    start = time.time()
    for name, host in hosts.items():
        assert host.service(ht.HEALTH_TIMER).is_enabled
        assert host.service(ht.HEALTH_TIMER).is_running
    for name, host in hosts.items():
        # One maintenance run (every minute) and then one check: healthy.
        found, text = ht.wait_metrics(host, lambda f: ht.value(f, "soar_partman_healthy") == 1, start - PERIOD,
                                      3 * PERIOD + 30)
        assert ht.value(found, "soar_partman_health_check_success") == 1
        children = int(ht.psql(host, "SELECT count(*) FROM pg_inherits WHERE inhparent = 'public.fixes'::regclass"))
        assert ht.value(found, "soar_partman_partitions", parent="public.fixes") == children - 1
        assert ht.value(found, "soar_partman_default_rows", parent="public.fixes") == 0
        assert ht.value(found, "soar_partman_partitions_ahead", parent="public.fixes") >= 3
        assert ht.value(found, "soar_partman_maintenance_status", parent="public.fixes", status="succeeded") == 1
        STATE[name] = {"healthy": text}


def test_no_alert_fires_on_the_healthy_metrics():
    for name, host in ht.get_hosts().items():
        cmd = ht.promtool_test(host, STATE[name]["healthy"], name, [(5, {}), (60, {})], 120)
        assert cmd.rc == 0, cmd.stdout + cmd.stderr


def test_the_incident_is_reported_within_one_period():
    hosts = ht.get_hosts()
    for name, host in hosts.items():
        host.run_expect([0], "systemctl stop %s", ht.MAINTENANCE_TIMER)
        cmd = host.run("systemd-run --unit health-hog --property=User=nobody python3 -c %s", ht.HOG)
        assert cmd.rc == 0, cmd.stderr
    time.sleep(5)
    for name, host in hosts.items():
        # The stand-in's role holds every connection not reserved: it is refused one more.
        refused = host.run("PGPASSWORD=soar psql -XAtq -h 127.0.0.1 -U soar -d soar -c 'SELECT 1'")
        said = refused.stderr + refused.stdout
        assert refused.rc != 0 and ("too many clients" in said or "remaining connection slots are reserved" in said), said
        premade = [x for x in ht.psql(host, PREMADE).splitlines() if x]
        assert len(premade) >= 4
        # The current child's rows go to the default partition first: none is lost by the simulation.
        columns = ht.psql(host, COLUMNS)
        statements = ["BEGIN", "LOCK TABLE public.fixes IN ACCESS EXCLUSIVE MODE"]
        for child in premade:
            statements += ["ALTER TABLE public.fixes DETACH PARTITION %s" % child,
                           "INSERT INTO public.fixes (%s) OVERRIDING SYSTEM VALUE SELECT %s FROM %s"
                           % (columns, columns, child),
                           "DROP TABLE %s" % child]
        statements.append("COMMIT")
        ht.psql(host, "; ".join(statements))
        STATE[name]["broken_at"] = time.time()
    for name, host in hosts.items():
        found, text = ht.wait_metrics(
            host, lambda f: ht.value(f, "soar_partman_default_rows", parent="public.fixes") > 0,
            STATE[name]["broken_at"], PERIOD + 20)
        stamp = ht.value(found, "soar_partman_health_check_timestamp_seconds")
        assert stamp - STATE[name]["broken_at"] <= PERIOD + 15
        assert ht.value(found, "soar_partman_health_check_success") == 1
        assert ht.value(found, "soar_partman_partitions_ahead", parent="public.fixes") == 0
        assert ht.value(found, "soar_partman_healthy") == 0
        STATE[name]["broken"] = text


def test_the_alert_rules_fire_on_the_broken_metrics():
    for name, host in ht.get_hosts().items():
        found, text = ht.metrics(host)
        backend = [dict(ls)["backend"] for (n, ls) in found if n == "soar_partman_maintenance_status"][0]
        base = {"database": "soar", "parent": "public.fixes"}
        at_once = {"PartmanDefaultPartitionRows": [base], "PartmanPartitionsAheadLow": [base]}
        three_days = dict(at_once, PartmanMaintenanceStale=[dict(base, backend=backend)])
        # Three simulated days without a successful run: the age the check reports grows a minute a minute.
        cmd = ht.promtool_test(host, STATE[name]["broken"], name, [(5, at_once), (3 * 24 * 60, three_days)],
                               3 * 24 * 60 + 10, age_growth=True)
        assert cmd.rc == 0, cmd.stdout + cmd.stderr


def test_a_stale_health_file_fires_its_alert():
    for name, host in ht.get_hosts().items():
        base = {"database": "soar", "parent": "public.fixes"}
        broken = {"PartmanDefaultPartitionRows": [base], "PartmanPartitionsAheadLow": [base]}
        cmd = ht.promtool_test(host, STATE[name]["broken"], name,
                               [(10, broken), (20, dict(broken, PartmanHealthCheckStale=[{}]))], 30, stale=True)
        assert cmd.rc == 0, cmd.stdout + cmd.stderr
