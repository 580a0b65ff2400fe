# -*- coding: utf-8 -*-
"""migration/partitions.py: step partitioned, children for the buckets holding data, on both majors."""

import datetime

import pytest

psycopg2 = pytest.importorskip('psycopg2')

from ansible_collections.soar.partman.plugins.module_utils.migration import partitions  # noqa: E402
from partman_testing import UTC, FakeDb, make_ctx, snapshot, state_row  # noqa: E402

DAY0 = datetime.datetime(2024, 1, 1, tzinfo=UTC)


def child(day, default=False):
    start = DAY0 + datetime.timedelta(days=day)
    name = 'fixes_default' if default else 'fixes_p%s' % start.strftime('%Y%m%d')
    bound = 'DEFAULT' if default else "FOR VALUES FROM ('%s') TO ('%s')" % (
        start.isoformat(), (start + datetime.timedelta(days=1)).isoformat())
    return {'name': 'public.' + name, 'schema': 'public', 'relname': name, 'oid': 20000 + day, 'bound': bound}


def fake_db(existing, after):
    calls = []

    def children(_params):
        calls.append(1)
        return [dict(c) for c in (existing if len(calls) == 1 else after)]
    return FakeDb([
        ('::regclass::oid::bigint', 16500),
        ('FROM pg_inherits', children),
        ('SELECT %s::timestamp with time zone::timestamptz', lambda p: datetime.datetime.fromisoformat(p[0])),
        ('pg_get_userbyid(relowner)', 'postgres'),
        ('aclexplode(c.relacl)', [{'grantee': 'reader', 'priv': 'SELECT', 'grantable': False}]),
    ])


@pytest.mark.parametrize('major', [4, 5])
def test_children_for_the_missing_buckets_in_chunks(major):
    buckets = [(DAY0 + datetime.timedelta(days=d)).isoformat() for d in range(150)]
    existing = [child(0), child(149), child(0, default=True)]      # create_parent made today's and the default
    after = [child(d) for d in range(150)] + [child(0, default=True)]
    db = fake_db(existing, after)
    ctx = make_ctx(db, major=major)
    partitions.run(ctx, state_row(snapshot(buckets=buckets)))
    calls = [(t, p) for t, p in db.statements if 'create_partition_time' in t]
    assert [len(p[1]) for _t, p in calls] == [100, 48]             # PARTITION_CHUNK, the existing two left out
    assert calls[0][1][1][0] == DAY0 + datetime.timedelta(days=1)
    for text, args in calls:
        assert args[0] == 'public.fixes'
        assert ('"p_analyze" => %s::boolean' in text) == (major == 4)
        assert args[2:] == ([False] if major == 4 else [])
    texts = db.texts()
    assert texts.count('ALTER TABLE "public"."fixes_p20240101" OWNER TO "soar"') == 1
    assert 'GRANT SELECT ON "public"."fixes_default" TO "reader"' in texts
    registered = [p for t, p in db.statements if t.startswith('INSERT INTO "partman"."partman_migrate_partition"')]
    assert len(registered) == 150 and ('public.fixes', 'public.fixes_default') not in [r[:2] for r in registered]
    assert ctx.partitions_created[-1] == 'public.fixes_default'
