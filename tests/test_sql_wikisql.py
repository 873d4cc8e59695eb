"""WikiSQL's official metrics on a WikiSQL-style table this test writes (lowercased text, as
in the official .db files)."""

import sqlite3

import pytest

from fastdistill_tui.core.datasets import wikisql as dataset_wikisql
from fastdistill_tui.core.sql.wikisql import (
    AGG_OPS,
    COND_OPS,
    execute_logical_form,
    execution_match,
    logical_form_match,
    parse_number,
    sql_to_logical_form,
    to_real,
)

TABLE = "table_1_10015132_11"
COLUMNS = ["Player", "No.", "Nationality", "Position", "Years in Toronto", "School/Club Team"]
ROWS = [
    ("aleksandar radojević", 25.0, "serbia", "center", "1999-2000", "barton cc (ks)"),
    ("shawn respert", 31.0, "united states", "guard", "1997-98", "michigan state"),
    ("quentin richardson", 14.0, "united states", "forward", "2013-present", "depaul"),
    ("alvin robertson", 7.0, "united states", "guard", "1995-96", "arkansas"),
    ("carlos rogers", 34.0, "united states", "forward-center", "1995-98", "tennessee state"),
]


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "wikisql.db"
    conn = sqlite3.connect(path)
    types = ["text", "real", "text", "text", "text", "text"]
    columns = ", ".join(f'"{c}" {t}' for c, t in zip(COLUMNS, types))
    conn.execute(f"CREATE TABLE {TABLE} ({columns})")
    conn.executemany(f"INSERT INTO {TABLE} VALUES (?, ?, ?, ?, ?, ?)", ROWS)
    conn.commit()
    conn.close()
    return str(path)


def lf(sel, agg=0, conds=()):
    return {"sel": sel, "agg": agg, "conds": [list(c) for c in conds]}


def test_operator_tables_are_the_official_ones_and_the_only_ones():
    assert AGG_OPS == ("", "MAX", "MIN", "COUNT", "SUM", "AVG")
    assert COND_OPS == ("=", ">", "<", "OP")
    assert dataset_wikisql.AGG_OPS is AGG_OPS and dataset_wikisql.COND_OPS is COND_OPS
    assert dataset_wikisql.parse_number is parse_number


def test_logical_form_match():
    gold = lf(0, 0, [(3, 0, "Guard"), (1, 1, 10)])
    assert logical_form_match(lf(0, 0, [(1, 1, "10"), (3, 0, "guard")]), gold)  # order, case
    assert not logical_form_match(lf(2, 0, [(3, 0, "guard"), (1, 1, 10)]), gold)  # sel
    assert not logical_form_match(lf(0, 3, [(3, 0, "guard"), (1, 1, 10)]), gold)  # agg
    assert not logical_form_match(lf(0, 0, [(3, 0, "guard"), (1, 2, 10)]), gold)  # op
    assert not logical_form_match(lf(0, 0, [(3, 0, "center"), (1, 1, 10)]), gold)  # value
    assert not logical_form_match(lf(0, 0, [(3, 0, "guard")]), gold)  # missing condition


def test_execute_logical_form(db):
    assert execute_logical_form(db, TABLE, COLUMNS, lf(0, 0, [(3, 0, "Guard")])) == [
        "shawn respert", "alvin robertson"]
    # Lowercasing is what makes "Guard" find "guard"; without it nothing matches.
    assert execute_logical_form(db, TABLE, COLUMNS, lf(0, 0, [(3, 0, "Guard")]),
                                lower=False) == []
    assert execute_logical_form(db, TABLE, COLUMNS, lf(0, 3, [(2, 0, "United States")])) == [4]
    assert execute_logical_form(db, TABLE, COLUMNS, lf(1, 1)) == [34.0]
    assert execute_logical_form(db, TABLE, COLUMNS, lf(1, 5, [(3, 0, "guard")])) == [19.0]


def test_values_for_real_columns_become_floats(db):
    # The official engine takes the first number in messy text; compared as text, "no. 30"
    # would be greater than every number in SQLite and nothing would match.
    messy = lf(0, 0, [(1, 0, "no. 25 (retired)")])
    above = lf(0, 3, [(1, 1, "no. 30")])
    assert execute_logical_form(db, TABLE, COLUMNS, messy) == ["aleksandar radojević"]
    assert execute_logical_form(db, TABLE, COLUMNS, above) == [2]
    assert execute_logical_form(db, TABLE, COLUMNS, lf(0, 3, [(1, 1, "1,000")])) == [0]
    with pytest.raises(ValueError):
        execute_logical_form(db, TABLE, COLUMNS, lf(0, 0, [(1, 0, "twenty")]))


def test_two_conditions_on_one_column_keep_their_values(db):
    between = lf(0, 0, [(1, 1, 10), (1, 2, 30)])
    assert execute_logical_form(db, TABLE, COLUMNS, between) == ["aleksandar radojević",
                                                                  "quentin richardson"]


