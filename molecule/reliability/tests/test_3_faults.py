"""Faults: the module stopped at a known point (a test session holds the lock it needs next), then
kill -9, pg_terminate_backend, a PostgreSQL restart, a second run, a writer, a full tablespace;
afterwards resume or revert. The controller lost during the migration role's copy. Per-day counts
and row fingerprints equal the snapshot taken before: 0 lost, 0 doubled."""
import pytest

import cases as C

STOPS = ('kill', 'terminate', 'restart')


def stopped_at(events):
    """The state step when the module was stopped (the last wait for a lock before the first stop)."""
    last = None
    for e in events:
        if e['op'].split()[0] in STOPS:
            return last
        if e['op'].startswith('blocked'):
            last = e
    return last


@pytest.mark.parametrize('name,args,setup,ops,step,outcome', C.FAULTS, ids=[c[0] for c in C.FAULTS])
def test_fault(obs, name, args, setup, ops, step, outcome):  # pylint: disable=unused-argument,too-many-arguments
    o = obs['fault/' + name]
    assert 'error' not in o, '%s\n%s' % (o['error'], o.get('traceback'))
    snap, final, results = o['snapshot'], o['final'], o['results']
    assert snap['total'] > 0 and snap['total'] == snap['distinct']
    if any(op[0] in STOPS for op in ops):
        where = stopped_at(o['events'])
        assert where is not None, 'never waited for the test session before being stopped'
        got = where['state'][0] if where['state'] else None
        assert got == step, 'stopped with the state at %s, not %s (waiting in: %s)' % (got, step, where['query'])
    for chk in o['checks']:
        assert chk['old'] == snap, '%s: %s differs from the snapshot' % (chk['label'], chk['old_table'])
    for stop in [op for op in ops if op[0] in ('terminate', 'restart')]:
        assert results['r1'].get('failed'), '%s: the run did not fail: %s' % (stop[0], results['r1'])
    last = [op[1] for op in ops if op[0] in ('run', 'wait')][-1]
    assert not results[last].get('failed'), 'the last run (%s) failed: %s' % (last, results[last].get('msg'))
    if name == 'concurrent-run-while-blocked':
        second = results['second']
        assert second.get('failed') and second.get('changed') is False, second
        assert 'another partman_migrate run' in second.get('msg', ''), second.get('msg')
    if name == 'concurrent-runs-together':
        for r in (results['r1'], results['r2']):
            assert not r.get('failed') or (r.get('changed') is False and 'another partman_migrate run' in r.get('msg', '')), r
    if outcome == 'partitioned':
        assert final['relkind'] == 'p'
        assert final['new'] == snap, 'partitioned table differs from the snapshot'
        assert final['old'] == snap, 'old table differs from the snapshot'
        assert final['indexes'] == final['indexes_before']
        assert final['state'][0] == 'done'
    else:
        assert final['relkind'] == 'r'
        assert final['new'] == snap, 'reverted table differs from the snapshot'
        assert final['old'] is None, 'the old table is still there'
    if 'tablespace' in o:
        ts, refused, r1 = o['tablespace'], results['refused'], results['r1']
        assert refused.get('failed') and not refused.get('changed'), refused
        assert ts['path'] in refused.get('msg', '') and 'disk_check' in refused['msg'], refused.get('msg')
        assert o['fingerprints']['before refusal'] == o['fingerprints']['after refusal']
        # ENOSPC, or a short write of a block (PostgreSQL's "wrote only 4096 of 8192 bytes")
        assert r1.get('failed') and ('No space left on device' in r1.get('msg', '')
                                     or 'Check free disk space' in r1.get('msg', '')), r1
        assert not o.get('cleanup_errors'), o['cleanup_errors']
    if 'writer' in o:
        w = o['writer']
        assert w['committed'] > 0, w
        assert w['found'] == w['committed'] and w['found_distinct'] == w['committed'], \
            'committed %d rows, found %d (%d distinct)' % (w['committed'], w['found'], w['found_distinct'])
        wrong = [m for m in w['error_messages'] if 'is being migrated by partman_migrate' not in m]
        assert not wrong, 'the writer got other errors: %s' % wrong


@pytest.mark.parametrize('name', [c[0] for c in C.CONTROLLER_FAULTS])
def test_controller_lost(obs, name):
    """ansible-playbook killed while the role's migration copies; the module on the host finishes by
    itself or the role's second run resumes it; nothing lost, nothing doubled."""
    o, before, after = obs['fault/' + name], obs['clone-fault/' + name], obs['after-fault/' + name]
    assert 'error' not in o, o['error']
    assert o['killed'], 'the module never waited for the lock before the playbook ended (rc %s, %s):\n%s\n%s' % (
        o['first_rc'], o.get('held'), o.get('holder_err'), o['first_tail'])
    assert o['killed']['state'][0] == 'partitioned', 'not stopped in the copy: %s' % o['killed']
    assert not o['after_kill']['running'], 'the module still ran 180 s after the playbook was killed'
    rerun = o['rerun']
    assert rerun['rc'] == 0, 'the second run of the role failed:\n%s\n%s' % (rerun['out'][-3000:], rerun['err'][-2000:])
    snap = before['snapshot']
    assert snap['total'] > 0 and snap['total'] == snap['distinct']
    assert after['relkind'] == 'p'
    assert after['new'] == snap, 'partitioned table differs from the snapshot'
    assert after['old'] == snap, 'old table differs from the snapshot'
    assert after['indexes'] == before['indexes']
    assert after['state'][0] == 'done', after['state']
