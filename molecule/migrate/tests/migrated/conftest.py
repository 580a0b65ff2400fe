"""Fixtures and helpers from ../migrate_helpers.py."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from migrate_helpers import pg  # noqa: E402,F401  pylint: disable=wrong-import-position,unused-import
