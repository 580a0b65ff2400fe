# -*- coding: utf-8 -*-
"""migration/indexes.py: step indexed."""

from ansible_collections.soar.partman.plugins.module_utils.migration.indexes import _interleave_second_half


def test_interleave_second_half_keeps_every_item_and_spreads_the_extra():
    assert _interleave_second_half([1, 2, 3, 4], ['a', 'b']) == [1, 2, 3, 'a', 4, 'b']
    assert _interleave_second_half([1, 2], ['a', 'b', 'c']) == [1, 2, 'a', 'b', 'c']
    assert _interleave_second_half([], ['a']) == ['a']
    assert _interleave_second_half([1, 2, 3], []) == [1, 2, 3]
