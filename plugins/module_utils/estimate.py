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


# The whole window from the preflight's measurement on a sample (migration/sample.py): the sample is
# one partition's worth of rows, and the migration does per partition what was timed on it, so each
# kind of work scales with rows_total / sample rows (ANALYZE with the partitions: it samples at most
# 30000 rows of each). The sample's figures are its backend's CPU seconds where the module can read
# them (else wall seconds). The factors turn that work on a TEMP table (no WAL, local buffers, one
# statement, no parallel workers) into the real phases' seconds. Fitted on the quiet demo at 1M rows
# (PostgreSQL 15, 2 CPUs, 2026-11-30): migration_jobs 1 (39.9 s in the module: copy 3.5 s, index
# builds 16.3 s, foreign keys and ANALYZE 19.4 s, verification 0.5 s) for the factors, migration_jobs 2
# (20.7 and 21.3 s: copy 2.5-2.8 s, index phase 17.4-17.7 s) for the gains of a second connection; the sample's
# CPU figures there, per 33333 rows: copy 0.08 s, 17 builds 0.36 s, 4 foreign keys 0.19 s, ANALYZE 0.44 s
# per partition. A busy server takes longer (the plan then adds the figure at the current load).
COPY_FACTOR = 1.45
INDEX_FACTOR = 1.5
FK_FACTOR = 0.75
ANALYZE_FACTOR = 1.08
VERIFY_FACTOR = 0.2       # the old table's GROUP BY and each partition's count, against the sample's copy
SECONDS_FIXED = 0.1       # rename, parent, create_parent, configure
SECONDS_PER_PARTITION = 0.005
# What each connection after the first adds. The copy is bound by one table's reads (2 connections on 2
# cores: 1.4x); the index phase by CPU, and with one job ANALYZE and the keys wait for the builds, with
# more they run beside them (2 connections on 2 cores: 2.05x).
COPY_PARALLEL_GAIN = 0.4
INDEX_PARALLEL_GAIN = 1.0


def parallel_speedup(jobs, gain):
    return 1.0 + gain * (max(int(jobs or 1), 1) - 1)


def window_estimate(sample, rows_total, partitions, jobs, copy_pause_ratio=0.0):
    """Seconds of each phase and their sum, scaled from the sample's timings; None without a sample.
    With jobs > 1 the copy and the index phase (builds, foreign keys and ANALYZE beside them) run on
    jobs connections; the verification on one. copy_pause_ratio: the copy pauses that many times each
    batch's duration after it, and the index phase each build's."""
    if not sample or not sample.get('rows'):
        return None
    scale = float(max(rows_total or 0, 0)) / float(sample['rows'])
    speed = parallel_speedup(jobs, INDEX_PARALLEL_GAIN)
    builds = sample['indexes'] * scale * INDEX_FACTOR
    keys = sample['foreign_keys'] * scale * FK_FACTOR
    analyze = sample['analyze'] * max(int(partitions or 0), 1) * ANALYZE_FACTOR
    paced = 1.0 + float(copy_pause_ratio or 0)
    if jobs > 1 or paced > 1:
        # ANALYZE is one statement on one connection beside the builds and keys on the others: the
        # phase lasts as long as the longer of the two
        work = (builds + keys + analyze) / speed
        phase = max(work, analyze)
        share = phase / (builds + keys + analyze) if builds + keys + analyze else 0
        builds, keys, analyze = builds * share * paced, keys * share * paced, analyze * share * paced
    phases = {
        'prepare': SECONDS_FIXED + SECONDS_PER_PARTITION * max(int(partitions or 0), 0),
        'copy': sample['copy'] * scale * COPY_FACTOR / parallel_speedup(jobs, COPY_PARALLEL_GAIN) * paced,
        'indexes': builds,
        'foreign_keys': keys,
        'analyze': analyze,
        'verify': sample['copy'] * scale * VERIFY_FACTOR,
    }
    phases = dict((k, round(v, 1)) for k, v in phases.items())
    return {'phases': phases, 'seconds': int(round(sum(phases.values()))), 'sample_rows': int(sample['rows']),
            'scale': round(scale, 2)}
