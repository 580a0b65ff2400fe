"""The bgw backend (pg_partman's own background worker, every 5 s here) on both hosts, after the rounds
of test_incident.py: the health check reports its runs (status succeeded, a recent last success) and
the partitions it re-creates."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import health_testing as ht  # noqa: E402  pylint: disable=wrong-import-position


def test_the_check_reports_the_background_worker():
    hosts = ht.get_hosts()
    ht.play(os.path.join(ht.ROOT, "molecule", "shared", "switch.yml"),
            {"switch_backends": dict((name, "bgw") for name in hosts), "partman_maintenance_bgw_interval": 5})
    switched = time.time()
    for name, host in hosts.items():
        found, text = ht.wait_metrics(
            host, lambda f: ht.value(f, "soar_partman_maintenance_status", parent="public.fixes",
                                     status="succeeded", backend="bgw") == 1, switched, 3 * 60)
        assert ht.value(found, "soar_partman_healthy") == 1, text
        assert ht.value(found, "soar_partman_maintenance_age_seconds", parent="public.fixes") < 3 * 60, text
