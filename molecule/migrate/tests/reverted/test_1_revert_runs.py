"""What the side effect's module runs returned: revert, revert again, revert without the old table."""
from migrate_helpers import result


def test_revert_changed(host):
    res = result(host, "revert")
    assert res["changed"] is True
    assert not res.get("failed")
    assert res["plan"]["old_table"] == "public.fixes_old"
    assert res["plan"]["revert_from_step"] == "done"


def test_revert_again_changed_nothing(host):
    res = result(host, "revert_again")
    assert res["changed"] is False
    assert not res.get("failed")
    assert res["plan"]["status"] == "not migrated"


def test_revert_refused_once_the_old_table_is_gone(host):
    res = result(host, "probe_refused")
    assert res["failed"] is True
    assert res["changed"] is False
    assert res["msg"].startswith(
        "cannot revert molecule.revert_probe: the old table molecule.revert_probe_old is gone")
    assert "revert by hand" in res["msg"]


def test_refused_revert_changed_nothing(host, pg):
    after = result(host, "probe_after")
    assert after["relkind"] == "p"
    assert after["row_count"] == 300
    assert after["partitions"] > 1
    assert after["part_config_rows"] == 1
    assert after["step"] == "done"
    # and still so now
    assert pg.value("SELECT relkind FROM pg_class WHERE oid = 'molecule.revert_probe'::regclass") == "p"
    assert pg.int("SELECT count(*) FROM molecule.revert_probe") == 300
