# -*- coding: utf-8 -*-
# Copyright: soar.partman contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The migration plan: what partman_migrate will do, returned in check mode and recorded at start.
Pure: built from the catalog snapshot and the buckets."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.soar.partman.plugins.module_utils.ddl import describe_key_change, widen_columns
from ansible_collections.soar.partman.plugins.module_utils.estimate import disk_needed, estimate_seconds
from ansible_collections.soar.partman.plugins.module_utils.human import human_bytes, human_seconds
from ansible_collections.soar.partman.plugins.module_utils.intervals import add_interval
from ansible_collections.soar.partman.plugins.module_utils.names import default_partition_name, partition_name, qualified, truncate_name


def build_plan(snapshot, params, interval, major, buckets, premade, now_bucket=None,
               free_bytes=None, rows_estimate=None):
    """The migration plan returned in check mode and recorded at start.

    snapshot: catalog snapshot dict (see catalog.snapshot()).
    buckets: bucket start datetimes holding data.
    premade: bucket start datetimes create_parent makes.
    """
    table = snapshot['table']
    control = params['control']
    all_starts = sorted(set(buckets) | set(premade))
    partitions = []
    for start in all_starts:
        partitions.append({
            'name': qualified(table['schema'], partition_name(table['name'], start, major, interval)),
            'from': start.isoformat(),
            'to': add_interval(start, interval).isoformat(),
            'has_data': start in set(buckets),
        })
    rows = rows_estimate if rows_estimate is not None else table.get('reltuples')
    rows = int(max(rows or 0, 0))
    index_bytes = table.get('index_bytes') or 0
    table_bytes = table.get('table_bytes') or 0
    needed = disk_needed(table_bytes, index_bytes)
    indexes = []
    pk_changed = []
    for con in snapshot.get('constraints', []):
        if con['type'] in ('p', 'u'):
            after = widen_columns(con['columns'], control)
            kind = 'PRIMARY KEY' if con['type'] == 'p' else 'UNIQUE'
            indexes.append('%s %s (%s)' % (kind, con['name'], ', '.join(after)))
            if after != con['columns']:
                pk_changed.append(describe_key_change(kind, con['columns'], after))
    for idx in snapshot.get('indexes', []):
        if idx.get('constraint'):
            continue
        indexes.append(idx['name'] + ':' + idx.get('tail', ''))
        if idx['unique'] and control not in idx.get('columns', []):
            pk_changed.append('UNIQUE INDEX %s (%s) -> (%s)' % (
                idx['name'], ', '.join(idx.get('columns', [])),
                ', '.join(widen_columns(idx.get('columns', []), control))))
    plan = {
        'table': qualified(table['schema'], table['name']),
        'old_table': qualified(table['schema'], truncate_name(table['name'], params['old_suffix'])),
        'control': control,
        'interval': interval.pg_text,
        'partman_major': major,
        'partitions_to_create': len(partitions),
        'partitions_with_data': len(buckets),
        'partitions': partitions,
        'default_partition': qualified(table['schema'], default_partition_name(table['name'])),
        'rows_to_copy': rows,
        'indexes_to_build': indexes,
        'pk_changed': pk_changed,
        'table_bytes': table_bytes,
        'index_bytes': index_bytes,
        'disk_needed_bytes': needed,
        'disk_needed': human_bytes(needed),
        'disk_free_bytes': free_bytes,
        'disk_free': human_bytes(free_bytes) if free_bytes is not None else 'unknown',
        'estimated_seconds': estimate_seconds(rows, table_bytes, index_bytes),
    }
    plan['estimated_time'] = human_seconds(plan['estimated_seconds'])
    plan['inbound_fks'] = [fk['name'] + ' on ' + fk['table'] for fk in snapshot.get('inbound_fks', [])]
    plan['outbound_fks'] = [c['name'] for c in snapshot.get('constraints', []) if c['type'] == 'f']
    plan['triggers'] = [t['name'] for t in snapshot.get('triggers', [])]
    return plan
