# -*- coding: utf-8 -*-
"""Role partman_maintenance: its templates quote every value for the file's format, and its first
tasks (validate.yml, run by ansible-playbook on localhost) refuse what cannot be quoted."""

import json
import os
import shlex
import subprocess
import sys

import jinja2
import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
ROLE = os.path.join(ROOT, 'roles', 'partman_maintenance')


def render(template, **values):
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(os.path.join(ROLE, 'templates')),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    env.filters['quote'] = shlex.quote
    params = dict(
        ansible_managed='managed', partman_maintenance_name='soar-partman-maintenance',
        partman_maintenance_database='soar', partman_maintenance_db_user='postgres',
        partman_maintenance_os_user='postgres', partman_maintenance_script='/usr/local/sbin/x',
        partman_maintenance_bgw_interval=3600, partman_maintenance_analyze=False,
        partman_maintenance_on_calendar_effective='*-*-* 03:00:00',
        partman_maintenance_cluster={'service': 'postgresql@15-main.service',
                                     'cluster': {'socketdir': '/nonexistent/socket dir', 'port': 5432}},
        partman_maintenance_info={'maintenance_call': 'CALL partman.run_maintenance_proc(p_analyze := false)'},
    )
    params.update(values)
    return env.get_template(template).render(**params)


@pytest.mark.parametrize('pattern', ['x$(touch {0})', 'x$(touch {0})`touch {0}`\'"\\;touch {0}'])
def test_maintenance_script_does_not_run_a_database_name(tmp_path, pattern):
    """The database name reaches psql and the log lines as data: the command in it never runs."""
    pwned = tmp_path / 'pwned'
    name = pattern.format(pwned)
    script = tmp_path / 'maintenance.sh'
    script.write_text(render('maintenance.sh.j2', partman_maintenance_database=name))
    assert subprocess.run(['sh', '-n', str(script)], check=False).returncode == 0
    proc = subprocess.run(['sh', str(script)], capture_output=True, text=True, check=False, timeout=60)
    assert proc.returncode != 0  # no server at that socket (or no psql): the run fails, harmlessly
    assert not pwned.exists()
    assert 'partman-maintenance: START database=%s\n' % name in proc.stdout
    assert 'partman-maintenance: FAILED rc=%d database=%s seconds=' % (proc.returncode, name) in proc.stdout


def test_bgw_settings_are_quoted_for_postgresql_conf():
    text = render('bgw.conf.j2', partman_maintenance_database="so'ar\\x", partman_maintenance_db_user="o'neil")
    lines = [line for line in text.splitlines() if not line.startswith('#')]
    assert lines == ["pg_partman_bgw.dbname = 'so''ar\\\\x'", 'pg_partman_bgw.interval = 3600',
                     "pg_partman_bgw.role = 'o''neil'", 'pg_partman_bgw.analyze = off']


def test_systemd_units_double_percent():
    for template in ('service.j2', 'timer.j2'):
        text = render(template, partman_maintenance_database='a%nb')
        assert 'database a%%nb (soar.partman)' in text


# ------------------------------------------------------------------ validate.yml on localhost
PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - ansible.builtin.include_role:
        name: soar.partman.partman_maintenance
        tasks_from: validate.yml
"""


def validate(tmp_path, **values):
    playbook = tmp_path / 'validate.yml'
    playbook.write_text(PLAYBOOK)
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, '.collections'), ANSIBLE_FORCE_COLOR='0',
               ANSIBLE_STDOUT_CALLBACK='ansible.builtin.default', ANSIBLE_CALLBACK_RESULT_FORMAT='json')
    binary = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')
    proc = subprocess.run([binary, '-i', 'localhost,', '-c', 'local', str(playbook), '-e', json.dumps(values)],
                          capture_output=True, text=True, env=env, check=False, timeout=120)
    return proc.returncode, ' '.join((proc.stdout + proc.stderr).split())


BAD = [
    ({'partman_maintenance_db_user': "postgres'\narchive_command = 'touch /tmp/pwned'"},
     'partman_maintenance_db_user', 'newline or another control character'),
    ({'partman_maintenance_database': 'soar\nx'}, 'partman_maintenance_database', 'control character'),
    ({'partman_maintenance_name': 'soar.partman'}, 'partman_maintenance_name', "letters, digits, '_' and '-'"),
    ({'partman_maintenance_os_user': 'postgres x'}, 'partman_maintenance_os_user', 'is not a user name'),
    ({'partman_maintenance_script': '/usr/local/sbin/a b'}, 'partman_maintenance_script', 'absolute path'),
    ({'partman_maintenance_log_file': '/var/log/%x.log'}, 'partman_maintenance_log_file', 'absolute path'),
    ({'partman_maintenance_cron_schedule': '0 3 * * * date +%s'}, 'partman_maintenance_cron_schedule',
     'five cron fields'),
    ({'partman_maintenance_cron_schedule': '0 3 * *'}, 'partman_maintenance_cron_schedule', 'five cron fields'),
    ({'partman_maintenance_on_calendar': '*-*-* 03:00:00 %n'}, 'partman_maintenance_on_calendar',
     'not a systemd calendar'),
]


@pytest.mark.parametrize('values,variable,words', BAD, ids=[b[1] + str(i) for i, b in enumerate(BAD)])
def test_validate_refuses_values_that_would_add_lines_or_commands(tmp_path, values, variable, words):
    rc, out = validate(tmp_path, **values)
    assert rc != 0, out[-2000:]
    assert variable in out and words in out and 'Nothing was changed' in out, out[-3000:]


def test_validate_accepts_the_defaults_and_usual_values(tmp_path):
    rc, out = validate(tmp_path, partman_maintenance_database="o'hara $db", partman_maintenance_cron_schedule='30 2 * * 1-5',
                       partman_maintenance_on_calendar='Mon..Fri *-*-* 02:30:00', partman_maintenance_name='soar_m-1')
    assert rc == 0, out[-3000:]
