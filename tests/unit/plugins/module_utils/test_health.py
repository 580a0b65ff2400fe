# -*- coding: utf-8 -*-
"""health.py: the metrics text, the atomic write, the failure file, and what the host needs of it."""

import ast
import datetime
import os

import pytest
import yaml

psycopg2 = pytest.importorskip('psycopg2')

from ansible_collections.soar.partman.plugins.module_utils import health  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..', '..', '..'))
MODULE_UTILS = os.path.join(ROOT, 'plugins', 'module_utils')
ROLE = os.path.join(ROOT, 'roles', 'partman_health')
UTC = datetime.timezone.utc


def result(default_rows=0, ahead=3, status='succeeded', age=3600, healthy=True):
    last = datetime.datetime(2026, 5, 1, 3, tzinfo=UTC)
    return {
        'database': 'soar',
        'partition_sets': [{'parent': 'public.fixes', 'premake': 3, 'time_based': True, 'partitions_ahead': ahead,
                            'default_rows': default_rows, 'partitions': 40, 'size_bytes': 123456},
                           {'parent': 'public."we""ird"', 'premake': 4, 'time_based': False, 'partitions_ahead': None,
                            'default_rows': 0, 'partitions': 5, 'size_bytes': 0}],
        'maintenance': {'backend': 'systemd', 'last_status': status, 'age_seconds': age,
                        'last_success_timestamp': last.timestamp() if age is not None else None},
        'healthy': healthy, 'problems': [], 'notes': [],
    }


def samples(text):
    return dict(line.rsplit(' ', 1) for line in text.splitlines() if line and not line.startswith('#'))


def test_every_figure_per_set_with_help_and_type():
    text = health.exposition(result(default_rows=7, ahead=1), 1777777777.5, 0.25)
    s = samples(text)
    assert s['soar_partman_default_rows{database="soar",parent="public.fixes"}'] == '7'
    assert s['soar_partman_partitions_ahead{database="soar",parent="public.fixes"}'] == '1'
    assert s['soar_partman_partitions{database="soar",parent="public.fixes"}'] == '40'
    assert s['soar_partman_size_bytes{database="soar",parent="public.fixes"}'] == '123456'
    key = 'soar_partman_maintenance_age_seconds{database="soar",parent="public.fixes",backend="systemd"}'
    assert s[key] == '3600'
    assert s['soar_partman_maintenance_status{database="soar",parent="public.fixes",backend="systemd",'
             'status="succeeded"}'] == '1'
    assert s['soar_partman_maintenance_status{database="soar",parent="public.fixes",backend="systemd",'
             'status="failed"}'] == '0'
    assert s['soar_partman_health_check_success'] == '1'
    assert s['soar_partman_health_check_timestamp_seconds'] == '1777777777.5'
    for name in ('partitions_ahead', 'default_rows', 'health_check_success', 'maintenance_status'):
        assert '# TYPE soar_partman_%s gauge' % name in text
        assert '# HELP soar_partman_%s ' % name in text


def test_label_values_are_escaped_and_a_set_not_by_time_has_no_partitions_ahead():
    s = samples(health.exposition(result(), 0, 0))
    assert 'soar_partman_default_rows{database="soar",parent="public.\\"we\\"\\"ird\\""}' in s
    assert not [k for k in s if k.startswith('soar_partman_partitions_ahead') and 'ird' in k]


def test_no_recorded_run_has_no_age_but_says_never():
    s = samples(health.exposition(result(status='never', age=None), 0, 0))
    assert not [k for k in s if k.startswith('soar_partman_maintenance_age_seconds')]
    assert s['soar_partman_maintenance_status{database="soar",parent="public.fixes",backend="systemd",'
             'status="never"}'] == '1'


def test_a_failed_check_writes_only_its_own_metrics_with_the_reason():
    text = health.exposition(None, 100, 1, 'cannot connect to database soar as postgres: too many\nclients')
    s = samples(text)
    assert s['soar_partman_health_check_success'] == '0'
    assert s['soar_partman_health_check_timestamp_seconds'] == '100.0'
    assert not [k for k in s if 'default_rows' in k or k.startswith('soar_partman_healthy')]
    assert '# health check failed: cannot connect to database soar as postgres: too many clients' in text


def test_write_is_atomic_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / 'soar_partman.prom'
    path.write_text('old\n')
    health.write_textfile(str(path), 'new\n')
    assert path.read_text() == 'new\n'
    assert oct(path.stat().st_mode & 0o777) == '0o644'
    assert sorted(os.listdir(str(tmp_path))) == ['soar_partman.prom']


def test_write_into_a_missing_directory_names_the_fix(tmp_path):
    with pytest.raises(health.HealthError, match='does not exist.*collector.textfile.directory'):
        health.write_textfile(str(tmp_path / 'nope' / 'x.prom'), 'x\n')


def test_main_writes_the_failure_when_the_database_does_not_answer(tmp_path):
    path = tmp_path / 'soar_partman.prom'
    rc = health.main(['--textfile', str(path), '--dbname', 'soar', '--host', str(tmp_path), '--port', '1',
                      '--connect-timeout', '2'])
    assert rc == 2
    s = samples(path.read_text())
    assert s['soar_partman_health_check_success'] == '0'


def imports_of(name):
    tree = ast.parse(open(os.path.join(MODULE_UTILS, name)).read())
    found = set()
    prefix = 'ansible_collections.soar.partman.plugins.module_utils'
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == prefix:
                found.update(a.name + '.py' for a in node.names)
            elif node.module.startswith(prefix + '.'):
                found.add(node.module[len(prefix) + 1:].split('.')[0] + '.py')
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            module = getattr(node, 'module', None) or ''
            names = [module] if module else [a.name for a in node.names]
            assert not any(n == 'ansible' or n.startswith('ansible.') for n in names), \
                '%s imports Ansible: the host check cannot run it' % name
    return found


def test_the_host_gets_every_file_health_imports_and_no_ansible():
    needed, todo = set(), ['health.py']
    while todo:
        name = todo.pop()
        if name in needed:
            continue
        needed.add(name)
        todo.extend(imports_of(name))
    assert needed == set(health.HOST_FILES)


def test_the_role_copies_exactly_the_host_files():
    role_vars = yaml.safe_load(open(os.path.join(ROLE, 'vars', 'main.yml')))
    assert role_vars['partman_health_module_utils'] == list(health.HOST_FILES)


def test_the_shipped_postgres_exporter_queries_are_generated_from_health():
    with open(os.path.join(ROLE, 'files', 'queries.yaml')) as f:
        shipped = f.read()
    assert shipped == health.exporter_queries(), 'regenerate roles/partman_health/files/queries.yaml'
    query = yaml.safe_load(shipped)['soar_partman']
    columns = [list(m)[0] for m in query['metrics']]
    gauges = [list(m)[0] for m in query['metrics'] if list(m.values())[0]['usage'] == 'GAUGE']
    assert gauges == [name for name, kind, text in health.SET_METRICS]
    for column in columns:
        assert ' AS %s' % column in query['query'] or column in ('database', 'parent')


def test_exporter_sql_quotes_a_schema_that_needs_it():
    assert 'FROM "Part Man".part_config pc' in health.exporter_sql('Part Man')
    assert 'FROM partman.part_config pc' in health.exporter_sql()
