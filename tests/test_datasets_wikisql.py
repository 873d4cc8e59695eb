"""WikiSQL loader: the built SQLite file, gold SQL with the official semantics, caching."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from dataset_helpers import CITIES_TABLE, PLAYERS_TABLE, wikisql_row, write_jsonl, write_wikisql

from fastdistill_tui.core.datasets.registry import open_dataset
from fastdistill_tui.core.datasets.wikisql import column_names, render_value
from fastdistill_tui.core.errors import InputError
from fastdistill_tui.core.config import EvalConfig
from fastdistill_tui.core.sql import unicode_case
from fastdistill_tui.core.sql.evaluator import Evaluator
from fastdistill_tui.core.sql.execute import SqlExecutor
from fastdistill_tui.core.sql.wikisql import execution_match, sql_to_logical_form

PLAYERS = "1-10015132-11"
CITIES = "2-555-1"


def run(example, sql=None):
    conn = sqlite3.connect(f"file:{example.db_path}?mode=ro", uri=True)
    unicode_case.install(conn)  # the tables' text columns use its collation
    try:
        return conn.execute(sql or example.gold_sql).fetchall()
    finally:
        conn.close()


def load(tmp_path, rows, split="train"):
    root = write_wikisql(tmp_path / "wikisql", {split: rows})
    dataset = open_dataset(f"wikisql:{root}", cache_dir=tmp_path / "cache")
    return dataset, list(dataset.iter_examples(split))


def test_headers_become_unique_column_names():
    assert column_names(["Player", "No.", "Points", "points", "", "  Years   in  Toronto "]) == (
        "Player", "No.", "Points", "points_3", "col_4", "Years in Toronto")


def test_example_fields_and_schema(tmp_path):
    dataset, [example] = load(tmp_path, [wikisql_row(PLAYERS, "Who is number 25?", 0, 0,
                                                     [[1, 0, "25"]])])
    assert dataset.kind == "wikisql"
    assert example.task_id == "text2sql"
    assert example.source == f"{dataset.path / 'train.jsonl'}:1"
    assert Path(example.db_path).is_absolute() and Path(example.db_path).is_file()
    assert example.schema.db_id == PLAYERS
    [table] = example.schema.tables
    assert table.name == "table_1_10015132_11"
    assert [(c.name, c.type) for c in table.columns] == [
        ("Player", "text"), ("No.", "real"), ("Nationality", "text"), ("Position", "text"),
        ("Years in Toronto", "text"), ("Points", "real"), ("Points_6", "real"),
        ("col_7", "text")]
    assert example.extra == {"columns": [c.name for c in table.columns],
                             "table": "table_1_10015132_11"}
    assert example.logical_form == {"sel": 0, "agg": 0, "conds": [[1, 0, "25"]]}
    assert example.gold_sql == 'SELECT Player FROM table_1_10015132_11 WHERE "No." = 25'
    assert run(example) == [("Aleksandar Radojević",)]


# (logical form, gold SQL, hand-computed result) on PLAYERS_TABLE / CITIES_TABLE
GOLD_CASES = [
    (PLAYERS, 0, 0, [[2, 0, "United States"]],
     "SELECT Player FROM table_1_10015132_11 WHERE Nationality = 'united states'",
     [("Shawn Respert",), ("Quentin Richardson",), ("Alvin Robertson",), ("Carlos Rogers",)]),
    (PLAYERS, 0, 3, [[3, 0, "Guard"]],
     "SELECT COUNT(Player) FROM table_1_10015132_11 WHERE Position = 'guard'", [(2,)]),
    # "n/a" points are NULL, "1,204" is 1204: 2031 + 955 + 310.5
    (PLAYERS, 5, 4, [[2, 0, "united states"]],
     "SELECT SUM(Points) FROM table_1_10015132_11 WHERE Nationality = 'united states'",
     [(3296.5,)]),
    (PLAYERS, 5, 1, [[5, 1, "1,000"]],
     "SELECT MAX(Points) FROM table_1_10015132_11 WHERE Points > 1000", [(2031.0,)]),
    (PLAYERS, 6, 5, [[3, 0, "Forward"]],
     "SELECT AVG(Points_6) FROM table_1_10015132_11 WHERE Position = 'forward'", [(2.0,)]),
    # "N/A" and "7, 21" numbers are NULL, so only Carlos Rogers (33) counts
    (PLAYERS, 1, 2, [[5, 2, 1000]],
     'SELECT MIN("No.") FROM table_1_10015132_11 WHERE Points < 1000', [(33.0,)]),
    (PLAYERS, 4, 0, [[0, 0, "Alvin Robertson"], [3, 0, "Guard"]],
     'SELECT "Years in Toronto" FROM table_1_10015132_11 WHERE Player = \'alvin robertson\' '
     "AND Position = 'guard'", [("1995-96",)]),
    (CITIES, 2, 0, [[0, 0, "O'Fallon"]],
     "SELECT Population FROM table_2_555_1 WHERE City = 'o''fallon'", [(12000.0,)]),
    # official lib: a real column compares the first number of an unparseable string
    (CITIES, 0, 3, [[2, 0, "about 5000 people"], [1, 0, "Lemuria"]],
     "SELECT COUNT(City) FROM table_2_555_1 WHERE Population = 5000 AND Country = 'lemuria'",
     [(1,)]),
    (CITIES, 0, 0, [[2, 1, 10000], [2, 2, "1,000,000"]],
     "SELECT City FROM table_2_555_1 WHERE Population > 10000 AND Population < 1000000",
     [("O'Fallon",)]),
]


@pytest.mark.parametrize("table_id,sel,agg,conds,sql,expected", GOLD_CASES)
def test_gold_sql_official_semantics(tmp_path, table_id, sel, agg, conds, sql, expected):
    _, [example] = load(tmp_path, [wikisql_row(table_id, "q?", sel, agg, conds)])
    assert example.gold_sql == sql
    assert run(example) == expected


def test_render_value():
    assert render_value("1,234.5", "real") == "1234.5"
    assert render_value(7, "text") == "'7'"
    assert render_value("It's", "text") == "'it''s'"
    assert render_value("no digits", "real") == "'no digits'"


def test_text_columns_are_nocase_and_numbers_real(tmp_path):
    _, [example] = load(tmp_path, [wikisql_row(PLAYERS, "q?", 0)])
    table = example.extra["table"]
    assert run(example, f"SELECT COUNT(*) FROM {table} WHERE Player = 'SHAWN RESPERT'") == [(1,)]
    assert run(example, f"SELECT typeof(Points), Points FROM {table} ORDER BY rowid") == [
        ("real", 1204.0), ("real", 2031.0), ("real", 955.0), ("null", None), ("real", 310.5)]


def test_splits_and_defaults(tmp_path):
    rows = [wikisql_row(PLAYERS, "q?", 0)]
    root = write_wikisql(tmp_path / "w", {"train": rows, "test": rows, "dev": rows * 3})
    dataset = open_dataset(f"wikisql:{root}", cache_dir=tmp_path / "cache")
    assert dataset.splits() == ["dev", "test", "train"]
    assert (dataset.default_split, dataset.default_eval_split) == ("train", "dev")
    assert dataset.count("dev") == 3
    (root / "dev.jsonl").unlink()
    dataset = open_dataset(f"wikisql:{root}", cache_dir=tmp_path / "cache")
    assert dataset.default_eval_split == "test"


def test_official_db_is_passed_on_when_present(tmp_path):
    root = write_wikisql(tmp_path / "w", {"dev": [wikisql_row(PLAYERS, "q?", 0)]})
    (root / "dev.db").write_bytes(b"")
    dataset = open_dataset(f"wikisql:{root}", cache_dir=tmp_path / "cache")
    [example] = dataset.iter_examples("dev")
    assert example.extra["official_db"] == str(root / "dev.db")


def test_database_is_cached_by_content_and_rebuilt_on_change(tmp_path):
    root = write_wikisql(tmp_path / "w", {"train": [wikisql_row(CITIES, "q?", 0)]})
    cache = tmp_path / "cache"
    [first] = open_dataset(f"wikisql:{root}", cache_dir=cache).iter_examples("train")
    mtime = Path(first.db_path).stat().st_mtime_ns
    [again] = open_dataset(f"wikisql:{root}", cache_dir=cache).iter_examples("train")
    assert again.db_path == first.db_path
    assert Path(again.db_path).stat().st_mtime_ns == mtime  # not rebuilt

    changed = dict(CITIES_TABLE, rows=CITIES_TABLE["rows"] + [["Yorkton", "Mu", 9]])
    write_jsonl(root / "train.tables.jsonl", [PLAYERS_TABLE, changed])
    [rebuilt] = open_dataset(f"wikisql:{root}", cache_dir=cache).iter_examples("train")
    assert rebuilt.db_path != first.db_path
    assert run(rebuilt, "SELECT COUNT(*) FROM table_2_555_1") == [(4,)]


def test_failed_build_leaves_nothing_in_the_cache(tmp_path):
    broken = dict(CITIES_TABLE, rows=[["only two", "cells"]])
    root = write_wikisql(tmp_path / "w", {"train": [wikisql_row(CITIES, "q?", 0)]},
                         tables=[PLAYERS_TABLE, broken])
    cache = tmp_path / "cache"
    dataset = open_dataset(f"wikisql:{root}", cache_dir=cache)
    with pytest.raises(InputError) as caught:
        list(dataset.iter_examples("train"))
    assert caught.value.line == 2 and caught.value.field == "rows[0]"
    assert [p for p in cache.rglob("*") if p.is_file()] == []


def test_streams_rows_without_reading_ahead(tmp_path):
    """A bad row late in the file is only reached after earlier rows were yielded."""
    rows = [wikisql_row(CITIES, f"q{i}?", 0) for i in range(50)] + ["not an object"]
    root = write_wikisql(tmp_path / "w", {"train": rows})
    examples = open_dataset(f"wikisql:{root}", cache_dir=tmp_path / "c").iter_examples("train")
    assert [next(examples).question for _ in range(50)][-1] == "q49?"
    with pytest.raises(InputError, match=":51: expected a JSON object"):
        next(examples)


def test_tables_are_split_into_shards_that_each_hold_their_tables(tmp_path, monkeypatch):
    from fastdistill_tui.core.datasets import wikisql

    monkeypatch.setattr(wikisql, "SHARD_TABLES", 1)
    rows = [wikisql_row(PLAYERS, "Who is number 25?", 0, 0, [[1, 0, "25"]]),
            wikisql_row(CITIES, "Which city has population 5000?", 0, 0, [[2, 0, 5000]])]
    root = write_wikisql(tmp_path / "w", {"train": rows})
    players, cities = open_dataset(f"wikisql:{root}", cache_dir=tmp_path / "c").iter_examples(
        "train")
    assert players.db_path != cities.db_path
    assert run(players) == [("Aleksandar Radojević",)]
    assert run(cities) == [("Riverton",)]
    again = list(open_dataset(f"wikisql:{root}", cache_dir=tmp_path / "c").iter_examples(
        "train"))  # read back from the cache
    assert [e.db_path for e in again] == [players.db_path, cities.db_path]


AUSTRIA_TABLE = {"id": "3-77-1", "header": ["Sänger", "Land", "Alter"],
                 "types": ["text", "text", "real"],
                 "rows": [["Jürgen Groß", "Österreich", "52"], ["Anna Weiß", "Schweiz", "29"],
                          ["Ölaf Ärger", "ÖSTERREICH", "41"]]}


def test_text_is_case_insensitive_over_all_of_unicode(tmp_path):
    """The gold lowercases 'Österreich' (official semantics); the cells keep their case; both
    the gold and a teacher's spelling find the rows, in the sandbox that evaluates them."""
    root = write_wikisql(tmp_path / "wikisql", {"train": [
        wikisql_row("3-77-1", "Who sings from Austria?", 0, 0, [[1, 0, "Österreich"]])]},
        tables=[AUSTRIA_TABLE])
    [example] = open_dataset(f"wikisql:{root}", cache_dir=tmp_path / "cache").iter_examples(
        "train")
    assert example.gold_sql == "SELECT Sänger FROM table_3_77_1 WHERE Land = 'österreich'"
    executor = SqlExecutor(timeout_s=5.0)
    try:
        def names(sql):
            result = executor.execute(example.db_path, sql)
            assert result.ok, result.detail
            return sorted(row[0] for row in result.rows)

        both = ["Jürgen Groß", "Ölaf Ärger"]
        assert names(example.gold_sql) == both
        for where in ("Land = 'Österreich'", "Land = 'ÖSTERREICH'", "'österreich' = Land",
                      "Land IN ('österreich')", "lower(Land) = 'österreich'",
                      "upper(Land) = 'ÖSTERREICH'", "Land LIKE 'öster%'",
                      "Land LIKE '_STERR%CH'", "Land >= 'österreich' AND Land <= 'ÖSTERREICH'"):
            assert names(f'SELECT "Sänger" FROM table_3_77_1 WHERE {where}') == both, where
        assert names("SELECT \"Sänger\" FROM table_3_77_1 WHERE Land LIKE 'schweiz'") == [
            "Anna Weiß"]
    finally:
        executor.close()


