"""Load the soar_writer role's scripts (tests/fixtures/roles/soar_writer/files) as modules."""

import importlib.util
import os

FILES = os.path.join(os.path.dirname(__file__), '..', '..', 'fixtures', 'roles', 'soar_writer', 'files')


def load(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(FILES, name + '.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
