# -*- coding: utf-8 -*-
# Copyright: soar.partman contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Progress of the phases after the copy, as the steps count it: a progress.Phase whose records go
into the state row (state.record_phase), where partman_info (status.py) reads them. What each phase
counts, and the words of its progress line."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.soar.partman.plugins.module_utils import state as st
from ansible_collections.soar.partman.plugins.module_utils.progress import Phase

# step recorded when the phase is over -> (what the line says, the unit counted)
PHASES = {
    'indexed': ('building indexes', 'builds'),
    'constrained': ('foreign keys, triggers, ANALYZE', 'steps'),
    'verified': ('verifying every partition against the old table', 'partitions'),
    'revert-drop': ('copying the rows written since the migration back', 'partitions'),
}


def start(ctx, conn, step, total, done=0):
    """A Phase of ctx's table counted towards step, its first record written on conn."""
    phase = Phase(step, PHASES[step][1], total, done=done,
                  write=lambda c, rec: st.record_phase(c, ctx.state_schema, ctx.key, rec))
    phase.start(conn)
    return phase
