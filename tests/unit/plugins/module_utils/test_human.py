# -*- coding: utf-8 -*-
"""human.py: sizes and durations for people (one pair for every module's messages), and the ETA."""

import pytest

from ansible_collections.soar.partman.plugins.module_utils.human import format_eta, human_bytes, human_seconds


@pytest.mark.parametrize('n, text', [
    (None, 'unknown'), (0, '0.0 B'), (1000, '1000.0 B'), (1536, '1.5 kB'), (5 << 20, '5.0 MB'),
    (3 << 30, '3.0 GB'), (2 << 50, '2048.0 TB'),
])
def test_human_bytes(n, text):
    assert human_bytes(n) == text


@pytest.mark.parametrize('s, text', [(0, '0s'), (119, '119s'), (120, '2m00s'), (3725, '62m05s'), (7200, '2h00m'),
                                     (172800, '48h00m')])
def test_human_seconds(s, text):
    assert human_seconds(s) == text


def test_format_eta():
    assert format_eta(5) == '5s' and format_eta(125) == '2m05s' and format_eta(3725) == '1h02m05s'
