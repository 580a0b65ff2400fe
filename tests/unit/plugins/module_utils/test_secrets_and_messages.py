# -*- coding: utf-8 -*-
"""Issue 10: no secret stored or printed whichever option carries it; part_config names with
quotes; truthful failures (a refused session setting is not a connection failure, max_batches,
the cluster variable of pg_cluster_info)."""

import json

import psycopg2
import pytest

from ansible_collections.soar.partman.plugins.module_utils import connection as cn
from ansible_collections.soar.partman.plugins.module_utils import partset as ps
from ansible_collections.soar.partman.plugins.module_utils import repair
from ansible_collections.soar.partman.plugins.modules import pg_cluster_info as pci

CANARY = 'S3cr3t-canary'


def params(**kw):
    p = dict(login_host='', login_user='postgres', login_password='', login_port=5432, login_unix_socket='',
             login_db='soar', ssl_mode='prefer', ca_cert=None, ssl_cert=None, ssl_key=None, connect_params={},
             table='public.fixes', control='received_at')
    p.update(kw)
    return p


class Failed(Exception):
    pass


class FakeModule(object):
    """What connection.py uses of AnsibleModule: params, no_log_values, fail_json."""

    def __init__(self, p, no_log_values=()):
        self.params = p
        self.no_log_values = set(no_log_values)
        self.failed = None

    def fail_json(self, **kw):
        self.failed = kw
        raise Failed(kw['msg'])


# ------------------------------------------------------------------ public_params
@pytest.mark.parametrize('secret_params', [
    dict(login_password=CANARY),
    dict(connect_params={'password': CANARY}),
    dict(connect_params={'sslpassword': CANARY, 'application_name': 'x'}),
    dict(connect_params={'passfile': '/root/' + CANARY}),
    dict(connect_params={'some_future_secret': CANARY}),
    dict(login_db='dbname=soar password=' + CANARY),
    dict(login_db='postgresql://u:%s@db/soar' % CANARY),
    dict(connect_params={'dbname': 'host=db password=' + CANARY}),
])
def test_public_params_drop_every_secret(secret_params):
    p = params(**secret_params)
    pub = cn.public_params(p)
    assert CANARY not in json.dumps(pub)
    assert 'login_password' not in pub
    # what the state table and finalize need is kept
    assert pub['table'] == 'public.fixes' and pub['control'] == 'received_at'


def test_public_params_keep_harmless_connect_params():
    p = params(connect_params={'application_name': 'soar.partman-migrate', 'connect_timeout': 10,
                               'dbname': 'soar', 'password': CANARY})
    assert cn.public_params(p)['connect_params'] == {'application_name': 'soar.partman-migrate',
                                                     'connect_timeout': 10, 'dbname': 'soar'}
    assert p['connect_params']['password'] == CANARY  # the params themselves are not changed


def test_connect_params_is_no_log():
    """Ansible writes the journal's "Invoked with" line before the module runs: only no_log keeps
    a connect_params password out of it."""
    spec = cn.connection_argument_spec()
    assert spec['connect_params'].get('no_log') is True
    assert spec['login_password'].get('no_log') is True


# ------------------------------------------------------------------ protect_secrets
def test_protect_secrets_masks_secrets_and_unmasks_the_rest():
    p = params(connect_params={'application_name': 'soar.partman-migrate', 'connect_timeout': 10,
                               'dbname': 'soar', 'password': CANARY})
    # what Ansible's no_log on connect_params puts in no_log_values: every value of the dict
    m = FakeModule(p, no_log_values={'soar.partman-migrate', '10', 'soar', CANARY})
    cn.protect_secrets(m)
    assert CANARY in m.no_log_values
    # a 10, the database or the application name elsewhere in the result is no longer masked
    assert not {'10', 'soar', 'soar.partman-migrate'} & m.no_log_values


def test_protect_secrets_keeps_a_value_masked_that_is_also_the_password():
    p = params(login_password='same', connect_params={'application_name': 'same'})
    m = FakeModule(p, no_log_values={'same'})
    cn.protect_secrets(m)
    assert 'same' in m.no_log_values


