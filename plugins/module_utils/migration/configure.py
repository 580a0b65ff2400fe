# -*- coding: utf-8 -*-
# Copyright: soar.partman contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Step done: pg_partman's part_config set (premake, retention, infinite time partitions, inherited
privileges), optionally maintenance run, the write guard removed. Also run by every later run of a
finished migration, when the configuration asked for differs."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from ansible_collections.soar.partman.plugins.module_utils import catalog
from ansible_collections.soar.partman.plugins.module_utils import partman as pm
from ansible_collections.soar.partman.plugins.module_utils import state as st
from ansible_collections.soar.partman.plugins.module_utils import write_guard
from ansible_collections.soar.partman.plugins.module_utils.migration.context import MigrationError
from ansible_collections.soar.partman.plugins.module_utils.migration.preflight import retention_check


def run(ctx, state):
    configure(ctx, state, finished=False)
    write_guard.remove(ctx.db, ctx.t_parent)
    st.update(ctx.db, ctx.state_schema, ctx.key, finished_at=datetime.datetime.now(datetime.timezone.utc),
              message='migrated')


def configure(ctx, state, finished):
    db = ctx.db
    wanted = pm.config_wanted(ctx.p['premake'], ctx.p.get('retention'), ctx.p['retention_keep_table'])
    current = catalog.part_config(db, ctx.partman_schema, ctx.key)
    if current is None:
        raise MigrationError("pg_partman has no configuration for %s (part_config row missing); register it "
                             "again with %s.create_parent or revert" % (ctx.key, ctx.partman_schema))
    if finished:
        control_check(ctx, current)
    diff = pm.config_differs(current, wanted)
    if finished and not diff:
        db.rollback()
        return
    if finished:
        retention_check(ctx, catalog.table_info(db, ctx.schema, ctx.name), state['snapshot'])
        if ctx.check_mode:
            ctx.changed = True
            ctx.diff = {'before': dict((k, current.get(k)) for k in wanted), 'after': wanted}
            return
        ctx.changed = True
        ctx.diff = {'before': dict((k, current.get(k)) for k in wanted), 'after': wanted}
    q, args = pm.config_update(ctx.partman_schema, ctx.key, ctx.p['premake'], ctx.p.get('retention'),
                               ctx.p['retention_keep_table'])
    db.execute(q, args)
    db.commit()
    if ctx.p['run_maintenance']:
        q, args = pm.run_maintenance(ctx.partman_schema, ctx.key)
        db.execute(q, args)
        db.commit()


def control_check(ctx, current):
    """A finished migration is partitioned by part_config.control: a run asking for another control
    column is refused (not "migrated, nothing to do"), before anything is changed."""
    if current.get('control') and current['control'] != ctx.control:
        raise MigrationError(
            "%s is migrated already and partitioned by %s (%s.part_config.control), not by %s: nothing was "
            "changed. Set %s: %s (a migrated table cannot change its control column; rollback.yml, "
            "then a new migration, would)." % (ctx.key, current['control'], ctx.partman_schema, ctx.control,
                                               ctx.opt('control'), current['control']))
