"""Legitimate unusual tables: migrated with every row (per-day counts and row fingerprints) and every index."""
import pytest

import cases as C


@pytest.mark.parametrize('name,args,setup,may_refuse', C.UNUSUAL, ids=[c[0] for c in C.UNUSUAL])
def test_unusual_table(obs, name, args, setup, may_refuse):  # pylint: disable=unused-argument
    o = obs['unusual/' + name]
    assert 'error' not in o, o.get('traceback')
    r, before, after = o['result'], o['before'], o['after']
    assert before['data'] and before['data']['total'] > 0, 'the setup made no rows: %s' % before
    if may_refuse and r.get('failed'):
        # a refusal is acceptable only before any change
        assert r.get('changed') is False, r.get('msg')
        assert after['fingerprint'] == before['fingerprint'], 'refused after changing the catalog: %s' % r.get('msg')
        return
    assert not r.get('failed'), r.get('msg')
    assert r.get('changed') is True
    assert after['relkind'] == 'p', 'not partitioned afterwards'
    assert after['data'] == before['data'], 'rows differ (per day: count, fingerprint)'
    assert after['old_data'] == before['data'], 'the old table changed'
    assert after['indexes'] == before['indexes'], 'indexes on the parent: %s, originally %s' % (
        after['indexes'], before['indexes'])
    assert after['default_rows'] == 0
    if name in C.INFO_AFTER:
        assert not o['info'].get('failed'), 'partman_info (whole database) fails afterwards: %s' % o['info'].get('msg')
