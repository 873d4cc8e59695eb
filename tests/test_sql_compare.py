"""Result comparison: every reason code, ORDER BY detection, multisets, NULLs, numbers,
column order; plus results produced by real SQLite queries."""

import sqlite3

import pytest

from fastdistill_tui.core.sql.compare import (
    CompareResult,
    compare_results,
    gold_is_ordered,
    normalize_value,
)
from fastdistill_tui.core.sql.execute import ExecResult, SqlExecutor


def result(rows, columns=None):
    width = len(rows[0]) if rows else 1
    return ExecResult(tuple(columns or [f"c{i}" for i in range(width)]), list(rows))


def failed(reason):
    return ExecResult((), [], error=reason, detail="x")


@pytest.mark.parametrize("sql, ordered", [
    ("SELECT a FROM t ORDER BY a", True),
    ("select a from t order by a desc limit 3", True),
    ("SELECT a FROM t", False),
    ("SELECT * FROM (SELECT a FROM t ORDER BY a)", False),
    ("WITH c AS (SELECT a FROM t ORDER BY a LIMIT 5) SELECT a FROM c", False),
    ("WITH c AS (SELECT a FROM t) SELECT a FROM c ORDER BY a", True),
    ("SELECT a FROM t WHERE a IN (SELECT b FROM u ORDER BY b LIMIT 1)", False),
    ("SELECT a FROM t UNION SELECT b FROM u ORDER BY 1", True),
    ("SELECT a FROM t UNION SELECT b FROM u", False),
    ("SELECT row_number() OVER (ORDER BY a) FROM t", False),
    ("SELECT 'ORDER BY x' FROM t", False),
    ("SELECT a FROM t -- ORDER BY a", False),
    # sqlglot cannot parse a column named "glob"; the token fallback still decides.
    ("SELECT glob FROM t ORDER BY glob", True),
    ("SELECT glob FROM (SELECT glob FROM t ORDER BY glob)", False),
])
def test_gold_is_ordered(sql, ordered):
    assert gold_is_ordered(sql) is ordered


def test_match_ignores_row_order_when_unordered():
    pred = result([(2, "b"), (1, "a")])
    gold = result([(1, "a"), (2, "b")])
    assert compare_results(pred, gold, ordered=False) == CompareResult(True, None)


def test_order_mismatch_when_ordered():
    pred = result([(2, "b"), (1, "a")])
    gold = result([(1, "a"), (2, "b")])
    assert compare_results(pred, gold, ordered=True) == CompareResult(False, "order_mismatch")
    assert compare_results(gold, gold, ordered=True) == CompareResult(True, None)


def test_duplicates_count():
    pred = result([(1,), (1,), (2,)])
    gold = result([(1,), (2,), (2,)])
    assert compare_results(pred, gold, ordered=False) == CompareResult(False, "value_mismatch")
    assert compare_results(pred, result([(2,), (1,), (1,)]), ordered=False).match


@pytest.mark.parametrize("pred, gold", [
    ([(1,)], [(1.0,)]),
    ([(None, 3)], [(None, 3.0)]),
    ([(b"abc",)], [("abc",)]),
    ([(True,)], [(1,)]),
    ([(0.1 + 0.2,)], [(0.3,)]),
    ([(1e12 + 0.5,)], [(1e12 + 0.5000001,)]),  # relative tolerance
    ([(0.3333333,)], [(1 / 3,)]),
])
def test_equal_values(pred, gold):
    assert compare_results(result(pred), result(gold), ordered=False).match


@pytest.mark.parametrize("pred, gold", [
    ([(None,)], [(0,)]),
    ([("1",)], [(1,)]),  # text is not a number
    ([(1.01,)], [(1.0,)]),
    ([(0.333,)], [(1 / 3,)]),
    ([("abc",)], [("ABC",)]),
])
def test_unequal_values(pred, gold):
    assert compare_results(result(pred), result(gold), ordered=False) == CompareResult(
        False, "value_mismatch")


