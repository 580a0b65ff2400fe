"""What the module runs of converge returned: check mode, refusal, kills, resume, second run."""
import re

from migrate_helpers import BEFORE, expected, partition_name, result


def test_versions_of_the_distribution(host, pg):
    want = expected(host)
    assert pg.value("SHOW server_version_num")[:2] == want["pg"]
    assert pg.value("SELECT split_part(extversion, '.', 1) FROM pg_extension WHERE extname = 'pg_partman'") \
        == want["partman_major"]
    assert pg.value("SELECT postgis_lib_version()").startswith(want["postgis"] + ".")
    assert result(host, "migrate")["partman_version"].split(".")[0] == want["partman_major"]


def test_check_mode_returned_a_plan(host, pg):
    res = result(host, "plan")
    plan = res["plan"]
    rows = pg.int("SELECT count(*) FROM %s" % BEFORE)
    assert res["changed"] is True
    assert plan["table"] == "public.fixes"
    assert plan["old_table"] == "public.fixes_old"
    assert plan["control"] == "received_at"
    assert plan["interval"] == "1 day"
    assert plan["partman_major"] == int(expected(host)["partman_major"])
    # an estimate from the statistics (the fixture was ANALYZEd; the writer has added rows since)
    assert rows * 0.8 <= plan["rows_to_copy"] <= rows, (plan["rows_to_copy"], rows)
    assert plan["pk_changed"] == ["PRIMARY KEY (id) -> (id, received_at)"]
    assert plan["inbound_fks"] == ["fix_annotations_fix_id_fkey on public.fix_annotations"]
    assert len(plan["outbound_fks"]) == 4
    assert plan["triggers"] == ["fixes_touch"]
    assert len(plan["indexes_to_build"]) == 17  # primary key + 16 indexes
    # one partition per day holding data (the isolated old day included) plus today and premake days
    days = pg.json("SELECT DISTINCT date_trunc('day', received_at)::date::text AS day FROM %s" % BEFORE)
    with_data = sorted(p["from"][:10] for p in plan["partitions"] if p["has_data"])
    assert with_data == sorted(d["day"] for d in days)
    major = expected(host)["partman_major"]
    names = set(p["name"] for p in plan["partitions"])
    for d in days:
        assert "public." + partition_name("fixes", d["day"], major) in names
    assert plan["default_partition"] == "public.fixes_default"


def test_check_mode_changed_nothing(host, pg):
    after = result(host, "after_check")
    assert after["relkind"] == "r"           # still a plain table
    assert after["old_table"] is False       # nothing renamed
    assert after["state_rows"] == 0          # no migration state
    assert after["part_config_rows"] == 0    # not registered with pg_partman
    assert after["inbound_fk"] == 1          # the inbound foreign key is still there
    assert after["row_count"] == pg.int("SELECT count(*) FROM %s" % BEFORE)


def test_inbound_foreign_key_refused_by_default(host):
    res = result(host, "refused")
    assert res["failed"] is True
    assert res["changed"] is False
    assert "fix_annotations_fix_id_fkey" in res["msg"]
    assert "inbound_fks: drop" in res["msg"]
    assert "nothing was changed" in res["msg"]


def test_refusal_changed_nothing(host, pg):
    after = result(host, "after_refusal")
    assert after == result(host, "after_check")
    assert after["relkind"] == "r" and after["old_table"] is False and after["state_rows"] == 0
    assert after["inbound_fk"] == 1


def test_killed_twice_in_the_middle_of_the_copy(host, pg):
    kills = result(host, "kills")
    total = pg.int("SELECT count(*) FROM %s" % BEFORE)
    assert len(kills) == 2
    for kill in kills:
        assert kill["killed_pids"]
        assert kill["module_failed"] is True and kill["module_rc"] == 137  # SIGKILL
        assert kill["step"] == "partitioned"     # the copy step had not completed
        assert kill["rows_total"] == total
        assert 0 < kill["rows_committed"] < total
        # the state claims exactly what the new table holds: no half-committed batch
        assert kill["rows_in_new_table"] == kill["rows_committed"]
        assert kill["partitions_done"] < kill["partitions"]
    # the second run resumed the copy: it was killed further on
    assert kills[1]["rows_committed"] > kills[0]["rows_committed"]


def test_resumed_migration_result(host, pg):
    res = result(host, "migrate")
    assert res["changed"] is True
    assert not res.get("failed")
    assert res["pk_changed"] == ["PRIMARY KEY (id) -> (id, received_at)"]
    # resumed after the kills, not started over
    assert res["plan"]["resume_from"] == "partitioned"
    # rows per partition after the verification: all the original rows, none in the default partition
    assert sum(res["rows_copied"].values()) == pg.int("SELECT count(*) FROM %s" % BEFORE)
    assert "public.fixes_default" not in res["rows_copied"]
    # the run that dropped the inbound foreign key was killed before it could say so: the resumed
    # run reports it
    warnings = " ".join(res.get("warnings", []))
    assert "inbound foreign keys were dropped when this migration started" in warnings
    assert "fix_annotations_fix_id_fkey on public.fix_annotations" in warnings


def test_second_run_changed_nothing(host):
    res = result(host, "rerun")
    assert res["changed"] is False
    assert not res.get("failed")


def test_state_says_done(pg):
    rows = pg.json("SELECT step, direction, finished_at IS NOT NULL AS finished, old_table "
                   "FROM partman.partman_migrate_state WHERE table_name = 'public.fixes'")
    assert rows == [{"step": "done", "direction": "forward", "finished": True, "old_table": "public.fixes_old"}]


def test_progress_logged_to_the_journal(host, pg):
    lines = host.check_output("journalctl --no-pager -o cat | grep -F 'partman_migrate public.fixes: '").splitlines()
    # the last migration: from its prepare step on
    start = max(i for i, line in enumerate(lines) if ": prepared: public.fixes renamed to fixes_old" in line)
    run = [line.split(": ", 1)[1] for line in lines[start:]]
    assert run.count("resuming after step partitioned") == 2  # after each kill
    total = pg.int("SELECT count(*) FROM public.fixes_old")
    copy = [re.match(r"^copy: (\d+) of (\d+) rows \(([\d.]+)%\), \d+ rows/s, ETA \S+", line) for line in run]
    copy = [m for m in copy if m]
    assert copy, run
    assert all(int(m.group(2)) == total for m in copy)
    assert copy[-1].group(1) == str(total) and copy[-1].group(3) == "100.0"
    assert "verified %d rows in %d partitions (checksum)" % (
        total, pg.int("SELECT count(*) FROM pg_inherits WHERE inhparent = 'public.fixes'::regclass")) in run
    assert run[-1] == "step done done"
