# -*- coding: utf-8 -*-
"""catalog.py: the parts that need no database."""

from ansible_collections.soar.partman.plugins.module_utils import catalog


def test_parse_bound():
    assert catalog.parse_bound("FOR VALUES FROM ('2024-01-01 00:00:00+00') TO ('2024-01-02 00:00:00+00')") == \
        ('2024-01-01 00:00:00+00', '2024-01-02 00:00:00+00')
    assert catalog.parse_bound('DEFAULT') == (None, None)
    assert catalog.parse_bound("FOR VALUES FROM (MINVALUE) TO ('2024-01-01')") == (None, '2024-01-01')