async def test_a_correct_answer_over_non_ascii_text_is_a_gold_match(tmp_path):
    root = write_wikisql(tmp_path / "wikisql", {"train": [
        wikisql_row("3-77-1", "Who sings from Austria?", 0, 0, [[1, 0, "Österreich"]])]},
        tables=[AUSTRIA_TABLE])
    [example] = open_dataset(f"wikisql:{root}", cache_dir=tmp_path / "cache").iter_examples(
        "train")
    evaluator = Evaluator(EvalConfig(timeout_s=5.0))
    try:
        right = await evaluator.evaluate(example.db_path, example.gold_sql,
                                         "SELECT \"Sänger\" FROM table_3_77_1 "
                                         "WHERE Land = 'Österreich'")
        wrong = await evaluator.evaluate(example.db_path, example.gold_sql,
                                         "SELECT \"Sänger\" FROM table_3_77_1 "
                                         "WHERE Land = 'Deutschland'")
    finally:
        evaluator.close()
    assert (right.gold_match, right.reason) == (True, None)
    assert not wrong.gold_match
    columns, table = example.extra["columns"], example.extra["table"]
    pred = sql_to_logical_form("SELECT \"Sänger\" FROM t WHERE Land = 'ÖSTERREICH'", columns)
    assert execution_match(example.db_path, table, columns, pred, example.logical_form)
