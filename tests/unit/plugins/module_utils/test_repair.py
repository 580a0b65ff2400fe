# -*- coding: utf-8 -*-
"""repair.py: the parts that need no database."""

from ansible_collections.soar.partman.plugins.module_utils import repair


def test_repair_helpers():
    assert repair.bucket_unit("1 day") == "day"
    assert repair.bucket_unit("1 mon") == "month"
    assert repair.bucket_unit("2 days") is None
    cols = [{"name": "id", "generated": False, "identity": ""},
            {"name": "location", "generated": True, "identity": ""},
            {"name": "n", "generated": False, "identity": "a"}]
    assert repair.ignored_columns(cols) == ["location"]
    assert repair.identity_always(cols) == ["n"]


def test_scheduled_call_per_major_and_options():
    four = repair.scheduled_call('partman', '4.7.2', analyze=False, self_heal=True, max_batches=7, lock_wait=5,
                                 lock_timeout=3, retry_seconds=90)
    five = repair.scheduled_call('partman', '5.2.4', self_heal=False)
    assert four.startswith('DO $soar_partman$') and four.endswith('$soar_partman$')
    assert '@' not in four.replace('$soar_partman$', '')  # every placeholder filled
    # 4.x create_partition_time analyzes by default: off; 5.x has no such argument.
    assert 'p_partition_times := missing, p_analyze := false)' in four
    assert 'p_partition_times := missing)' in five
    assert "IF batches >= 7 THEN" in four and "p_lock_wait := 5" in four
    assert "set_config('lock_timeout', '3s', false)" in four and 'make_interval(secs => 90)' in four
    assert "automatic_maintenance = 'on' AND true" in four and "automatic_maintenance = 'on' AND false" in five
    # Generated columns are left out, and a batch is checked before its commit.
    assert "attgenerated <> ''" in four and 'p_ignored_columns := ignored' in four
    assert four.index('child_rows <> moved') < four.index('COMMIT;')
    # Writers of the default wait for the batch, from before the rows are read until its commit.
    assert four.index("IN SHARE ROW EXCLUSIVE MODE', ref") < four.index("LOCK TABLE %s IN EXCLUSIVE MODE', dflt") \
        < four.index('SELECT max(%I)::text FROM ONLY') \
        < four.index('partition_data_time(')
    # Every lock retry also takes pg_partman 4.x's re-raised lock errors (P0001 with the message):
    # tests/integration_local/test_scheduled_lock_retry.py runs it against a real lock.
    assert four.count("(SQLSTATE = 'P0001' AND SQLERRM ~ '(deadlock detected|due to lock timeout|") == 4
    assert four.count('OR raise_exception THEN') == 3 and 'IF NOT (SQLSTATE IN' in four


def test_scheduled_call_quotes_the_schema_and_picks_a_free_dollar_quote():
    text = repair.scheduled_call('odd"$soar_partman$', '5.2.4')
    assert text.startswith('DO $soar_partman_1$') and text.endswith('$soar_partman_1$')
    assert '"odd""$soar_partman$".part_config' in text


def test_scheduled_call_refuses_negative_values():
    import pytest
    with pytest.raises(repair.RepairError, match='max_batches is -1'):
        repair.scheduled_call('partman', '5.2.4', max_batches=-1)
