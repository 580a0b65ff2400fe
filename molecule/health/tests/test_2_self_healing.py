"""SOAR's incident, parts (b) and (c): the next scheduled maintenance gets through although the stand-in
still holds every connection not reserved, moves the stranded rows into proper children and creates the
partitions ahead, every row kept (count and checksum); then the metrics and verify.yml are healthy again.
Nobody runs anything: the maintenance timer is started again (the end of the simulated days) and the
schedules do the rest.

Depends on branch maint (issue 14 deliverables 1 and 2): the scheduled job that moves the rows of the
default partition (self-healing) and gets through exhausted connections.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import health_testing as ht  # noqa: E402  pylint: disable=wrong-import-position

CHECKSUM = "SELECT count(*) || ' ' || coalesce(sum(hashtext(f::text)::bigint), 0) FROM public.fixes f"
STATE = ht.STATE


def test_the_next_scheduled_maintenance_heals_with_every_row_kept():
    hosts = ht.get_hosts()
    for name, host in hosts.items():
        # The writer stops so that the rows before and after can be compared; a second hog takes the slot
        # it leaves, so that every connection not reserved stays taken.
        host.run_expect([0], "systemctl stop soar-run.service")
        cmd = host.run("systemd-run --unit health-hog-2 --property=User=nobody python3 -c %s", ht.HOG)
        assert cmd.rc == 0, cmd.stderr
        STATE[name]["default_before"] = int(ht.psql(host, "SELECT count(*) FROM ONLY public.fixes_default"))
        assert STATE[name]["default_before"] > 0
        STATE[name]["checksum"] = ht.psql(host, CHECKSUM)
    time.sleep(5)
    for name, host in hosts.items():
        refused = host.run("PGPASSWORD=soar psql -XAtq -h 127.0.0.1 -U soar -d soar -c 'SELECT 1'")
        assert refused.rc != 0 and "remaining connection slots are reserved" in refused.stderr, refused.stderr
        host.run_expect([0], "systemctl start %s", ht.MAINTENANCE_TIMER)
        STATE[name]["resumed_at"] = time.time()
    for name, host in hosts.items():
        deadline = time.time() + 240
        while time.time() < deadline:
            if ht.psql(host, "SELECT count(*) FROM ONLY public.fixes_default") == "0":
                break
            time.sleep(5)
        assert ht.psql(host, "SELECT count(*) FROM ONLY public.fixes_default") == "0"
        assert ht.psql(host, CHECKSUM) == STATE[name]["checksum"]
        # Still exhausted: maintenance got in through the connections reserved for it.
        refused = host.run("PGPASSWORD=soar psql -XAtq -h 127.0.0.1 -U soar -d soar -c 'SELECT 1'")
        assert refused.rc != 0 and "remaining connection slots are reserved" in refused.stderr, refused.stderr


def test_the_metrics_are_healthy_again_within_one_period():
    for name, host in ht.get_hosts().items():
        found, text = ht.wait_metrics(host, lambda f: ht.value(f, "soar_partman_healthy") == 1,
                                      STATE[name]["resumed_at"], 240)
        assert ht.value(found, "soar_partman_default_rows", parent="public.fixes") == 0
        assert ht.value(found, "soar_partman_partitions_ahead", parent="public.fixes") >= 3
        cmd = ht.promtool_test(host, text, name, [(5, {})], 10)
        assert cmd.rc == 0, cmd.stdout + cmd.stderr


def test_verify_is_healthy_again():
    hosts = ht.get_hosts()
    for name, host in hosts.items():
        host.run_expect([0], "systemctl stop health-hog.service health-hog-2.service")
        host.run_expect([0], "systemctl start soar-run.service")
    ht.play(os.path.join(ht.ROOT, "playbooks", "verify.yml"))
