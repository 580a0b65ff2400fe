# -*- coding: utf-8 -*-
"""migration/constraints.py: step constrained (outgoing keys, triggers, inbound keys re-pointed, ANALYZE)."""

import pytest

psycopg2 = pytest.importorskip('psycopg2')

from ansible_collections.soar.partman.plugins.module_utils.migration import constraints  # noqa: E402
from partman_testing import FakeDb, make_ctx, state_row  # noqa: E402

PARENT = 16500


def fake_db(inbound_target, on_parent=()):
    return FakeDb([
        ('::regclass::oid::bigint', PARENT),
        ('FROM pg_constraint WHERE conrelid', lambda p: p[1] in on_parent or None),
        ('FROM pg_trigger', lambda p: p[1] == 't_on' or None),
        ('confrelid::bigint', lambda p: inbound_target),
    ])


@pytest.mark.parametrize('target, repoint', [(None, ['add']), (16400, ['drop', 'add']), (PARENT, [])])
def test_keys_triggers_inbound_keys_and_analyze(target, repoint):
    db = fake_db(target, on_parent=('fixes_prev_fkey',))
    ctx = make_ctx(db)
    constraints.run(ctx, state_row())
    inbound = {'drop': 'ALTER TABLE "public"."notes" DROP CONSTRAINT "notes_fix_fkey"',
               'add': 'ALTER TABLE "public"."notes" ADD CONSTRAINT "notes_fix_fkey" FOREIGN KEY (fix_id, fix_at) '
                      'REFERENCES fixes(id, received_at)'}
    assert db.texts() == [
        # the outgoing key the parent lacks (the other one it has already)
        'ALTER TABLE "public"."fixes" ADD CONSTRAINT "fixes_aircraft_fkey" FOREIGN KEY (aircraft_id) '
        'REFERENCES aircraft(id)',
        # triggers the parent lacks, each in the state the old table had it
        'CREATE TRIGGER t_off BEFORE INSERT ON public.fixes FOR EACH ROW EXECUTE FUNCTION f()',
        'ALTER TABLE "public"."fixes" DISABLE TRIGGER "t_off"',
        'CREATE TRIGGER t_always AFTER INSERT ON public.fixes FOR EACH ROW EXECUTE FUNCTION f()',
        'ALTER TABLE "public"."fixes" ENABLE ALWAYS TRIGGER "t_always"',
        'CREATE TRIGGER t_replica AFTER INSERT ON public.fixes FOR EACH ROW EXECUTE FUNCTION f()',
        'ALTER TABLE "public"."fixes" ENABLE REPLICA TRIGGER "t_replica"',
    ] + [inbound[x] for x in repoint] + ['ANALYZE "public"."fixes"']
    assert ctx.analyzed


def test_no_second_analyze_when_the_index_step_ran_it():
    db = fake_db(PARENT)
    ctx = make_ctx(db)
    ctx.analyzed = True
    constraints.run(ctx, state_row())
    assert 'ANALYZE "public"."fixes"' not in db.texts()


def test_analyze_beside_builds_waits_for_locks_then_restores_lock_timeout():
    db = FakeDb()
    constraints.analyze_parent(make_ctx(db, lock_timeout=7), db, beside_builds=True)
    assert db.statements == [
        ("SELECT set_config('lock_timeout', '0', false)", None), ('ANALYZE "public"."fixes"', None),
        ('SELECT set_config(%s, %s, false)', ('lock_timeout', '7s'))]
    assert db.autocommit is False


@pytest.mark.parametrize('analyzed, total', [(False, 4), (True, 3)])
def test_counts_each_key_the_repointed_inbound_key_and_analyze(analyzed, total):
    db = fake_db(None, on_parent=('fixes_prev_fkey',))
    ctx = make_ctx(db)
    ctx.analyzed = analyzed
    constraints.run(ctx, state_row())
    records = db.progress_records()
    # 2 outgoing keys (one on the parent already: counted done), 1 inbound key re-pointed, ANALYZE
    assert (records[0]['step'], records[0]['unit'], records[0]['done'], records[0]['total']) == \
        ('constrained', 'steps', 0, total)
    assert (records[-1]['done'], records[-1]['total']) == (total, total)
