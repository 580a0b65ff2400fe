"""The pure parts of check_writer_log.py: the row text over an explicit column list, the counting
query, the column comparison, the verdict and its command line."""

import pytest

from soar_writer_files import load

checker = load('check_writer_log')


def test_row_expression_quotes_every_column_in_order():
    assert checker.row_expression(['id', 'timestamp', 'we"ird']) == 'ROW(t."id", t."timestamp", t."we""ird")::text'


def test_count_query_counts_each_category():
    sql = checker.count_query('soar_check_found', checker.LOG_CATEGORIES)
    assert sql.count('count(*) FILTER') == 4
    for dummy, cond in checker.LOG_CATEGORIES:
        assert '(WHERE %s)' % cond in sql


def test_column_differences():
    got = checker.column_differences(['id', 'a', 'b'], ['id', 'b', 'c'])
    assert got == {'columns_only_in_table': ['a'], 'columns_only_in_compare': ['c']}
    assert not any(checker.column_differences(['id', 'a'], ['a', 'id']).values())


def test_mismatches_count_compare_only_when_compared():
    report = {'missing': 1, 'doubled': 0, 'stale': 2, 'resurrected': 0, 'different': 5, 'expected_present': 100}
    assert checker.mismatches(report) == 3
    report['compare_table'] = 'public.fixes_old'
    report.update({'only_in_table': 1, 'only_in_compare': 0, 'doubled_in_table': 0, 'doubled_in_compare': 0})
    assert checker.mismatches(report) == 9


def test_command_line_defaults():
    args = checker.parse_args(['--dbname', 'soar'])
    assert (args.table, args.compare_table, args.log_table) == ('fixes', '', 'soar_writer_log')


def test_command_line_needs_a_database():
    with pytest.raises(SystemExit):
        checker.parse_args(['--table', 'fixes'])
