"""The rows: exactly the original ones, per day, with correct generated columns."""
from migrate_helpers import BEFORE, CUTOFF

# Rows of the partitioned table that existed before the migration (the writer adds newer ones).
MIGRATED = "SELECT * FROM public.fixes WHERE received_at <= %s" % CUTOFF


def test_totals_equal(pg):
    before = pg.int("SELECT count(*) FROM %s" % BEFORE)
    assert before > 30000  # 30000 fixes + the old day + what the writer had written
    assert pg.int("SELECT count(*) FROM public.fixes_old") == before
    assert pg.int("SELECT count(*) FROM (%s) AS m" % MIGRATED) == before


def test_same_ids_both_ways(pg):
    # none lost, none added: EXCEPT ALL both ways, against the ids kept before the migration
    for a, b in (("public.fixes_old", BEFORE), ("(%s) AS m" % MIGRATED, BEFORE)):
        assert pg.int("SELECT count(*) FROM (SELECT id FROM %s EXCEPT ALL SELECT id FROM %s) x" % (a, b)) == 0
        assert pg.int("SELECT count(*) FROM (SELECT id FROM %s EXCEPT ALL SELECT id FROM %s) x" % (b, a)) == 0


def test_same_ids_digest(pg):
    digest = "SELECT md5(string_agg(id::text, ',' ORDER BY id)) FROM %s"
    want = pg.value(digest % BEFORE)
    assert pg.value(digest % "public.fixes_old") == want
    assert pg.value(digest % ("(%s) AS m" % MIGRATED)) == want


def test_no_row_doubled(pg):
    assert pg.value("SELECT count(*) = count(DISTINCT id) FROM public.fixes") == "t"


def test_per_day_counts_equal(pg):
    rows = pg.json("""
        SELECT coalesce(o.day, n.day) AS day, o.n AS old, n.n AS new
        FROM (SELECT date_trunc('day', received_at) AS day, count(*) AS n FROM public.fixes_old GROUP BY 1) o
        FULL JOIN (SELECT date_trunc('day', received_at) AS day, count(*) AS n FROM (%s) AS m GROUP BY 1) n
          ON n.day = o.day
        ORDER BY 1""" % MIGRATED)
    assert len(rows) >= 11  # 10 days (11 calendar days) of fixes + the isolated old day
    assert [r for r in rows if r["old"] != r["new"]] == []


def test_whole_rows_equal(pg):
    # every column of every migrated row, generated ones included
    cols = pg.value("SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute "
                    "WHERE attrelid = 'public.fixes_old'::regclass AND attnum > 0 AND NOT attisdropped")
    q = "SELECT count(*) FROM (SELECT {c} FROM {a} EXCEPT ALL SELECT {c} FROM {b}) x"
    migrated = "(%s) AS m" % MIGRATED
    assert pg.int(q.format(c=cols, a="public.fixes_old", b=migrated)) == 0
    assert pg.int(q.format(c=cols, a=migrated, b="public.fixes_old")) == 0


def test_generated_columns_recomputed(pg):
    gen = pg.json("SELECT attname, attgenerated FROM pg_attribute WHERE attrelid = 'public.fixes'::regclass "
                  "AND attgenerated <> '' ORDER BY attname")
    assert gen == [{"attname": "location", "attgenerated": "s"}, {"attname": "location_geom", "attgenerated": "s"}]
    assert pg.int("SELECT count(*) FROM public.fixes WHERE location_geom IS NULL OR location IS NULL") == 0
    assert pg.int("""
        SELECT count(*) FROM public.fixes
        WHERE st_asewkb(location_geom) IS DISTINCT FROM st_asewkb(st_setsrid(st_makepoint(longitude, latitude), 4326))
           OR st_asewkb(location::geometry) IS DISTINCT FROM st_asewkb(st_setsrid(st_point(longitude, latitude), 4326))
    """) == 0
    assert pg.int("SELECT st_srid(location_geom) FROM public.fixes LIMIT 1") == 4326