@pytest.mark.parametrize('kw, option', [
    (dict(login_db='dbname=soar password=' + CANARY), 'login_db'),
    (dict(connect_params={'dbname': 'postgresql://u:%s@h/soar' % CANARY}), 'connect_params.dbname'),
])
def test_protect_secrets_refuses_a_connection_string_as_database(kw, option):
    m = FakeModule(params(**kw))
    with pytest.raises(Failed) as e:
        cn.protect_secrets(m)
    assert option in str(e.value) and 'login_password' in str(e.value)
    assert m.failed['changed'] is False
    assert CANARY in m.no_log_values  # masked in that very failure output


def test_connection_kwargs_still_pass_the_password():
    kw = cn.connection_kwargs(params(connect_params={'password': CANARY, 'connect_timeout': 5}))
    assert kw['password'] == CANARY and kw['connect_timeout'] == 5


# ------------------------------------------------------------------ setting vs connection
class FakeCursor(object):
    def __init__(self, refuse):
        self.refuse = refuse

    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False

    def execute(self, query, args=None):
        if args and args[0] == self.refuse:
            raise psycopg2.DataError('invalid value for parameter "%s": "%s"' % args)


class FakeConn(object):
    def __init__(self, refuse):
        self.refuse = refuse
        self.autocommit = False
        self.closed = False

    def cursor(self, **kw):
        return FakeCursor(self.refuse)

    def close(self):
        self.closed = True


def test_refused_session_setting_is_not_a_connection_failure(monkeypatch):
    conns = []

    def fake_connect(**kw):
        conns.append(FakeConn('maintenance_work_mem'))
        return conns[-1]

    monkeypatch.setattr(cn.psycopg2, 'connect', fake_connect)
    m = FakeModule(params())
    with pytest.raises(Failed) as e:
        cn.connect(m, session_settings={'lock_timeout': '60s', 'maintenance_work_mem': 'lots'})
    msg = str(e.value)
    assert 'pg_hba.conf' not in msg and 'Unable to connect' not in msg
    assert "maintenance_work_mem = 'lots'" in msg and 'not a connection problem' in msg
    assert 'migration_maintenance_work_mem' in msg and '1GB' in msg
    assert m.failed['changed'] is False
    assert conns[0].closed


def test_failed_connection_still_says_so(monkeypatch):
    def fake_connect(**kw):
        raise psycopg2.OperationalError('could not connect to server')

    monkeypatch.setattr(cn.psycopg2, 'connect', fake_connect)
    m = FakeModule(params())
    with pytest.raises(Failed) as e:
        cn.connect(m, session_settings={'maintenance_work_mem': '1GB'})
    assert 'pg_hba.conf' in str(e.value) and m.failed['changed'] is False


# ------------------------------------------------------------------ part_config names
@pytest.mark.parametrize('parent_table, expected', [
    ('public.fixes', ('public', 'fixes')),
    ('public.we"ird', ('public', 'we"ird')),        # what pg_partman 4.7 stores for a table named we"ird
    ('public.Fixes', ('public', 'Fixes')),          # raw, not folded
    ('My Schema."x"', ('My Schema', '"x"')),        # a table whose name has quotes around it
])
def test_split_config_parent_reads_pg_partmans_raw_text(parent_table, expected):
    assert ps.split_config_parent(parent_table) == expected


@pytest.mark.parametrize('bad', ['fixes', 'public.', '.fixes', 'a.b.c'])
def test_split_config_parent_refuses_what_pg_partman_cannot_store(bad):
    with pytest.raises(ps.InfoError) as e:
        ps.split_config_parent(bad)
    assert 'part_config' in str(e.value)


@pytest.mark.parametrize('name, expected', [
    ('public."we""ird"', ('public', 'we"ird')),
    ('"My Schema"."Fixes"', ('My Schema', 'Fixes')),
    ('fixes', ('public', 'fixes')),
])
def test_split_parent_reads_the_quoted_table_option(name, expected):
    assert ps.split_parent(name) == expected


def test_split_parent_refuses_a_period_inside_quotes():
    """pg_partman finds tables with split_part on '.': a quoted name with a period cannot be managed."""
    with pytest.raises(ps.InfoError) as e:
        ps.split_parent('"a.b"."c"')
    assert 'period' in str(e.value)


