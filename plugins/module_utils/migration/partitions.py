# -*- coding: utf-8 -*-
# Copyright: soar.partman contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Step partitioned: a child for every bucket holding data (create_partition_time, in chunks), each
child given the parent's owner and table privileges and registered in the state table for the copy."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from ansible_collections.soar.partman.plugins.module_utils import catalog
from ansible_collections.soar.partman.plugins.module_utils import ddl
from ansible_collections.soar.partman.plugins.module_utils import partman as pm
from ansible_collections.soar.partman.plugins.module_utils import state as st
from ansible_collections.soar.partman.plugins.module_utils.migration.prepare import grant_table_privileges

try:
    from psycopg2 import sql
except ImportError:  # the module reports the missing library
    sql = None


# partitions created per transaction (each takes locks)
PARTITION_CHUNK = 100


def run(ctx, state):
    db = ctx.db
    snap = state['snapshot']
    buckets = [datetime.datetime.fromisoformat(b) for b in snap['buckets']]
    existing = catalog.partitions(db, ctx.parent_oid())
    have = set()
    for p in existing:
        if p['lo'] is not None:
            have.add(catalog.bound_start(db, snap['control_type'], p['lo']))
    db.rollback()
    missing = [b for b in buckets if b not in have]
    for i in range(0, len(missing), PARTITION_CHUNK):
        chunk = missing[i:i + PARTITION_CHUNK]
        q, args = pm.create_partition_time(ctx.partman_schema, ctx.major, ctx.parent_key, chunk)
        db.execute(q, args)
        db.commit()
        ctx.log('created %d of %d partitions' % (min(i + PARTITION_CHUNK, len(missing)), len(missing)))
    owner = snap['table']['owner']
    parts = catalog.partitions(db, ctx.parent_oid())
    # The partitions get the owner and the table privileges of the parent, as the ones pg_partman
    # creates later do (inherit_privileges is set in part_config by the configure step).
    grants = catalog.table_grants(db, snap['table']['oid'])
    for p in parts:
        child = sql.Identifier(p['schema'], p['relname'])
        cur_owner = db.scalar('SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = %s', (p['oid'],))
        if cur_owner != owner:
            db.execute(ddl.owner_to(child, owner))
        grant_table_privileges(db, grants, child)
        if not p['is_default']:
            st.register_partition(db, ctx.state_schema, ctx.key, p['name'], p['lo'], p['hi'])
    db.commit()
    ctx.partitions_created = [p['name'] for p in parts]
