"""The SOAR stand-in, restarted after the migration, writes into the right partitions."""
from migrate_helpers import expected, grows, partition_name, result, writer_committed

SINCE_MIGRATION = ("public.fixes WHERE received_at > (SELECT finished_at FROM partman.partman_migrate_state "
                   "WHERE table_name = 'public.fixes')")


def test_writer_service_running(host):
    assert host.service("soar-run.service").is_running
    assert host.service("soar.target").is_running


def test_writer_rows_grow_in_the_partitions_not_the_default(host, pg):
    first, later = grows(pg, "SELECT count(*) FROM " + SINCE_MIGRATION)
    assert later > first > 0, (first, later)
    assert pg.int("SELECT count(*) FROM ONLY public.fixes_default") == 0
    major = expected(host)["partman_major"]
    wrong = pg.json("SELECT tableoid::regclass::text AS part, received_at::date::text AS day, count(*) AS n FROM "
                    + SINCE_MIGRATION + " GROUP BY 1, 2")
    assert wrong and all(r["part"] == partition_name("fixes", r["day"], major) for r in wrong), wrong


def test_every_row_the_writer_committed_is_there(host, pg):
    # rows the writer committed since it was stopped for the migration == rows newer than the
    # migration (read between two readings of the writer's counter: it keeps writing)
    at_stop = int(result(host, "writer_stopped")["committed"])
    low = writer_committed(host) - at_stop
    rows = pg.int("SELECT count(*) FROM " + SINCE_MIGRATION)
    high = writer_committed(host) - at_stop
    assert low > 0
    # the writer writes its counter just after each commit: allow one transaction (rate 20/s, every 0.2s)
    assert low <= rows <= high + 4, (low, rows, high)
