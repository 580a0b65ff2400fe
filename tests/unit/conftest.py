# -*- coding: utf-8 -*-
"""Make ansible_collections.soar.partman importable from the repository
(the Makefile links .collections/ansible_collections/soar/partman -> ../../..), and the tests'
helpers (partman_testing.py, beside this file) from the test files below, which are laid out like
the code: plugins/module_utils/..., plugins/module_utils/migration/..., plugins/modules/...."""

import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
COLLECTIONS = os.path.join(ROOT, '.collections')
LINK = os.path.join(COLLECTIONS, 'ansible_collections', 'soar', 'partman')

if not os.path.exists(LINK):
    os.makedirs(os.path.dirname(LINK), exist_ok=True)
    try:
        os.symlink('../../..', LINK)
    except FileExistsError:
        pass
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)
HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)
