# -*- coding: utf-8 -*-
# Copyright: soar.partman contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Estimates shown in the plan: time and disk space a migration needs."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


# Rough throughput figures used for the time estimate; measured on a small
# VM (see the module notes); they are a guide, not a promise.
COPY_ROWS_PER_SECOND = 150000.0
INDEX_BYTES_PER_SECOND = 60.0 * 1024 * 1024


def estimate_seconds(rows, table_bytes, index_bytes):
    copy = rows / COPY_ROWS_PER_SECOND
    build = index_bytes / INDEX_BYTES_PER_SECOND
    verify = rows / (COPY_ROWS_PER_SECOND * 4)
    return int(copy + build + verify + 5)


def disk_needed(table_bytes, index_bytes, margin=1.1):
    """A second copy of the heap plus its indexes, with a margin."""
    return int((table_bytes + index_bytes) * margin)
