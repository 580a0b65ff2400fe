#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: pg_cluster_info
short_description: Find the PostgreSQL clusters and majors installed on a Debian host
version_added: "0.1.0"
description:
  - Reads the clusters known to postgresql-common (C(pg_lsclusters)) and the server majors
    installed under C(/usr/lib/postgresql), so that roles can pick the package names
    (C(postgresql-<major>-partman)) and the service to restart without guessing.
  - Changes nothing; check mode is fully supported.
author:
  - soar.partman maintainers (@soar)
options:
  version:
    description:
      - The PostgreSQL major the caller wants, for example C(15) or C(17).
      - When empty, the major of the only (or the first running) cluster is chosen.
    type: str
    default: ''
  cluster:
    description:
      - The cluster name, as in C(pg_lsclusters).
    type: str
    default: main
  require_running:
    description:
      - Fail, naming what is installed and how to fix it, unless the chosen cluster exists and runs.
    type: bool
    default: false
  supported_majors:
    description:
      - When given and O(require_running=true), the chosen major must be one of these.
    type: list
    elements: str
    default: []
  variable:
    description:
      - The inventory variable that chooses the major; named in error messages so the user knows what to set.
    type: str
    default: version
  cluster_variable:
    description:
      - The inventory variable that chooses the cluster (O(cluster)); named in the error message when no cluster of
        that name exists.
      - Empty means O(variable) with C(_version) replaced by C(_cluster) (C(partman_postgresql_version) gives
        C(partman_postgresql_cluster)), or C(cluster).
    type: str
    default: ''
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
notes:
  - Needs postgresql-common (Debian and Ubuntu). Without it, RV(clusters) is empty and RV(major) is empty.
'''

EXAMPLES = r'''
- name: Find the PostgreSQL major of this host
  soar.partman.pg_cluster_info:
  register: pg

- name: Show it
  ansible.builtin.debug:
    msg: "PostgreSQL {{ pg.major }}, service {{ pg.service }}"
'''

RETURN = r'''
major:
  description: The chosen PostgreSQL major, empty when none could be chosen.
  returned: always
  type: str
  sample: "15"
service:
  description: The systemd unit of the chosen cluster.
  returned: always
  type: str
  sample: postgresql@15-main.service
cluster:
  description: The chosen cluster, as reported by pg_lsclusters.
  returned: always
  type: dict
  sample: {"version": "15", "cluster": "main", "port": 5432, "running": true,
           "pgdata": "/var/lib/postgresql/15/main", "socketdir": "/var/run/postgresql",
           "configdir": "/etc/postgresql/15/main", "logfile": "/var/log/postgresql/postgresql-15-main.log"}
clusters:
  description: Every cluster on the host.
  returned: always
  type: list
  elements: dict
installed_majors:
  description: Server majors whose binaries are installed in /usr/lib/postgresql.
  returned: always
  type: list
  elements: str
  sample: ["15"]
