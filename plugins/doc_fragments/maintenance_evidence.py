# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    # Where the last maintenance run is read (module_utils/runs.py), and when it is a problem:
    # the options partman_info and partman_health share (runs.evidence_argument_spec).
    DOCUMENTATION = r'''
options:
  backend:
    description:
      - The maintenance backend whose last run is read; C(auto) finds the one in place (a loaded systemd unit
        O(job_name), the cron file C(/etc/cron.d/<job_name>), C(pg_partman_bgw) in C(shared_preload_libraries),
        a pg_cron job O(job_name), in that order).
    type: str
    choices: [auto, cron, pg_cron, systemd, bgw, none]
    default: auto
  job_name:
    description:
      - Name of the pg_cron job, and base name of the systemd service (C(<job_name>.service)).
    type: str
    default: soar-partman-maintenance
  cron_log:
    description:
      - Log file the cron backend's maintenance script appends to; its last rotation (C(.1) or C(.1.gz)) is read too.
    type: path
    default: /var/log/soar-partman/maintenance.log
  pg_cron_database:
    description:
      - Database holding pg_cron's tables; empty means the server's C(cron.database_name).
    type: str
    default: ''
  postgresql_log:
    description:
      - PostgreSQL server log file to search for C(pg_partman_bgw) runs (on Debian the C(logfile) of
        M(soar.partman.pg_cluster_info)); empty skips it.
    type: path
    default: ''
  max_maintenance_age:
    description:
      - Seconds a successful maintenance run may be old before it counts as a problem; C(0) skips the
        maintenance checks.
    type: int
    default: 93600
  allow_no_maintenance:
    description:
      - A set with no recorded maintenance run at all (just migrated) is not a problem; a run that failed still is.
    type: bool
    default: false
'''