def test_float_tolerance_is_explicit():
    pred, gold = result([(1.001,)]), result([(1.0,)])
    assert not compare_results(pred, gold, ordered=False).match
    assert compare_results(pred, gold, ordered=False, float_tol=1e-2).match


def test_near_floats_that_sort_differently_still_pair_up():
    # Sorted, pred pairs (1.0, "b") with gold (1.0, "a"): only a search finds the pairing.
    pred = result([(1.0, "b"), (1.0000001, "a")])
    gold = result([(1.0000001, "b"), (1.0, "a")])
    assert compare_results(pred, gold, ordered=False).match


@pytest.mark.parametrize("reason", ["exec_error", "timeout", "empty_sql", "denied",
                                    "multiple_statements"])
def test_prediction_errors_pass_through(reason):
    assert compare_results(failed(reason), result([(1,)]), ordered=False) == CompareResult(
        False, reason)


def test_gold_error():
    assert compare_results(result([(1,)]), failed("exec_error"), ordered=False) == CompareResult(
        False, "gold_error")


def test_col_count_and_row_count():
    assert compare_results(result([(1, 2)]), result([(1,)]), ordered=False).reason == "col_count"
    assert compare_results(result([(1,), (1,)]), result([(1,)]),
                           ordered=False).reason == "row_count"
    assert compare_results(result([]), result([(1,)]), ordered=False).reason == "row_count"


def test_a_truncated_result_never_matches():
    gold = result([(1,), (2,)])
    capped = ExecResult(gold.columns, list(gold.rows), truncated=True)
    assert compare_results(capped, gold, ordered=False) == CompareResult(False, "truncated")
    assert compare_results(gold, capped, ordered=False) == CompareResult(False, "truncated")
    # Both cut at the cap after the same first rows: what follows is unknown on both sides.
    assert compare_results(capped, capped, ordered=False) == CompareResult(False, "truncated")
    assert compare_results(capped, capped, ordered=True) == CompareResult(False, "truncated")


def test_empty_results_match():
    assert compare_results(result([], ["a"]), result([], ["b"]), ordered=True).match


def test_column_order_strict_vs_ignore():
    pred = result([("a", 1), ("b", 2), ("b", 3)], ["name", "n"])
    gold = result([(1, "a"), (2, "b"), (3, "b")], ["n", "name"])
    assert compare_results(pred, gold, ordered=False).reason == "value_mismatch"
    assert compare_results(pred, gold, ordered=False, column_order="ignore").match
    # Same columns permuted, wrong row order: the permutation is found, order still checked.
    reordered = result([("b", 3), ("a", 1), ("b", 2)])
    assert compare_results(reordered, gold, ordered=True,
                           column_order="ignore").reason == "order_mismatch"
    # No permutation fits.
    other = result([("a", 1), ("b", 2), ("b", 4)])
    assert compare_results(other, gold, ordered=False,
                           column_order="ignore").reason == "value_mismatch"


def test_column_order_ignore_with_identical_column_signatures():
    # Columns 0 and 1 hold the same values, so the signature cannot tell them apart:
    # the search must try both assignments.
    pred = result([(2, 1, "x"), (1, 2, "y")])
    gold = result([(1, 2, "x"), (2, 1, "y")])
    assert compare_results(pred, gold, ordered=False).reason == "value_mismatch"
    assert compare_results(pred, gold, ordered=False, column_order="ignore").match


def test_column_order_ignore_many_columns_is_fast():
    width, rows = 12, 2000
    gold = result([tuple(r * width + c for c in range(width)) for r in range(rows)])
    pred = result([tuple(reversed(row)) for row in gold.rows])
    assert compare_results(pred, gold, ordered=True, column_order="ignore").match


def test_unknown_column_order_policy_is_an_error():
    with pytest.raises(ValueError):
        compare_results(result([(1,)]), result([(1,)]), ordered=False, column_order="loose")