'''

import json
import os

from ansible.module_utils.basic import AnsibleModule

LIB_DIR = '/usr/lib/postgresql'


def installed_majors():
    if not os.path.isdir(LIB_DIR):
        return []
    majors = [d for d in os.listdir(LIB_DIR) if os.path.exists(os.path.join(LIB_DIR, d, 'bin', 'postgres'))]
    return sorted(majors, key=float)


def parse_json_clusters(text):
    clusters = []
    for c in json.loads(text or '[]'):
        clusters.append({
            'version': str(c.get('version')),
            'cluster': c.get('cluster'),
            'port': int(c.get('port') or 5432),
            'running': bool(c.get('running')),
            'pgdata': c.get('pgdata'),
            'socketdir': c.get('socketdir') or '/var/run/postgresql',
            'configdir': c.get('configdir'),
            'logfile': c.get('logfile'),
        })
    return clusters


def parse_text_clusters(text):
    """Fallback for postgresql-common releases without --json: 'Ver Cluster Port Status Owner Data Log'."""
    clusters = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 6 or not fields[0][0].isdigit():
            continue
        clusters.append({
            'version': fields[0], 'cluster': fields[1], 'port': int(fields[2]),
            'running': fields[3].startswith('online'), 'pgdata': fields[5],
            'socketdir': '/var/run/postgresql',
            'configdir': '/etc/postgresql/%s/%s' % (fields[0], fields[1]),
            'logfile': fields[6] if len(fields) > 6 else None,
        })
    return clusters


def choose(clusters, version, name):
    candidates = [c for c in clusters if c['cluster'] == name and (not version or c['version'] == version)]
    running = [c for c in candidates if c['running']]
    return (running or candidates or [None])[0]


def cluster_variable_name(variable, explicit=''):
    """The variable choosing the cluster: given, or derived from the one choosing the major."""
    if explicit:
        return explicit
    if variable and variable.endswith('_version'):
        return variable[:-len('_version')] + '_cluster'
    return 'cluster'


def other_names(clusters, version, name):
    """Names of the clusters of the wanted major (any major when none is wanted) when `name` is not one of them."""
    names = sorted(set(c['cluster'] for c in clusters if not version or c['version'] == version))
    return names if names and name not in names else []


def requirement_problem(cluster, version, clusters, majors, supported, name=None):
    """Why the host cannot be used, in words a user can act on, or None."""
    known = ', '.join('%s/%s' % (c['version'], c['cluster']) for c in clusters) or 'none'
    if supported and version and version not in supported:
        return 'PostgreSQL major %s is not supported (supported: %s).' % (version, ', '.join(supported))
    if cluster is None:
        wanted = 'PostgreSQL %s' % version if version else 'a PostgreSQL cluster'
        if name and other_names(clusters, version, name):
            wanted += ' cluster named %s' % name
        return 'Found no %s on this host (clusters: %s; installed majors: %s).' % (wanted, known, ', '.join(majors) or 'none')
    if supported and cluster['version'] not in supported:
        return 'PostgreSQL major %s is not supported (supported: %s).' % (cluster['version'], ', '.join(supported))
    if not cluster['running']:
        return 'Cluster %s/%s is not running (start it: pg_ctlcluster %s %s start).' % (
            cluster['version'], cluster['cluster'], cluster['version'], cluster['cluster'])
    return None


def requirement_fix(cluster, version, name, clusters, variable, cluster_variable):
    """What to set (or do) for a problem of requirement_problem, naming the variable that fixes it."""
    others = other_names(clusters, version, name) if cluster is None else []
    if others:
        return ('Set %s to the cluster you want (%s: %s), or create cluster %s first (pg_createcluster %s %s).'
                % (cluster_variable, 'PostgreSQL %s' % version if version else 'clusters here', ', '.join(others),
                   name, version or '<major>', name))
    return 'Set %s to the major you want, or install and start that PostgreSQL first.' % variable


def main():
    module = AnsibleModule(
        argument_spec=dict(
            version=dict(type='str', default=''),
            cluster=dict(type='str', default='main'),
            require_running=dict(type='bool', default=False),
            supported_majors=dict(type='list', elements='str', default=[]),
            variable=dict(type='str', default='version'),
            cluster_variable=dict(type='str', default=''),
        ),
        supports_check_mode=True,
    )
    version = module.params['version'].strip()
    clusters = []
    lsclusters = module.get_bin_path('pg_lsclusters')
    if lsclusters:
        rc, out, err = module.run_command([lsclusters, '--json'])
        if rc == 0:
            clusters = parse_json_clusters(out)
        else:
            rc, out, err = module.run_command([lsclusters, '--no-header'], check_rc=True)
            clusters = parse_text_clusters(out)
    cluster = choose(clusters, version, module.params['cluster'])
    major = cluster['version'] if cluster else version
    majors = installed_majors()
    if module.params['require_running']:
        problem = requirement_problem(cluster, version, clusters, majors, module.params['supported_majors'],
                                      name=module.params['cluster'])
        if problem:
            fix = requirement_fix(cluster, version, module.params['cluster'], clusters, module.params['variable'],
                                  cluster_variable_name(module.params['variable'], module.params['cluster_variable']))
            module.fail_json(msg='%s %s' % (problem, fix), changed=False, clusters=clusters, installed_majors=majors)
    module.exit_json(
        changed=False,
        major=major,
        service=('postgresql@%s-%s.service' % (cluster['version'], cluster['cluster'])) if cluster else '',
        cluster=cluster or {},
        clusters=clusters,
        installed_majors=majors,
    )


if __name__ == '__main__':
    main()