def test_execution_match(db):
    gold = lf(0, 0, [(3, 0, "guard")])
    # A different logical form with the same result: execution accuracy yes, logical form no.
    same_rows = lf(0, 0, [(3, 0, "guard"), (2, 0, "united states")])
    assert execution_match(db, TABLE, COLUMNS, same_rows, gold)
    assert not logical_form_match(same_rows, gold)
    assert not execution_match(db, TABLE, COLUMNS, lf(0, 0, [(3, 0, "center")]), gold)
    assert not execution_match(db, TABLE, COLUMNS, lf(9), gold)  # no such column: a miss
    conn = sqlite3.connect(db)
    try:
        assert execution_match(conn, TABLE, COLUMNS, gold, gold)  # an open connection works
    finally:
        conn.close()


@pytest.mark.parametrize("sql, expected", [
    ('SELECT "Player" FROM t WHERE "Position" = \'guard\'', lf(0, 0, [(3, 0, "guard")])),
    ("select player from t where position = 'Guard' and \"No.\" > 10",
     lf(0, 0, [(3, 0, "Guard"), (1, 1, 10)])),
    ('SELECT COUNT("School/Club Team") FROM t WHERE "No." < 12.5',
     lf(5, 3, [(1, 2, 12.5)])),
    ('SELECT MAX("No.") AS top FROM t', lf(1, 1)),
    ('SELECT AVG("No.") FROM t WHERE 10 < "No."', lf(1, 5, [(1, 1, 10)])),  # flipped
    ('SELECT Player FROM t WHERE "No." > -3', lf(0, 0, [(1, 1, -3)])),
])
def test_sql_to_logical_form(sql, expected):
    assert sql_to_logical_form(sql, COLUMNS) == expected


@pytest.mark.parametrize("sql", [
    "SELECT Player, Position FROM t",  # two columns
    "SELECT COUNT(*) FROM t",
    "SELECT Player FROM t WHERE Position = 'guard' OR Position = 'center'",
    "SELECT Player FROM t WHERE \"No.\" >= 10",
    "SELECT Player FROM t ORDER BY \"No.\"",
    "SELECT Player FROM t GROUP BY Position",
    "SELECT Player FROM t LIMIT 1",
    "SELECT DISTINCT Player FROM t",
    "SELECT a.Player FROM t AS a JOIN u AS b ON a.Player = b.Player",
    "SELECT Coach FROM t",  # unknown column
    "SELECT Player FROM t WHERE Position = Nationality",
    "SELECT Player FROM (SELECT * FROM t)",
    "SELECT Player FROM t WHERE",
    "DELETE FROM t",
])
def test_sql_outside_the_wikisql_grammar(sql):
    assert sql_to_logical_form(sql, COLUMNS) is None


def test_teacher_sql_scored_by_both_metrics(db):
    gold = lf(0, 0, [(3, 0, "forward"), (2, 0, "united states")])
    teacher_sql = ("SELECT Player FROM table_1_10015132_11 "
                   "WHERE Nationality = 'United States' AND Position = 'Forward'")
    pred = sql_to_logical_form(teacher_sql, COLUMNS)
    assert logical_form_match(pred, gold)
    assert execution_match(db, TABLE, COLUMNS, pred, gold)


def test_one_number_parser():
    assert parse_number("1\u00a0000") == parse_number("1,000") == 1000
    assert parse_number(" 1\u202f000 ") == 1000
    assert parse_number(33) == 33.0 and parse_number("-2.5e3") == -2500.0
    for not_a_number in ("nan", "inf", "1_000", "n/a", "", True, None):
        assert parse_number(not_a_number) is None
    assert to_real("1\u00a0000") == 1000.0  # was 1.0: the first number of "1 000"
    assert to_real("about 5000 people") == 5000.0
    assert to_real("twenty") is None
    # The gold SQL the loader renders and the logical form's execution agree on the value.
    assert dataset_wikisql.render_value("1\u00a0000", "real") == "1000"


def test_logical_form_values_with_no_break_spaces(db):
    assert execute_logical_form(db, TABLE, COLUMNS, lf(0, 3, [(1, 1, "1\u00a0000")])) == [0]
    assert execute_logical_form(db, TABLE, COLUMNS, lf(0, 3, [(1, 2, "1\u00a0000")])) == [5]


@pytest.mark.parametrize("sql, expected", [
    # SQLite reads a double-quoted word that names no column as a string.
    ('SELECT Player FROM t WHERE Nationality = "united states"',
     lf(0, 0, [(2, 0, "united states")])),
    ("SELECT Player FROM t WHERE \"guard\" = Position", lf(0, 0, [(3, 0, "guard")])),
    ('SELECT Player FROM t WHERE "Position" = "Nationality"', None),  # two columns
])
def test_double_quoted_strings(sql, expected):
    assert sql_to_logical_form(sql, COLUMNS) == expected
