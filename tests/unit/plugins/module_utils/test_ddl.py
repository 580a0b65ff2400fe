# -*- coding: utf-8 -*-
"""ddl.py: rewriting pg_get_*def() text, and the statement builders."""

import pytest

from ansible_collections.soar.partman.plugins.module_utils import ddl
from ansible_collections.soar.partman.plugins.module_utils import names as nm


def test_split_and_widen_index_def():
    unique, tail = ddl.split_index_def(
        'CREATE UNIQUE INDEX fixes_dev_key ON public.fixes USING btree (device_id, seq) WHERE (seq > 0)',
        'fixes_dev_key', 'public', 'fixes')
    assert unique is True
    assert tail == ' USING btree (device_id, seq) WHERE (seq > 0)'
    assert ddl.widen_index_tail(tail, 'received_at') == ' USING btree (device_id, seq, received_at) WHERE (seq > 0)'


def test_split_index_def_quoted_and_expressions():
    unique, tail = ddl.split_index_def(
        'CREATE INDEX "Odd Idx" ON "My Schema"."Fixes" USING gist (st_buffer(location, (1)::double precision))',
        'Odd Idx', 'My Schema', 'Fixes')
    assert not unique
    assert ddl.index_tail_columns(tail) == 'st_buffer(location, (1)::double precision)'
    with pytest.raises(nm.PlanError):
        ddl.split_index_def('CREATE INDEX x ON public.other USING btree (a)', 'x', 'public', 'fixes')


def test_widen_index_tail_with_include_and_strings():
    tail = " USING btree (lower((name)::text), \"a)b\") INCLUDE (c) WHERE (note <> ')'::text)"
    assert ddl.widen_index_tail(tail, 'received_at') == (
        " USING btree (lower((name)::text), \"a)b\", received_at) INCLUDE (c) WHERE (note <> ')'::text)")


def test_widen_columns_and_description():
    assert ddl.widen_columns(['id'], 'received_at') == ['id', 'received_at']
    assert ddl.widen_columns(['id', 'received_at'], 'received_at') == ['id', 'received_at']
    assert ddl.describe_key_change('PRIMARY KEY', ['id'], ['id', 'received_at']) == \
        'PRIMARY KEY (id) -> (id, received_at)'


def test_describe_inbound_fks():
    fks = [{'name': 'fix_annotations_fix_id_fkey', 'table': 'public.fix_annotations', 'referenced_columns': ['id']},
           {'name': 'b_fkey', 'table': 'public.b', 'referenced_columns': ['id', 'seq']}]
    assert ddl.describe_inbound_fks(fks, 'public.fixes') == (
        'fix_annotations_fix_id_fkey on public.fix_annotations (references public.fixes (id)); '
        'b_fkey on public.b (references public.fixes (id, seq))')


def test_retarget_trigger_def():
    d = 'CREATE TRIGGER t BEFORE INSERT ON public.fixes FOR EACH ROW EXECUTE FUNCTION f()'
    assert ddl.retarget_trigger_def(d, 'public', 'fixes', 'public', 'fixes_new') == \
        'CREATE TRIGGER t BEFORE INSERT ON public.fixes_new FOR EACH ROW EXECUTE FUNCTION f()'
