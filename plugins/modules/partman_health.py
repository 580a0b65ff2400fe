#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: soar.partman contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: partman_health
short_description: Partition health as figures and as Prometheus metrics for node_exporter's textfile collector
version_added: "0.2.0"
description:
  - Computes, for every partition set in C(part_config), the partitions ahead of now (without a gap), the rows in
    the default partition (counted exactly), the number of partitions and their total size, with one SQL query
    (the one role C(soar.partman.partman_health) also ships for postgres_exporter).
  - Reads the last maintenance run as M(soar.partman.partman_info) does (the cron log, C(systemctl show),
    C(cron.job_run_details), C(part_config.maintenance_last_run) and the server log for the bgw), and judges the
    health as C(verify.yml) does (RV(problems)).
  - Renders all of it in the Prometheus text exposition format (RV(metrics)) and, with O(textfile), writes it
    atomically (a temporary file in the same directory, then a rename) for node_exporter's textfile collector.
  - The same code runs on the host without Ansible - role C(soar.partman.partman_health) installs it with a
    systemd timer or a cron line - so the metrics keep coming when nobody runs a playbook.
  - When the database cannot be reached or read, the file written still says so
    (C(soar_partman_health_check_success 0)) and the module fails.
author:
  - soar.partman maintainers (@soar)
requirements:
  - psycopg2 on the managed host (Debian package C(python3-psycopg2))
  - pg_partman 4.x or 5.x in the database
extends_documentation_fragment:
  - soar.partman.connection
  - soar.partman.maintenance_evidence
options:
  partman_schema:
    description:
      - Schema pg_partman is installed in.
    type: str
    default: partman
  textfile:
    description:
      - Write the metrics to this file (its directory must exist), for example
        C(/var/lib/prometheus/node-exporter/soar_partman.prom); empty writes nothing.
    type: path
    default: ''
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Reads the database; the file is not written.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
notes:
  - Run it on the database host as the cluster owner (C(become_user=postgres)), as M(soar.partman.partman_info).
  - The file changes at every run (the check's timestamp is in it), so C(changed) is true whenever O(textfile) is
    given.
'''

EXAMPLES = r'''
- name: Partition health, written for node_exporter
  become: true
  become_user: postgres
  soar.partman.partman_health:
    login_db: soar
    textfile: /var/tmp/soar_partman.prom
  register: health

- name: Fail when rows are stranded in a default partition
  ansible.builtin.assert:
    that: health.partition_sets | map(attribute='default_rows') | max == 0
    fail_msg: "{{ health.problems | join('; ') }}"
'''

RETURN = r'''
partition_sets:
  description:
    - One entry per partition set - C(database), C(parent), C(premake), C(time_based), C(partitions_ahead) (null for
      sets not partitioned by time), C(default_rows), C(default_partition), C(partitions), C(size_bytes),
      C(maintenance_last_run) (pg_partman 5.x).
  returned: success
  type: list
  elements: dict
  sample: [{"parent": "public.fixes", "partitions_ahead": 3, "default_rows": 0, "partitions": 40,
            "size_bytes": 1048576, "premake": 3}]
maintenance:
  description:
    - The last maintenance run, as in M(soar.partman.partman_info) - C(backend), C(last_success), C(last_run),
      C(last_status), C(age_seconds), C(message) - plus C(last_success_timestamp) (Unix time).
  returned: success
  type: dict
problems:
  description: What verify.yml would find wrong, each with the fix.
  returned: success
  type: list
  elements: str
notes:
  description: Things accepted but worth knowing.
  returned: success
  type: list
  elements: str
healthy:
  description: True when RV(problems) is empty.
  returned: success
  type: bool
metrics:
  description: The metrics text (Prometheus text exposition format), as written to O(textfile).
  returned: success
  type: str
  sample: "soar_partman_partitions_ahead{database=\"soar\",parent=\"public.fixes\"} 3\n"
textfile:
  description: The file written (or that would be written in check mode); empty without O(textfile).
  returned: success
  type: str
'''

import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.soar.partman.plugins.module_utils.connection import (
    connection_argument_spec, Database, HAS_PSYCOPG2, PSYCOPG2_IMPORT_ERROR, missing_required_lib,
    protect_secrets, psycopg2,
)
from ansible_collections.soar.partman.plugins.module_utils import health
from ansible_collections.soar.partman.plugins.module_utils import partset as ps
from ansible_collections.soar.partman.plugins.module_utils.runs import evidence_argument_spec


def argument_spec():
    spec = connection_argument_spec()
    spec.update(evidence_argument_spec())
    spec.update(
        partman_schema=dict(type='str', default='partman'),
        textfile=dict(type='path', default=''),
    )
    return spec


def read_text(path):
    try:
        with open(path) as f:
            return f.read()
    except (IOError, OSError):
        return ''


def write(module, text):
    """Write the textfile unless in check mode; the result keys about it."""
    path = module.params['textfile']
    if not path:
        return {'changed': False, 'textfile': ''}
    out = {'changed': True, 'textfile': path}
    if module._diff:
        out['diff'] = {'before': read_text(path), 'after': text, 'before_header': path, 'after_header': path}
    if not module.check_mode:
        try:
            health.write_textfile(path, text)
        except (health.HealthError, IOError, OSError) as e:
            module.fail_json(msg='cannot write the metrics to %s: %s' % (path, e), changed=False)
    return out


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    if not HAS_PSYCOPG2:
        module.fail_json(msg=missing_required_lib('psycopg2'), exception=PSYCOPG2_IMPORT_ERROR)
    protect_secrets(module)
    p = module.params
    textfile = p['textfile']
    if textfile and not os.path.isdir(os.path.dirname(textfile) or '.'):
        module.fail_json(msg="the directory of textfile (%s) does not exist: create it, or give the directory "
                             "node_exporter's --collector.textfile.directory reads" % textfile, changed=False)
    started = time.time()
    try:
        db = Database(p, session_settings={'statement_timeout': '0', 'DateStyle': 'ISO, YMD'}, autocommit=True)
    except psycopg2.Error as e:
        error = ('cannot connect to database %s as %s: %s. Check login_host/login_port/login_unix_socket, '
                 'login_user/login_password and pg_hba.conf.' % (p['login_db'] or 'postgres', p['login_user'],
                                                                 str(e).strip()))
        text = health.exposition(None, started, time.time() - started, error)
        module.fail_json(msg=error, metrics=text, **write(module, text))

    def connect_other(name):
        params = dict(p)
        params['login_db'] = name
        return Database(params, autocommit=True)

    try:
        result = health.collect(db, p, module.run_command, connect_other, module.warn)
    except (health.HealthError, ps.InfoError) as e:
        text = health.exposition(None, started, time.time() - started, str(e))
        written = write(module, text)
        module.fail_json(msg=str(e), metrics=text, **written)
    finally:
        db.close()
    text = health.exposition(result, started, time.time() - started)
    written = write(module, text)
    module.exit_json(metrics=text, **dict(result, **written))


if __name__ == '__main__':
    main()
