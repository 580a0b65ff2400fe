"""Bad inputs to the modules: refused before any change, with the option named, catalog unchanged."""
import difflib

import pytest

import cases as C

# what a message must not say (a wrong diagnosis)
NOT_IN = {'maintenance-work-mem': ['pg_hba'], 'partman-schema': ['pg_hba']}


def diff(a, b):
    return '\n'.join(difflib.unified_diff(a.splitlines(), b.splitlines(), 'before', 'after', lineterm='', n=0))[:3000]


@pytest.mark.parametrize('name,module,args,setup,expect', C.BAD, ids=[c[0] for c in C.BAD])
def test_bad_input(obs, name, module, args, setup, expect):  # pylint: disable=unused-argument
    o = obs['bad/' + name]
    assert 'error' not in o, o.get('traceback')
    r = o['result']
    msg = str(r.get('msg', ''))
    assert r.get('failed'), '%s accepted %s: %s' % (module, args, str(r)[:1500])
    # a result without `changed` is reported by Ansible as changed: false
    assert r.get('changed', False) is False, 'failed, but changed=%r: %s' % (r.get('changed'), msg)
    missing = [s for s in expect if s.lower() not in msg.lower()]
    assert not missing, 'the message does not name %s: %s' % (missing, msg)
    wrong = [s for s in NOT_IN.get(name, []) if s.lower() in msg.lower()]
    assert not wrong, 'the message names %s, which is not the problem: %s' % (wrong, msg)
    assert o['fingerprint_after'] == o['fingerprint_before'], 'the catalog changed:\n' + diff(
        o['fingerprint_before'], o['fingerprint_after'])
