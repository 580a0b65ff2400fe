"""Bad role variables: the play fails at the role naming the variable the user typed (argument specs,
the roles' own checks, the module's messages through the migration role); the database is unchanged."""
import difflib

import pytest

import cases as C


@pytest.mark.parametrize('name,role,rvars,setup,migrate,expect', C.ROLE_CASES, ids=[c[0] for c in C.ROLE_CASES])
def test_role_variable(obs, name, role, rvars, setup, migrate, expect):  # pylint: disable=unused-argument,too-many-arguments
    before = obs['role/' + name]
    assert 'error' not in before, before.get('traceback')
    if migrate:
        assert not before['migrate'].get('failed'), 'setup migration failed: %s' % before['migrate'].get('msg')
    r = obs['roles'].get(name)
    assert r is not None, 'the role case did not run (see the ansible-playbook output)'
    assert r['failed'], '%s accepted %s' % (role, rvars)
    missing = [s for s in expect if s.lower() not in r['msg'].lower()]
    assert not missing, 'the message does not name %s: %s (task %s)' % (missing, r['msg'], r.get('task'))
    after = obs['after/' + name]
    assert after['fingerprint_after'] == before['fingerprint_before'], 'the database changed:\n' + '\n'.join(
        difflib.unified_diff(before['fingerprint_before'].splitlines(), after['fingerprint_after'].splitlines(),
                             lineterm='', n=0))[:3000]
