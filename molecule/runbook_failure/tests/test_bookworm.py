"""The runbook's failure sequence (failure_sequence.py) on the bookworm host (PostgreSQL 15, pg_partman 4)."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from failure_sequence import *  # noqa: E402,F401,F403  pylint: disable=wrong-import-position,wildcard-import,unused-wildcard-import


@pytest.fixture(scope="module")
def host():
    return "runbook-failure-bookworm"
