# -*- coding: utf-8 -*-
"""state.py: the phase progress record, written without waiting and never failing the run."""

import json

import pytest

psycopg2 = pytest.importorskip('psycopg2')

from ansible_collections.soar.partman.plugins.module_utils import state as st  # noqa: E402
from partman_testing import FakeDb  # noqa: E402

RECORD = {'step': 'indexed', 'unit': 'builds', 'done': 3, 'total': 9, 'start_done': 0, 'seconds': 1.5}


def test_record_phase_merges_into_progress_and_skips_a_locked_row():
    db = FakeDb()
    assert st.record_phase(db, 'partman', 'public.fixes', RECORD)
    (text, params), = db.statements
    assert text.startswith('UPDATE "partman"."partman_migrate_state" SET progress = coalesce(progress, \'{}\'::jsonb) '
                           "|| jsonb_build_object('phase', %s::jsonb), updated_at = now()")
    assert 'FOR NO KEY UPDATE SKIP LOCKED' in text          # never waits for another writer of the row
    assert json.loads(params[0]) == RECORD and params[1] == 'public.fixes'
    assert db.events[-1] == 'COMMIT'


def test_record_phase_failure_is_rolled_back_and_ignored():
    def fail(_params):
        raise psycopg2.OperationalError('canceling statement due to lock timeout')
    db = FakeDb([('jsonb_build_object', fail)])
    assert st.record_phase(db, 'partman', 'public.fixes', RECORD) is False
    assert db.events[-1] == 'ROLLBACK'
