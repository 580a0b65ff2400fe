# -*- coding: utf-8 -*-
"""repair.py: the parts that need no database."""

from ansible_collections.soar.partman.plugins.module_utils import repair


def test_repair_helpers():
    assert repair.bucket_unit("1 day") == "day"
    assert repair.bucket_unit("1 mon") == "month"
    assert repair.bucket_unit("2 days") is None
    cols = [{"name": "id", "generated": False, "identity": ""},
            {"name": "location", "generated": True, "identity": ""},
            {"name": "n", "generated": False, "identity": "a"}]
    assert repair.ignored_columns(cols) == ["location"]
    assert repair.identity_always(cols) == ["n"]
