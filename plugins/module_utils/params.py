# -*- coding: utf-8 -*-
# Copyright: soar.partman contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks of partman_migrate's parameter combinations, before any connection."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.soar.partman.plugins.module_utils.intervals import parse_interval, retention_seconds
from ansible_collections.soar.partman.plugins.module_utils.names import PlanError

# create_parent makes every premade partition in one transaction, each taking locks: far more than a
# few hundred exhausts the lock table ("out of shared memory") after holding the table for minutes.
MAX_PREMAKE = 1000


def validate_params(params, var_prefix=''):
    """Check parameter combinations; returns the parsed Interval. Messages name each option as
    var_prefix + option, the name the user set (a role passes its variables' prefix)."""
    def name(option):
        return var_prefix + option
    try:
        interval = parse_interval(params.get('interval'))
    except PlanError as e:
        raise PlanError('%s: %s' % (name('interval'), e))
    premake = params.get('premake')
    if premake is not None and not 1 <= premake <= MAX_PREMAKE:
        raise PlanError("%s is %s; it must be between 1 and %d partitions ahead (pg_partman makes them all in "
                        "one transaction, and maintenance keeps them coming): set %s to a few days' worth, "
                        "e.g. 3 to 14" % (name('premake'), premake, MAX_PREMAKE, name('premake')))
    for option in ('batch_size', 'jobs', 'lock_timeout', 'progress_interval'):
        if params.get(option) is not None and params[option] < 1:
            raise PlanError("%s is %s; it must be 1 or more: set %s to a positive number"
                            % (name(option), params[option], name(option)))
    if params.get('phase') not in (None, 'all') and params.get('mode') != 'online':
        raise PlanError("%s: %s is for online mode only: set %s: online, or leave %s unset"
                        % (name('phase'), params['phase'], name('mode'), name('phase')))
    if params.get('cutover_lock_timeout') is not None and not params['cutover_lock_timeout'] > 0:
        raise PlanError("%s is %s; it must be more than 0 seconds, e.g. 2"
                        % (name('cutover_lock_timeout'), params['cutover_lock_timeout']))
    ratio = params.get('copy_pause_ratio')
    if ratio is not None and not 0 <= ratio <= 100:
        raise PlanError("%s is %s; it must be between 0 (no pause) and 100: set %s to e.g. 1, a pause as long "
                        "as each copy batch" % (name('copy_pause_ratio'), ratio, name('copy_pause_ratio')))
    if params.get('cutover_retries') is not None and params['cutover_retries'] < 0:
        raise PlanError("%s is %s; it must be 0 or more" % (name('cutover_retries'), params['cutover_retries']))
    suffix = params.get('old_suffix')
    if suffix is not None and (not suffix or not re.match(r'^[A-Za-z0-9_]+$', suffix)):
        raise PlanError("%s must be a non-empty string of letters, digits and underscores (e.g. _old)"
                        % name('old_suffix'))
    if params.get('retention'):
        seconds = retention_seconds(params['retention'], name('retention'))
        if seconds < interval.approx_seconds:
            raise PlanError("%s %r is shorter than one partition (%s): pg_partman would remove every partition "
                            "but the newest. Set %s to at least %s, e.g. '30 days'"
                            % (name('retention'), params['retention'], interval.pg_text, name('retention'),
                               interval.pg_text))
    return interval
