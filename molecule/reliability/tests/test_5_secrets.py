"""Secrets: a known password through login_password and connect_params (password) appears nowhere:
not in `ansible -vvv` / `ansible-playbook -vvv` output, the journal, the state tables, or files."""
import re

import pytest

import cases as C

COMMANDS = [c[0] for c in C.SECRET_ADHOC] + ['playbook']


@pytest.mark.parametrize('name', COMMANDS)
def test_no_secret_in_output(host, suite, name):
    cmd = suite.commands[name]
    text = cmd['out'] + cmd['err']
    me = host.backend.get_hostname()
    for canary in (C.CANARY, C.CANARY_CP):
        assert canary not in text, '%s printed a password: %s' % (name, [
            line[:300] for line in text.splitlines() if canary in line][:3])
    if name == 'playbook':
        # the role cases fail in rescue sections; the last plays (migration with a password, collect) must run
        recap = re.search(r'^%s\s*: ok=\d+\s+changed=\d+\s+unreachable=(\d+)\s+failed=(\d+)' % re.escape(me), text, re.M)
        assert recap and recap.groups() == ('0', '0'), 'the playbook failed on %s' % me
        return
    status = re.search(r'^%s \| (SUCCESS|CHANGED|FAILED!?)' % re.escape(me), text, re.M)
    assert status, 'no result for %s in the output' % me
    if name in C.SECRET_OK:
        assert status.group(1) in ('SUCCESS', 'CHANGED'), '%s failed on %s' % (name, me)
    else:
        assert status.group(1).startswith('FAILED'), '%s did not fail on %s' % (name, me)


def test_no_secret_on_the_host(obs):
    scan = obs['scan']
    assert 'error' not in scan, scan.get('traceback')
    assert scan['journal_lines'] > 0
    # the migrations that carried a password left state rows, so the state tables were searched
    assert {'sec_login', 'sec_cp', 'sec_role'} <= set(scan['state_dbs']), scan['state_dbs']
    assert scan['found'] == [], 'the password was found: %s' % scan['found']
