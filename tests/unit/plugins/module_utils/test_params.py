# -*- coding: utf-8 -*-
"""params.py: partman_migrate's parameter checks."""

import pytest

from ansible_collections.soar.partman.plugins.module_utils import intervals
from ansible_collections.soar.partman.plugins.module_utils import names as nm
from ansible_collections.soar.partman.plugins.module_utils import params as prm


def test_validate_params():
    base = {'interval': '1 day', 'premake': 3, 'batch_size': 10, 'jobs': 1, 'old_suffix': '_old'}
    assert prm.validate_params(base).key == 'day'
    for k, v in (('premake', 0), ('batch_size', 0), ('jobs', 0), ('old_suffix', ''), ('old_suffix', 'x;drop'),
                 ('interval', '5 days'), ('retention', 'forever')):
        bad = dict(base, **{k: v})
        with pytest.raises(nm.PlanError):
            prm.validate_params(bad)
    assert intervals.retention_seconds('90 days') == 90 * 86400
    assert intervals.retention_seconds('1 year 6 months') == (365 + 180) * 86400


def test_validation_names_the_users_variable():
    base = {'interval': '1 day', 'premake': 3, 'batch_size': 10, 'jobs': 1, 'old_suffix': '_old'}
    with pytest.raises(nm.PlanError, match='migration_retention .* shorter than one partition'):
        prm.validate_params(dict(base, retention='1 hour'), 'migration_')
    with pytest.raises(nm.PlanError, match=r'migration_premake is 100000; it must be between 1 and 1000'):
        prm.validate_params(dict(base, premake=100000), 'migration_')
    with pytest.raises(nm.PlanError, match=r'^migration_interval: '):
        prm.validate_params(dict(base, interval='5 days'), 'migration_')
    with pytest.raises(nm.PlanError, match=r'^batch_size is -1'):
        prm.validate_params(dict(base, batch_size=-1))
    assert prm.validate_params(dict(base, retention='1 day', premake=1000)).key == 'day'


def test_copy_pause_ratio_bounds():
    base = {'interval': '1 day', 'premake': 3, 'batch_size': 10, 'jobs': 1, 'old_suffix': '_old'}
    assert prm.validate_params(dict(base, copy_pause_ratio=0.0)).key == 'day'
    assert prm.validate_params(dict(base, copy_pause_ratio=2.5)).key == 'day'
    for bad in (-0.5, 101.0):
        with pytest.raises(nm.PlanError, match=r'^migration_copy_pause_ratio is %s; it must be between 0' % bad):
            prm.validate_params(dict(base, copy_pause_ratio=bad), 'migration_')
