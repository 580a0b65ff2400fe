import pytest

from ansible_collections.soar.partman.plugins.module_utils.gucs import GucParseError, parse_library_list


@pytest.mark.parametrize("text, expected", [
    (None, []),
    ("", []),
    ("pg_stat_statements", ["pg_stat_statements"]),
    ("pg_stat_statements,pg_cron", ["pg_stat_statements", "pg_cron"]),
    (" pg_stat_statements , pg_cron ", ["pg_stat_statements", "pg_cron"]),
    ('"pg_stat_statements", "$libdir/plugins/x"', ["pg_stat_statements", "$libdir/plugins/x"]),
    ('"with ""quote""", auto_explain', ['with "quote"', "auto_explain"]),
    ('"with, comma"', ["with, comma"]),
])
def test_parse_library_list(text, expected):
    assert parse_library_list(text) == expected


@pytest.mark.parametrize("text", [
    'pg_stat_statements, "pg_cron',
    "pg_stat_statements,,pg_cron",
    "pg_stat_statements,",
    "pg_stat_statements pg_cron",
    'pg_"cron"',
])
def test_parse_library_list_rejects(text):
    with pytest.raises(GucParseError):
        parse_library_list(text)
