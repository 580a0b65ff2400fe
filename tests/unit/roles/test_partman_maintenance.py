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
        partman_maintenance_on_failure='', partman_maintenance_on_failure_script='/usr/local/sbin/x-on-failure',
        partman_maintenance_backend='cron', partman_maintenance_retry_seconds=1800,
        partman_maintenance_retry_delay=10, partman_maintenance_retry_max_delay=300,
    )
    params.update(values)
    return env.get_template(template).render(**params)


@pytest.mark.parametrize('pattern', ['x$(touch {0})', 'x$(touch {0})`touch {0}`\'"\\;touch {0}'])
def test_maintenance_script_does_not_run_a_database_name(tmp_path, pattern):
    """The database name reaches psql and the log lines as data: the command in it never runs."""
    pwned = tmp_path / 'pwned'
    name = pattern.format(pwned)
    script = tmp_path / 'maintenance.sh'
    script.write_text(render('maintenance.sh.j2', partman_maintenance_database=name, partman_maintenance_retry_seconds=0))
    assert subprocess.run(['sh', '-n', str(script)], check=False).returncode == 0
    proc = subprocess.run(['sh', str(script)], capture_output=True, text=True, check=False, timeout=60)
    assert proc.returncode != 0  # no server at that socket (or no psql): the run fails, harmlessly
    assert not pwned.exists()
    assert 'partman-maintenance: START database=%s\n' % name in proc.stdout
    assert 'partman-maintenance: FAILED rc=%d database=%s seconds=' % (proc.returncode, name) in proc.stdout


FAKE_PSQL = """#!/bin/sh
# Fails with the next line of $FAKE_PSQL_PLAN (rc message), counting calls; succeeds when the plan is empty.
n=$(cat "$FAKE_PSQL_COUNT" 2>/dev/null || echo 0); n=$((n + 1)); echo "$n" > "$FAKE_PSQL_COUNT"
line=$(sed -n "${n}p" "$FAKE_PSQL_PLAN")
[ -z "$line" ] && exit 0
echo "${line#* }" >&2
exit "${line%% *}"
"""


def script_with_fake_psql(tmp_path, plan, **values):
    """The rendered script, psql replaced by one that fails as planned (one 'rc message' line per call)."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    psql = bin_dir / 'psql'
    psql.write_text(FAKE_PSQL)
    psql.chmod(0o755)
    (tmp_path / 'plan').write_text(''.join(line + '\n' for line in plan))
    text = render('maintenance.sh.j2', **values).replace('\nPATH=', '\nPATH=%s:' % bin_dir, 1)
    script = tmp_path / 'maintenance.sh'
    script.write_text(text)
    env = dict(os.environ, FAKE_PSQL_PLAN=str(tmp_path / 'plan'), FAKE_PSQL_COUNT=str(tmp_path / 'count'))
    return script, env


def calls(tmp_path):
    return int((tmp_path / 'count').read_text())


def test_script_retries_a_refused_connection_then_succeeds(tmp_path):
    plan = ['2 psql: error: connection to server on socket "/x/.s.PGSQL.5432" failed: FATAL:  sorry, too many clients already',
            '1 ERROR:  canceling statement due to lock timeout']
    script, env = script_with_fake_psql(tmp_path, plan, partman_maintenance_retry_delay=1,
                                        partman_maintenance_retry_max_delay=1, partman_maintenance_retry_seconds=30)
    proc = subprocess.run(['sh', str(script)], capture_output=True, text=True, env=env, check=False, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert calls(tmp_path) == 3
    assert 'partman-maintenance: RETRY attempt=1 rc=2 in=1s reason=too many clients' in proc.stdout
    assert 'partman-maintenance: RETRY attempt=2 rc=1 in=1s reason=canceling statement due to lock timeout' in proc.stdout
    assert 'partman-maintenance: OK database=soar' in proc.stdout and 'attempts=3' in proc.stdout
    assert 'too many clients' in proc.stderr  # psql's own message stays visible


def test_script_gives_up_after_retry_seconds(tmp_path):
    plan = ['2 psql: error: could not connect to server'] * 20
    script, env = script_with_fake_psql(tmp_path, plan, partman_maintenance_retry_delay=1,
                                        partman_maintenance_retry_max_delay=2, partman_maintenance_retry_seconds=3)
    proc = subprocess.run(['sh', str(script)], capture_output=True, text=True, env=env, check=False, timeout=60)
    assert proc.returncode == 2
    assert 2 <= calls(tmp_path) <= 3, proc.stdout
    assert 'partman-maintenance: GIVING UP' in proc.stdout and 'partman_maintenance_retry_seconds=3' in proc.stdout
    assert 'partman-maintenance: FAILED rc=2 database=soar' in proc.stdout


def test_script_does_not_retry_other_errors_and_runs_the_hook(tmp_path):
    hook = tmp_path / 'hook'
    hook.write_text('#!/bin/sh\necho "hook rc=$PARTMAN_MAINTENANCE_RC" > %s/hooked\n' % tmp_path)
    hook.chmod(0o755)
    plan = ['1 ERROR:  updated partition constraint for default partition "fixes_default" would be violated']
    script, env = script_with_fake_psql(tmp_path, plan, partman_maintenance_on_failure='page me',
                                        partman_maintenance_on_failure_script=str(hook))
    proc = subprocess.run(['sh', str(script)], capture_output=True, text=True, env=env, check=False, timeout=60)
    assert proc.returncode == 1
    assert calls(tmp_path) == 1
    assert 'RETRY' not in proc.stdout
    assert 'partman-maintenance: FAILED rc=1' in proc.stdout
    assert (tmp_path / 'hooked').read_text() == 'hook rc=1\n'


def test_failure_hook_is_quoted_for_sh_and_systemd(tmp_path):
    command = "logger -t x 'maintenance failed' $(touch %s/pwned); echo 100%%" % tmp_path
    text = render('on_failure.sh.j2', partman_maintenance_on_failure=command)
    assert 'exec /bin/sh -c %s\n' % shlex.quote(command) in text
    unit = render('service.j2', partman_maintenance_on_failure=command)
    assert 'OnFailure=soar-partman-maintenance-on-failure.service' in unit
    assert 'OnFailure' not in render('service.j2')


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
