"""public.fixes is the plain table again, with the rows written while it was partitioned."""
from migrate_helpers import BEFORE, grows, result, writer_committed

BEFORE_REVERT = "molecule.fixes_before_revert"
CUTOFF = "(SELECT max(received_at) FROM molecule.fixes_before_revert)"
REVERTED = "(SELECT * FROM public.fixes WHERE received_at <= %s) AS r" % CUTOFF


def test_plain_table_back_under_its_name(pg):
    assert pg.value("SELECT relkind FROM pg_class WHERE oid = 'public.fixes'::regclass") == "r"
    assert pg.value("SELECT relispartition FROM pg_class WHERE oid = 'public.fixes'::regclass") == "f"
    assert pg.value("SELECT to_regclass('public.fixes_old') IS NULL") == "t"
    assert pg.value("SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = 'public.fixes'::regclass") == "soar"


def test_partitions_and_partman_configuration_gone(pg):
    assert pg.int(r"SELECT count(*) FROM pg_class WHERE relname ~ '^fixes_(p\d|default)'") == 0
    assert pg.int(r"SELECT count(*) FROM pg_class WHERE relname ~ 'template_public_fixes'") == 0
    assert pg.int("SELECT count(*) FROM partman.part_config WHERE parent_table = 'public.fixes'") == 0
    assert pg.int("SELECT count(*) FROM partman.partman_migrate_state WHERE table_name = 'public.fixes'") == 0
    assert pg.int("SELECT count(*) FROM partman.partman_migrate_partition WHERE table_name = 'public.fixes'") == 0


def test_old_rows_plus_rows_written_while_partitioned(pg):
    new = pg.int("SELECT count(*) FROM %s WHERE written_after_migration" % BEFORE_REVERT)
    assert new >= 20  # revert.yml waited for them
    total = pg.int("SELECT count(*) FROM %s" % BEFORE_REVERT)
    assert total == pg.int("SELECT count(*) FROM %s" % BEFORE) + new
    assert pg.int("SELECT count(*) FROM %s" % REVERTED) == total
    for a, b in ((BEFORE_REVERT, REVERTED), (REVERTED, BEFORE_REVERT), (BEFORE, "public.fixes")):
        assert pg.int("SELECT count(*) FROM (SELECT id, received_at FROM %s EXCEPT ALL "
                      "SELECT id, received_at FROM %s) x" % (a, b)) == 0, (a, b)


def test_rows_written_while_partitioned_are_all_the_writer_committed(host, pg):
    committed = (int(result(host, "writer_stopped_for_revert")["committed"])
                 - int(result(host, "writer_stopped")["committed"]))
    assert pg.int("SELECT count(*) FROM %s WHERE written_after_migration" % BEFORE_REVERT) == committed


def test_no_row_doubled_and_primary_key_back(pg):
    assert pg.value("SELECT count(*) = count(DISTINCT id) FROM public.fixes") == "t"
    assert pg.json("SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint "
                   "WHERE conrelid = 'public.fixes'::regclass AND contype = 'p'") == \
        [{"conname": "fixes_pkey", "def": "PRIMARY KEY (id)"}]


def test_generated_columns_of_copied_back_rows(pg):
    assert pg.int("""
        SELECT count(*) FROM public.fixes
        WHERE st_asewkb(location_geom) IS DISTINCT FROM st_asewkb(st_setsrid(st_makepoint(longitude, latitude), 4326))
           OR location IS NULL""") == 0


def test_indexes_back_under_their_names(pg):
    got = pg.json("SELECT c.relname::text AS name, pg_get_indexdef(i.indexrelid) AS def "
                  "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                  "WHERE i.indrelid = 'public.fixes'::regclass ORDER BY 1")
    want = pg.json("SELECT name, def FROM molecule.fixes_indexes_before ORDER BY 1")
    assert len(want) == 17
    assert got == want


def test_constraints_as_before(pg):
    got = pg.json("SELECT conname::text AS name, contype::text AS type, pg_get_constraintdef(oid) AS def "
                  "FROM pg_constraint WHERE conrelid = 'public.fixes'::regclass ORDER BY 1")
    want = pg.json("SELECT name, type, def FROM molecule.fixes_constraints_before ORDER BY 1")
    assert got == want
    assert pg.value("SELECT bool_and(convalidated) FROM pg_constraint "
                    "WHERE conrelid = 'public.fixes'::regclass AND contype = 'f'") == "t"


def test_inbound_foreign_key_restored(pg):
    fk = pg.json("""
        SELECT conname, confrelid::regclass::text AS target, convalidated, pg_get_constraintdef(oid) AS def
        FROM pg_constraint WHERE conrelid = 'public.fix_annotations'::regclass AND contype = 'f'""")
    assert fk == [{"conname": "fix_annotations_fix_id_fkey", "target": "fixes", "convalidated": True,
                   "def": "FOREIGN KEY (fix_id) REFERENCES fixes(id)"}]


def test_trigger_grants_and_comments_kept(pg):
    assert pg.json("SELECT tgname, tgenabled::text AS enabled FROM pg_trigger "
                   "WHERE tgrelid = 'public.fixes'::regclass AND NOT tgisinternal") == \
        [{"tgname": "fixes_touch", "enabled": "O"}]
    assert pg.value("SELECT has_table_privilege('soar_reader', 'public.fixes', 'SELECT')") == "t"
    assert pg.int("SET ROLE soar_reader; SELECT count(*) FROM public.fixes") > 0
    assert pg.value("SELECT obj_description('public.fixes'::regclass, 'pg_class')").startswith("Position reports")


def test_writer_keeps_writing_into_the_plain_table(host, pg):
    assert host.service("soar-run.service").is_running
    first, later = grows(pg, "SELECT count(*) FROM public.fixes WHERE received_at > %s" % CUTOFF)
    assert later > first, (first, later)
    assert writer_committed(host) > int(result(host, "writer_stopped_for_revert")["committed"])
