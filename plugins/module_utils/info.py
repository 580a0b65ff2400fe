# -*- coding: utf-8 -*-
# Copyright: soar.partman contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""partman_info: partition-set facts plus the evidence of the last maintenance run."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.soar.partman.plugins.module_utils import evidence as ev
from ansible_collections.soar.partman.plugins.module_utils import partman as pm
from ansible_collections.soar.partman.plugins.module_utils import partset as ps
from ansible_collections.soar.partman.plugins.module_utils import repair
from ansible_collections.soar.partman.plugins.module_utils import runs
from ansible_collections.soar.partman.plugins.module_utils.connection import connect, Database
from ansible_collections.soar.partman.plugins.module_utils.migration import status as migration_status

BACKENDS = runs.BACKENDS
GATHER = ('partition_sets', 'maintenance', 'migration')


class Info(object):

    def __init__(self, module):
        self.module = module
        self.p = module.params
        self.db = None

    def server_facts(self):
        return runs.server_facts(self.db)

    # ------------------------------------------------------------- evidence
    def connect_other(self, dbname):
        params = dict(self.p)
        params['login_db'] = dbname
        return Database(params, autocommit=True)

    def evidence(self, server, sets):
        """The last maintenance run (module_utils/runs.py reads it, for the health check too)."""
        return runs.Runs(self.db, self.p, self.run_command, self.connect_other, self.warn).evidence(server, sets)

    def run_command(self, argv):
        return self.module.run_command(argv)

    def warn(self, text):
        self.module.warn(text)

    # ------------------------------------------------------------------ run
    def run(self):
        self.db = connect(self.module, session_settings={'statement_timeout': '0', 'DateStyle': 'ISO, YMD'},
                          autocommit=True)
        try:
            return self._run()
        finally:
            self.db.close()

    def _run(self):
        p = self.p
        db = self.db
        gather = set(p['gather'])
        if 'migration' in gather and not p['table']:
            raise ps.InfoError("gather: migration needs table (the table whose migration is read)")
        installed = ps.partman_installed(db)
        schema = p['partman_schema']
        if gather & {'partition_sets', 'maintenance'}:
            if installed is None:
                raise ps.InfoError("pg_partman is not installed in database %s: apply role soar.partman.partman "
                                   "(or CREATE EXTENSION pg_partman SCHEMA %s) first"
                                   % (db.scalar('SELECT current_database()'), p['partman_schema']))
            if installed['schema'] != p['partman_schema']:
                raise ps.InfoError("pg_partman is installed in schema %s, not %s: set partman_schema: %s"
                                   % (installed['schema'], p['partman_schema'], installed['schema']))
        parent = None
        if p['table']:
            parent = '%s.%s' % ps.split_parent(p['table'])
        sets = []
        if 'partition_sets' in gather:
            sets = self.partition_sets(parent)
        server = self.server_facts()
        now = db.scalar('SELECT now()')
        if 'maintenance' in gather:
            found = ev.summarise(self.evidence(server, sets), now)
            max_age = p['max_maintenance_age']
        else:
            found = ev.summarise(ev.empty('none', None), now)
            found['message'] = 'not gathered'
            max_age = 0
        problems, notes = ps.health(sets, found, max_age, p['allow_no_maintenance'], var_prefix=p['var_prefix'])
        drops = []
        for s in sets:
            if s['retention']['would_drop']:
                r = s['retention']
                drops.append({'parent': s['parent'], 'retention': r['retention'], 'partitions': r['holding_data'],
                              'rows_estimate': r['rows_estimate'], 'bytes': r['bytes'],
                              'message': ps.retention_message(s)})
        version = installed['version'] if installed else None
        res = dict(
            changed=False,
            partman_version=version,
            partman_major=pm.major_version(version) if version else None,
            partman_schema=schema,
            partition_sets=sets,
            partition_set=(sets[0] if parent and sets else {}),
            maintenance=found,
            maintenance_call=self.maintenance_call(schema, version) if version else None,
            server=server,
            summary=ps.summary_lines(sets, found) if 'maintenance' in gather else ps.summary_lines(sets, found)[:-1],
            healthy=not problems,
            problems=problems,
            notes=notes,
            retention_drops=drops,
            now=now.isoformat(),
        )
        if 'migration' in gather:
            res['migration'] = migration_status.read(db, schema, *ps.split_parent(p['table']), old_suffix=p['old_suffix'])
        return res

    def maintenance_call(self, schema, version):
        p = self.p
        if not p['maintenance_job']:
            return pm.maintenance_call(schema, version, p['maintenance_analyze'])
        return repair.scheduled_call(schema, version, analyze=p['maintenance_analyze'], self_heal=p['self_heal'],
                                     max_batches=p['self_heal_max_batches'], lock_wait=p['lock_wait'],
                                     lock_timeout=p['lock_timeout'], retry_seconds=p['retry_seconds'])

    def partition_sets(self, parent):
        p = self.p
        schema = p['partman_schema']
        configs = ps.config_rows(self.db, schema, parent)
        if parent and not configs:
            raise ps.InfoError("%s is not managed by pg_partman (no row in %s.part_config): migrate it first "
                               "(playbooks/migrate.yml or soar.partman.partman_migrate)" % (parent, schema))
        sets = []
        for cfg in configs:
            override = cfg['parent_table'] == parent
            sets.append(ps.collect_set(
                self.db, schema, cfg, exact_counts=p['exact_counts'],
                retention=(p['retention'] if override and p['retention'] is not None else None),
                keep_table=(p['retention_keep_table'] if override and p['retention_keep_table'] is not None
                            else None)))
        return sets


def run(module):
    try:
        module.exit_json(**Info(module).run())
    except (ps.InfoError, repair.RepairError) as e:
        module.fail_json(msg=str(e))