# ------------------------------------------------------------------ partman_repair options
@pytest.mark.parametrize('kw, option', [
    (dict(max_batches=-1), 'max_batches'),
    (dict(lock_wait=-5), 'lock_wait'),
    (dict(lock_timeout=-1), 'lock_timeout'),
    (dict(table=' '), 'table'),
])
def test_repair_refuses_bad_options(kw, option):
    p = dict(table='public.fixes', max_batches=0, lock_wait=30, lock_timeout=60)
    p.update(kw)
    problems = repair.validate(p)
    assert len(problems) == 1 and problems[0].startswith(option + ' ')


@pytest.mark.parametrize('batches', [0, 1, 50])
def test_repair_accepts_good_max_batches(batches):
    assert repair.validate(dict(table='public.fixes', max_batches=batches, lock_wait=0, lock_timeout=0)) == []


# ------------------------------------------------------------------ pg_cluster_info
CLUSTERS = [{'version': '15', 'cluster': 'main', 'port': 5432, 'running': True}]


def test_missing_cluster_names_the_cluster_variable():
    problem = pci.requirement_problem(None, '15', CLUSTERS, ['15'], ['15'], name='other')
    fix = pci.requirement_fix(None, '15', 'other', CLUSTERS, 'partman_postgresql_version',
                              pci.cluster_variable_name('partman_postgresql_version'))
    assert 'cluster named other' in problem
    assert fix.startswith('Set partman_postgresql_cluster ') and 'main' in fix
    assert 'partman_postgresql_version' not in fix


def test_missing_major_still_names_the_version_variable():
    fix = pci.requirement_fix(None, '16', 'main', CLUSTERS, 'pg_cron_postgresql_version',
                              pci.cluster_variable_name('pg_cron_postgresql_version'))
    assert fix.startswith('Set pg_cron_postgresql_version ')


@pytest.mark.parametrize('variable, explicit, expected', [
    ('partman_postgresql_version', '', 'partman_postgresql_cluster'),
    ('pg_cron_postgresql_version', '', 'pg_cron_postgresql_cluster'),
    ('version', '', 'cluster'),
    ('partman_postgresql_version', 'my_cluster', 'my_cluster'),
])
def test_cluster_variable_name(variable, explicit, expected):
    assert pci.cluster_variable_name(variable, explicit) == expected


# ------------------------------------------------------------------ a real AnsibleModule
def run_module_exit(monkeypatch, capsys, args, result):
    """Build partman_repair's AnsibleModule with `args`, protect_secrets, exit_json(**result):
    (the "Invoked with" journal line, the JSON the controller receives)."""
    from ansible.module_utils import basic
    from ansible.module_utils.testing import patch_module_args
    from ansible_collections.soar.partman.plugins.modules import partman_repair

    logged = []
    monkeypatch.setattr(basic.AnsibleModule, 'log', lambda self, msg, log_args=None: logged.append(msg))
    with patch_module_args(dict(args, _ansible_verbosity=3)):
        m = basic.AnsibleModule(argument_spec=partman_repair.argument_spec(), supports_check_mode=True)
        getattr(cn, 'protect_secrets', lambda module: None)(m)
        with pytest.raises(SystemExit):
            m.exit_json(**result)
    out = capsys.readouterr().out
    return '\n'.join(logged), json.loads(out[out.index('{'):])


def test_journal_line_and_result_never_hold_the_connect_params_password(monkeypatch, capsys):
    args = {'table': 'public.fixes', 'login_password': 'L0gin-' + CANARY,
            'connect_params': {'password': CANARY, 'sslpassword': CANARY + '-ssl', 'application_name': 'sec-app',
                               'connect_timeout': 10}}
    result = {'changed': False, 'rows_moved': 10, 'msg': 'moved by sec-app'}
    journal, out = run_module_exit(monkeypatch, capsys, args, result)
    assert 'Invoked with' in journal
    assert CANARY not in journal and 'L0gin-' not in journal
    text = json.dumps(out)
    assert CANARY not in text and 'L0gin-' not in text
    # only the secrets are masked: 10 and the application name stay readable
    assert out['rows_moved'] == 10 and out['msg'] == 'moved by sec-app'
    shown = out['invocation']['module_args']['connect_params']
    assert shown['application_name'] == 'sec-app' and shown['connect_timeout'] == 10
    assert shown['password'] == shown['sslpassword'] == 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER'
