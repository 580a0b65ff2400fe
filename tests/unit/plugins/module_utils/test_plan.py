# -*- coding: utf-8 -*-
"""plan.py: the migration plan on both pg_partman majors."""

import datetime

import pytest

from ansible_collections.soar.partman.plugins.module_utils import intervals
from ansible_collections.soar.partman.plugins.module_utils import plan as pl
from partman_testing import UTC


def snapshot():
    return {
        'table': {'schema': 'public', 'name': 'fixes', 'reltuples': 1000, 'table_bytes': 10 << 20,
                  'index_bytes': 5 << 20},
        'constraints': [{'type': 'p', 'name': 'fixes_pkey', 'columns': ['id']},
                        {'type': 'f', 'name': 'fixes_aircraft_fkey', 'columns': ['aircraft_id']}],
        'indexes': [{'name': 'fixes_pkey', 'constraint': 'fixes_pkey', 'unique': True, 'columns': ['id']},
                    {'name': 'fixes_loc', 'constraint': None, 'unique': False, 'columns': [],
                     'tail': ' USING gist (location)'}],
        'inbound_fks': [], 'triggers': [{'name': 't'}],
    }


@pytest.mark.parametrize('major, first', [(4, 'public.fixes_p2023_06_15'), (5, 'public.fixes_p20230615')])
def test_build_plan(major, first):
    iv = intervals.INTERVALS['day']
    buckets = [datetime.datetime(2023, 6, 15, tzinfo=UTC), datetime.datetime(2024, 1, 1, tzinfo=UTC)]
    premade = intervals.premake_buckets(datetime.datetime(2024, 1, 1, 5, tzinfo=UTC), iv, 3)
    params = {'control': 'received_at', 'old_suffix': '_old'}
    p = pl.build_plan(snapshot(), params, iv, major, buckets, premade, free_bytes=1 << 40, rows_estimate=1000)
    assert p['partitions'][0]['name'] == first
    assert p['partitions_with_data'] == 2
    assert p['partitions_to_create'] == 5        # 2023-06-15, 2024-01-01 (also premade) .. 01-04
    assert p['pk_changed'] == ['PRIMARY KEY (id) -> (id, received_at)']
    assert p['disk_needed_bytes'] == int((15 << 20) * 1.1)
    assert p['old_table'] == 'public.fixes_old'
    assert p['rows_to_copy'] == 1000
    assert 'PRIMARY KEY fixes_pkey (id, received_at)' in p['indexes_to_build']
