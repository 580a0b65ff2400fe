"""The partitioned table: partitions, indexes, keys, foreign keys, trigger, grants, pruning."""
import json
from collections import Counter
from datetime import date, timedelta

import pytest

from migrate_helpers import BEFORE, expected, index_shape, partition_day, partition_name

PARTITIONS = """
    SELECT c.relname::text AS name, pg_get_expr(c.relpartbound, c.oid) AS bound
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'public.fixes'::regclass ORDER BY 1"""


def partitions(pg):
    return pg.json(PARTITIONS)


def data_days(pg):
    return sorted(r["day"] for r in pg.json(
        "SELECT DISTINCT date_trunc('day', received_at)::date::text AS day FROM %s" % BEFORE))


def test_parent_is_range_partitioned_on_received_at(pg):
    assert pg.value("SELECT relkind FROM pg_class WHERE oid = 'public.fixes'::regclass") == "p"
    assert pg.value("SELECT pg_get_partkeydef('public.fixes'::regclass)") == "RANGE (received_at)"
    assert pg.value("SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = 'public.fixes'::regclass") == "soar"


def test_registered_with_pg_partman(pg):
    cfg = pg.json("SELECT control, partition_interval, premake FROM partman.part_config "
                  "WHERE parent_table = 'public.fixes'")
    assert len(cfg) == 1
    assert cfg[0]["control"] == "received_at"
    assert cfg[0]["partition_interval"] in ("1 day", "1 day 00:00:00")
    assert cfg[0]["premake"] == 3


def test_a_partition_for_every_day_with_data_plus_premake(host, pg):
    major = expected(host)["partman_major"]
    parts = partitions(pg)
    default = [p for p in parts if p["bound"] == "DEFAULT"]
    assert [p["name"] for p in default] == ["fixes_default"]
    days = sorted(partition_day(p["bound"]) for p in parts if p["bound"] != "DEFAULT")
    # the migration started at the start of the current day: that day and `premake` days ahead
    start = date.fromisoformat(pg.value(
        "SELECT (snapshot->>'start_partition')::timestamptz::date FROM partman.partman_migrate_state "
        "WHERE table_name = 'public.fixes'"))
    premade = [(start + timedelta(days=k)).isoformat() for k in range(0, 3 + 1)]
    assert days == sorted(set(data_days(pg)) | set(premade))
    # pg_partman's names
    for p in parts:
        if p["bound"] != "DEFAULT":
            assert p["name"] == partition_name("fixes", partition_day(p["bound"]), major)


def test_isolated_old_day_has_its_partition_and_no_gap_is_filled(pg):
    days = data_days(pg)
    old, first_recent = days[0], days[1]
    assert (date.fromisoformat(first_recent) - date.fromisoformat(old)).days > 40
    part_days = [partition_day(p["bound"]) for p in partitions(pg) if p["bound"] != "DEFAULT"]
    assert old in part_days
    # no empty partitions between the old day and the recent data
    assert [d for d in part_days if old < d < first_recent] == []
    # and each partition before today holds data
    empty = pg.json("""
        SELECT c.relname::text AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'public.fixes'::regclass AND pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT'
          AND (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \\(''([^'']+)''\\)'))[1]::timestamptz
              <= (SELECT (snapshot->>'start_partition')::timestamptz FROM partman.partman_migrate_state
                  WHERE table_name = 'public.fixes')
          AND NOT EXISTS (SELECT 1 FROM public.fixes f WHERE f.tableoid = c.oid)""")
    assert empty == []


def test_default_partition_empty(pg):
    assert pg.int("SELECT count(*) FROM ONLY public.fixes_default") == 0


def expected_index_shapes(pg):
    """The original table's indexes (kept by converge), the primary key widened to the control column."""
    shapes = []
    for row in pg.json("SELECT name, def FROM molecule.fixes_indexes_before"):
        shape = index_shape(row["def"])
        if row["name"] == "fixes_pkey":
            assert shape == "UNIQUE USING btree (id)"
            shape = "UNIQUE USING btree (id, received_at)"
        shapes.append(shape)
    assert len(shapes) == 17
    return Counter(shapes)


def test_every_index_on_the_parent(pg):
    want = expected_index_shapes(pg)
    got = Counter(index_shape(r["def"]) for r in pg.json(
        "SELECT pg_get_indexdef(indexrelid) AS def FROM pg_index WHERE indrelid = 'public.fixes'::regclass"))
    assert got == want


def test_every_index_on_every_partition(pg):
    want = expected_index_shapes(pg)
    rows = pg.json("""
        SELECT c.relname::text AS part, pg_get_indexdef(x.indexrelid) AS def, x.indisvalid AS valid
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        LEFT JOIN pg_index x ON x.indrelid = c.oid
        WHERE i.inhparent = 'public.fixes'::regclass""")
    by_part = {}
    for r in rows:
        assert r["valid"], r
        by_part.setdefault(r["part"], Counter())[index_shape(r["def"])] += 1
    assert len(by_part) == len(partitions(pg))
    for part, got in by_part.items():
        assert got == want, part