def test_normalize_value():
    assert normalize_value(2.0) == 2 and isinstance(normalize_value(2.0), int)
    assert normalize_value(2.5) == 2.5
    assert normalize_value(False) == 0
    assert normalize_value(b"\xffok") == "\ufffdok"
    assert normalize_value(None) is None
    assert normalize_value("x") == "x"


def test_results_of_real_queries(tmp_path):
    db = tmp_path / "shop.sqlite"
    conn = sqlite3.connect(db)
    conn.executescript("""
        CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT, price REAL, qty INT);
        INSERT INTO item VALUES (1, 'pen', 1.5, 10), (2, 'ink', 3.0, NULL),
                                (3, 'pad', 2.25, 10), (4, 'pen', 1.5, 3);
    """)
    conn.commit()
    conn.close()
    executor = SqlExecutor(timeout_s=2.0)

    def run(sql):
        return executor.execute(str(db), sql)

    def same(pred_sql, gold_sql, **kwargs):
        return compare_results(run(pred_sql), run(gold_sql), ordered=gold_is_ordered(gold_sql),
                               **kwargs)

    try:
        assert same("SELECT name FROM item WHERE qty = 10",
                    "SELECT name FROM item WHERE qty >= 10").match
        assert same("SELECT sum(qty) FROM item", "SELECT 23.0").match  # 23 == 23.0
        assert same("SELECT qty FROM item WHERE name = 'ink'", "SELECT NULL").match
        assert same("SELECT avg(price) FROM item", "SELECT 8.25 / 4").match
        assert same("SELECT name FROM item ORDER BY price DESC",
                    "SELECT name FROM item ORDER BY price").reason == "order_mismatch"
        assert same("SELECT name FROM item",
                    "SELECT DISTINCT name FROM item").reason == "row_count"
        assert same("SELECT name, price FROM item", "SELECT price, name FROM item",
                    column_order="ignore").match
        assert same("SELECT nme FROM item", "SELECT name FROM item").reason == "exec_error"
    finally:
        executor.close()


def test_duplicates_set_ignores_repeated_rows_of_real_queries(tmp_path):
    """A gold over a denormalised table repeats rows (7× 'missouri'); duplicates="set" lets an
    answer with DISTINCT match it, "bag" (the default) does not; different rows still differ."""
    db = tmp_path / "geo.sqlite"
    conn = sqlite3.connect(db)
    conn.executescript("""
        CREATE TABLE river (river_name TEXT, traverse TEXT);
        INSERT INTO river VALUES ('missouri', 'montana'), ('missouri', 'iowa'),
                                 ('missouri', 'kansas'), ('ohio', 'ohio');
    """)
    conn.commit()
    conn.close()
    executor = SqlExecutor(timeout_s=2.0)
    try:
        gold = executor.execute(str(db), "SELECT river_name FROM river WHERE river_name = "
                                         "'missouri'")
        pred = executor.execute(str(db), "SELECT DISTINCT river_name FROM river WHERE "
                                         "river_name = 'missouri'")
        other = executor.execute(str(db), "SELECT DISTINCT river_name FROM river")
        ordered = executor.execute(str(db), "SELECT DISTINCT river_name FROM river "
                                            "ORDER BY river_name DESC")
        all_rows = executor.execute(str(db), "SELECT river_name FROM river ORDER BY 1")
    finally:
        executor.close()
    assert compare_results(pred, gold, ordered=False).reason == "row_count"
    assert compare_results(pred, gold, ordered=False, duplicates="set").match
    assert compare_results(other, gold, ordered=False, duplicates="set").reason == "row_count"
    assert compare_results(ordered, all_rows, ordered=True,
                           duplicates="set").reason == "order_mismatch"
    with pytest.raises(ValueError, match="duplicates"):
        compare_results(pred, gold, ordered=False, duplicates="multiset")
