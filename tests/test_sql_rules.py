"""check_rules: one test table per reason code, plus queries that must pass."""

import pytest

from fastdistill_tui.core.sql.canonical import canonical_sql, sql_fingerprint
from fastdistill_tui.core.sql.rules import check_rules


@pytest.mark.parametrize("sql", [
    "SELECT name FROM singer",
    "select count(*) from sänger where land = 'France'",
    "WITH c AS (SELECT a FROM t) SELECT * FROM c",
    "SELECT a FROM t UNION SELECT b FROM u ORDER BY 1",
    "SELECT a FROM t;",
    "SELECT a FROM t; -- trailing comment",
    "SELECT 'x; DROP TABLE t' FROM t",
])
def test_accepts_read_only_queries(sql):
    assert check_rules(sql) is None


@pytest.mark.parametrize("sql, reason", [
    ("", "empty_sql"),
    ("   ", "empty_sql"),
    (" ; ;", "empty_sql"),
    ("-- only a comment", "empty_sql"),
    ("SELECT", "too_short"),
    ("SELECT a FROM t WHERE b IN (" + ", ".join(["1"] * 3000) + ")", "too_long"),
    ("SELECT a FROM t; SELECT b FROM u", "multiple_statements"),
    ("SELECT a FROM t; DROP TABLE t", "multiple_statements"),
    ("DROP TABLE singer", "not_select"),
    ("DELETE FROM singer WHERE 1", "not_select"),
    ("UPDATE singer SET age = 1", "not_select"),
    ("INSERT INTO singer VALUES (1)", "not_select"),
    ("PRAGMA journal_mode = WAL", "not_select"),
    ("ATTACH DATABASE 'x.db' AS x", "not_select"),
    ("CREATE TABLE x (a INT)", "not_select"),
    ("WITH c AS (SELECT 1) DELETE FROM singer", "not_select"),
    ("WITH c AS (SELECT 1) INSERT INTO singer SELECT * FROM c", "not_select"),
    ("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", "not_select"),
    ("SELEC name FROM singer", "parse_error"),
    ("SELECT name FROM singer WHERE", "parse_error"),
    ("SELECT alter FROM sänger", "parse_error"),  # SQLite rejects the keyword too
    ("VACUUM INTO 'copy.db'", "parse_error"),  # sqlglot: exp.Command
    ("REPLACE INTO singer VALUES (1)", "parse_error"),  # sqlglot: exp.Command
])
def test_reason_codes(sql, reason):
    assert check_rules(sql) == reason


def test_length_limits_are_configurable():
    assert check_rules("SELECT 1", min_chars=9) == "too_short"
    assert check_rules("SELECT 1", min_chars=8) is None
    assert check_rules("SELECT a FROM t", max_chars=10) == "too_long"


def test_canonical_sql_normalises_case_and_spacing():
    a = canonical_sql("select  Name\nFROM   Singer  where AGE>3")
    b = canonical_sql("SELECT name FROM singer WHERE age > 3")
    assert a == b == "SELECT name FROM singer WHERE age > 3"
    assert sql_fingerprint("select  Name FROM Singer") == sql_fingerprint("SELECT name FROM singer")
    assert sql_fingerprint("SELECT name FROM singer") != sql_fingerprint("SELECT age FROM singer")


def test_canonical_sql_is_none_when_it_does_not_parse():
    assert canonical_sql("SELECT name FROM singer WHERE") is None
    assert canonical_sql("VACUUM") is None  # exp.Command
    # Unparseable SQL still gets a stable fingerprint of its stripped text.
    assert sql_fingerprint("  SELECT a FROM WHERE ") == sql_fingerprint("SELECT a FROM WHERE")
    assert len(sql_fingerprint("SELECT a FROM WHERE")) == 64


def test_rule_verdict_returns_the_tree_its_fingerprint_matches():
    from fastdistill_tui.core.sql.canonical import sql_fingerprint
    from fastdistill_tui.core.sql.rules import rule_verdict

    sql = "SELECT Name FROM Singer WHERE Age > 20"
    reason, tree = rule_verdict(sql)
    assert reason is None and tree is not None
    assert sql_fingerprint(sql, tree) == sql_fingerprint(sql)
    assert rule_verdict("DELETE FROM singer") == ("not_select", None)