def test_gist_partial_and_desc_indexes_kept(pg):
    defs = [r["def"] for r in pg.json("""
        SELECT pg_get_indexdef(x.indexrelid) AS def FROM pg_index x
        WHERE x.indrelid = (SELECT i.inhrelid FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                            WHERE i.inhparent = 'public.fixes'::regclass AND c.relname <> 'fixes_default'
                            ORDER BY c.relname DESC LIMIT 1)""")]
    assert any("USING gist (location_geom)" in d for d in defs)
    assert any("USING gist (location)" in d for d in defs)
    assert any(d.endswith("USING btree (squawk) WHERE (squawk IS NOT NULL)") for d in defs)
    assert any(d.endswith("USING btree (received_at) WHERE is_active") for d in defs)
    assert any(d.endswith('USING btree ("timestamp" DESC)') for d in defs)
    assert any(d.endswith("USING btree (device_id, received_at DESC)") for d in defs)


def test_primary_key_is_id_received_at(pg):
    pk = pg.json("""
        SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint
        WHERE conrelid = 'public.fixes'::regclass AND contype = 'p'""")
    assert pk == [{"conname": "fixes_pkey", "def": "PRIMARY KEY (id, received_at)"}]


def test_check_constraint_kept(pg):
    want = pg.value("SELECT def FROM molecule.fixes_constraints_before WHERE type = 'c'")
    got = pg.value("SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                   "WHERE conrelid = 'public.fixes'::regclass AND contype = 'c'")
    assert got == want and "track_degrees" in got


def test_foreign_keys_valid_and_pointing_at_live_tables(pg):
    fks = pg.json("""
        SELECT conname, confrelid::regclass::text AS target, convalidated, pg_get_constraintdef(oid) AS def
        FROM pg_constraint WHERE conrelid = 'public.fixes'::regclass AND contype = 'f' ORDER BY conname""")
    assert sorted(f["target"] for f in fks) == ["aprs_messages", "devices", "flights", "receivers"]
    assert all(f["convalidated"] for f in fks)
    before = pg.json("SELECT name AS conname, def FROM molecule.fixes_constraints_before WHERE type = 'f' "
                     "ORDER BY name")
    assert [{"conname": f["conname"], "def": f["def"]} for f in fks] == before
    # every partition has them, validated, towards the same tables
    per_part = pg.json("""
        SELECT c.relname::text AS part, count(*) AS n, bool_and(k.convalidated) AS valid,
               bool_and(k.conparentid <> 0) AS attached,
               array_agg(DISTINCT k.confrelid::regclass::text ORDER BY k.confrelid::regclass::text) AS targets
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        JOIN pg_constraint k ON k.conrelid = c.oid AND k.contype = 'f'
        WHERE i.inhparent = 'public.fixes'::regclass GROUP BY 1""")
    assert len(per_part) == len(partitions(pg))
    for p in per_part:
        # jobs: 2 adds them to each partition first; the parent's keys took those over (attached)
        assert p["n"] == 4 and p["valid"] and p["attached"], p
        assert p["targets"] == ["aprs_messages", "devices", "flights", "receivers"], p


def test_inbound_foreign_key_dropped_as_reported(pg):
    # inbound_fks: drop - fix_annotations no longer references fixes (restored by a revert)
    assert pg.int("SELECT count(*) FROM pg_constraint WHERE conrelid = 'public.fix_annotations'::regclass "
                  "AND contype = 'f'") == 0


def test_comments_kept(pg):
    assert pg.value("SELECT obj_description('public.fixes'::regclass, 'pg_class')").startswith("Position reports")
    assert pg.value("SELECT col_description('public.fixes'::regclass, attnum) FROM pg_attribute "
                    "WHERE attrelid = 'public.fixes'::regclass AND attname = 'received_at'").startswith("When SOAR")


def test_trigger_kept_on_the_parent(pg):
    trg = pg.json("SELECT tgname, tgenabled::text AS enabled, pg_get_triggerdef(oid) AS def FROM pg_trigger "
                  "WHERE tgrelid = 'public.fixes'::regclass AND NOT tgisinternal")
    assert len(trg) == 1
    assert trg[0]["tgname"] == "fixes_touch" and trg[0]["enabled"] == "O"
    assert "BEFORE INSERT ON public.fixes FOR EACH ROW EXECUTE FUNCTION fixes_touch()" in trg[0]["def"]


INSERT_PROBES = """
BEGIN;
-- make the (no-op) trigger function visible: it stamps the rows it sees
CREATE OR REPLACE FUNCTION public.fixes_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.time_gap_seconds := 4242;
    RETURN NEW;
END;
$$;
WITH t(received_at) AS (VALUES (now()),
                               ((SELECT min(received_at) FROM molecule.fixes_before)),
                               (now() + interval '2 days')),
m AS (
    INSERT INTO public.aprs_messages (raw, received_at) SELECT 'probe', received_at FROM t
    RETURNING id, received_at
)
INSERT INTO public.fixes (source, aprs_type, via, "timestamp", latitude, longitude, device_id, received_at,
                          receiver_id, aprs_message_id)
SELECT 'FLRPROBE', 'OGFLR', ARRAY['qAS'], m.received_at, 46.5, 7.5, (SELECT id FROM public.devices LIMIT 1),
       m.received_at, (SELECT id FROM public.receivers LIMIT 1), m.id
FROM m
RETURNING json_build_object('partition', tableoid::regclass::text, 'day', received_at::date::text,
                            'time_gap_seconds', time_gap_seconds);
ROLLBACK;
"""


def test_inserts_land_in_the_right_partition_and_fire_the_trigger(host, pg):
    major = expected(host)["partman_major"]
    rows = [json.loads(line) for line in pg.run(INSERT_PROBES).splitlines()]
    assert len(rows) == 3
    for r in rows:
        assert r["partition"] == partition_name("fixes", r["day"], major), r
        assert r["time_gap_seconds"] == 4242, r  # the trigger on the parent fired
    # rolled back: the function is the fixture's no-op again
    assert "4242" not in pg.value("SELECT prosrc FROM pg_proc WHERE proname = 'fixes_touch'")


def test_grants_kept(pg):
    assert pg.value("SELECT has_table_privilege('soar_reader', 'public.fixes', 'SELECT')") == "t"
    acl = pg.value("SELECT relacl::text FROM pg_class WHERE oid = 'public.fixes'::regclass")
    assert "soar_reader=r/" in acl
    # the reader can actually read it (through the parent)
    n = pg.int("SET ROLE soar_reader; SELECT count(*) FROM public.fixes WHERE received_at < now() - interval '1 hour'")
    assert n > 0
    assert pg.value("SELECT has_table_privilege('soar_reader', 'public.fixes', 'INSERT')") == "f"


MAINTENANCE_PROBE = """
BEGIN;
-- two more days ahead: pg_partman's maintenance creates two partitions (rolled back below)
UPDATE partman.part_config SET premake = premake + 2 WHERE parent_table = 'public.fixes';
SELECT partman.run_maintenance(p_parent_table => 'public.fixes', p_analyze => false);
SELECT json_agg(json_build_object('name', c.relname, 'owner', pg_get_userbyid(c.relowner),
                                  'grants', %s) ORDER BY c.relname)
FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'public.fixes'::regclass;
ROLLBACK;
"""
# privileges granted to others than the owner (PostgreSQL 17's MAINTAIN makes the owner's own entry differ
# between tables whose ACL was written by pg_partman and by GRANT)
GRANTS = """(SELECT string_agg(pg_get_userbyid(a.grantee) || ':' || a.privilege_type, ',' ORDER BY 1)
              FROM aclexplode(c.relacl) a WHERE a.grantee <> c.relowner)"""


def test_partitions_have_the_owner_and_grants_pg_partman_gives_new_ones(pg):
    parent_grants = pg.value("SELECT %s FROM pg_class c WHERE c.oid = 'public.fixes'::regclass" % GRANTS)
    assert parent_grants == "soar_reader:SELECT"
    migrated = pg.json(PARTITIONS)
    after = json.loads(pg.run(MAINTENANCE_PROBE % GRANTS).splitlines()[-1])
    created = [p for p in after if p["name"] not in set(m["name"] for m in migrated)]
    # made by pg_partman, with its inherit_privileges: 2, or 3 from noon on (infinite_time_partitions
    # counts ahead from now() and rounds; see molecule/maintenance/tests)
    assert 2 <= len(created) <= 3, created
    for p in after:
        assert p["owner"] == "soar", p
        assert p["grants"] == parent_grants, p
    assert pg.value("SELECT count(*) FROM pg_inherits WHERE inhparent = 'public.fixes'::regclass") \
        == str(len(migrated))  # rolled back
    # so the reader can read a partition directly, as pg_partman's own partitions allow
    part = [m["name"] for m in migrated if m["bound"] != "DEFAULT"][0]
    assert pg.int("SET ROLE soar_reader; SELECT count(*) FROM public.%s" % part) >= 0


@pytest.mark.parametrize("days_back", [3, 6])
def test_one_day_query_is_pruned_to_one_partition(host, pg, days_back):
    major = expected(host)["partman_major"]
    lo, hi, day = pg.value(
        "SELECT d::text || '|' || (d + interval '1 day')::text || '|' || d::date::text FROM "
        "(SELECT date_trunc('day', max(received_at)) - interval '%d days' AS d FROM %s) x"
        % (days_back, BEFORE)).split("|")
    plan = json.loads(pg.value(
        "EXPLAIN (FORMAT JSON) SELECT count(*) FROM public.fixes "
        "WHERE received_at >= '%s' AND received_at < '%s'" % (lo, hi)))
    relations = []

    def walk(node):
        if "Relation Name" in node:
            relations.append(node["Relation Name"])
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    assert relations == [partition_name("fixes", day, major)]
