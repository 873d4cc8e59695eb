"""Malformed input: one InputError naming the file, the line and the field, never a crash."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from dataset_helpers import (PLAYERS_TABLE, SPIDER_TABLES, make_sqlite, wikisql_row, write_jsonl,
                             write_spider, write_wikisql)

from fastdistill_tui.core.datasets.registry import open_dataset
from fastdistill_tui.core.errors import InputError

GOOD = wikisql_row("1-10015132-11", "Who?", 0, 0, [[2, 0, "Serbia"]])


def wikisql_with(rows: list) -> Callable[[Path], tuple[str, str]]:
    """A WikiSQL dir whose train.jsonl holds a good row then `rows` (lines 2..)."""
    def build(root: Path) -> tuple[str, str]:
        write_wikisql(root, {"train": [GOOD]})
        path = root / "train.jsonl"
        with open(path, "a", encoding="utf-8") as fh:
            for row in rows:
                fh.write((row if isinstance(row, str) else json.dumps(row)) + "\n")
        return f"wikisql:{root}", "train"
    return build


def wikisql_sql(**changes) -> Callable[[Path], tuple[str, str]]:
    return wikisql_with([dict(GOOD, sql=dict(GOOD["sql"], **changes))])


def wikisql_table(**changes) -> Callable[[Path], tuple[str, str]]:
    def build(root: Path) -> tuple[str, str]:
        write_wikisql(root, {"train": [GOOD]}, tables=[dict(PLAYERS_TABLE, **changes)])
        return f"wikisql:{root}", "train"
    return build


def without(row: dict, key: str) -> dict:
    return {k: v for k, v in row.items() if k != key}


def non_utf8(root: Path) -> tuple[str, str]:
    write_wikisql(root, {"train": [GOOD]})
    with open(root / "train.jsonl", "ab") as fh:
        fh.write(b'{"question": "caf\xe9", "table_id": "1-10015132-11"}\n')
    return f"wikisql:{root}", "train"


def empty_questions(root: Path) -> tuple[str, str]:
    write_wikisql(root, {"train": [GOOD]})
    (root / "train.jsonl").write_bytes(b"")
    return f"wikisql:{root}", "train"


def missing_tables_file(root: Path) -> tuple[str, str]:
    write_wikisql(root, {"train": [GOOD]})
    (root / "train.tables.jsonl").unlink()
    return f"wikisql:{root}", "train"


def spider_with(rows: list, tables: list | None = None) -> Callable[[Path], tuple[str, str]]:
    def build(root: Path) -> tuple[str, str]:
        good = {"db_id": "konzerte", "question": "Wie viele?", "query": "SELECT 1"}
        write_spider(root, {"dev": [good] + rows}, tables=tables)
        return f"spider:{root}", "dev"
    return build


def spider_missing_db(root: Path) -> tuple[str, str]:
    tables = SPIDER_TABLES + [dict(SPIDER_TABLES[0], db_id="fehlt")]
    spider_with([{"db_id": "fehlt", "question": "?", "query": "SELECT 1"}], tables)(root)
    return f"spider:{root}", "dev"


def spider_not_array(root: Path) -> tuple[str, str]:
    write_spider(root)
    (root / "dev.json").write_text('{"db_id": "konzerte"}', encoding="utf-8")
    return f"spider:{root}", "dev"


def jsonl_with(row: dict, db_script: str | None = "CREATE TABLE t (a TEXT);",
               db_bytes: bytes | None = None) -> Callable[[Path], tuple[str, str]]:
    def build(root: Path) -> tuple[str, str]:
        if db_bytes is not None:
            (root / "dbs").mkdir(parents=True)
            (root / "dbs" / "x.sqlite").write_bytes(db_bytes)
        elif db_script is not None:
            make_sqlite(root / "dbs" / "x.sqlite", db_script)
        good = {"question": "q?", "sql": "SELECT a FROM t", "db": "dbs/x.sqlite"}
        write_jsonl(root / "set.jsonl", [good, row])
        return f"jsonl:{root / 'set.jsonl'}", "set"
    return build


JSONL_GOOD = {"question": "q?", "sql": "SELECT a FROM t", "db": "dbs/x.sqlite"}

# id -> (builder, file name, line, field, words in the message)
CASES = {
    "malformed JSON line": (wikisql_with(['{"question": "q", ']), "train.jsonl", 2, None,
                            "not valid JSON"),
    "missing question": (wikisql_with([without(GOOD, "question")]), "train.jsonl", 2,
                         "question", "missing"),
    "question not a string": (wikisql_with([dict(GOOD, question=7)]), "train.jsonl", 2,
                              "question", "expected a string"),
    "missing sql": (wikisql_with([without(GOOD, "sql")]), "train.jsonl", 2, "sql", "missing"),
    "missing table_id": (wikisql_with([without(GOOD, "table_id")]), "train.jsonl", 2,
                         "table_id", "missing"),
    "sel as string": (wikisql_sql(sel="0"), "train.jsonl", 2, "sql.sel", "expected an integer"),
    "sel out of range": (wikisql_sql(sel=8), "train.jsonl", 2, "sql.sel", "out of range"),
    "conds not a list": (wikisql_sql(conds="x"), "train.jsonl", 2, "sql.conds",
                         "expected a list"),
    "agg out of range": (wikisql_sql(agg=6), "train.jsonl", 2, "sql.agg", "out of range"),
    "cond operator OP": (wikisql_sql(conds=[[0, 3, "x"]]), "train.jsonl", 2, "sql.conds[0]",
                         "operator index 3"),
    "cond column out of range": (wikisql_sql(conds=[[9, 0, "x"]]), "train.jsonl", 2,
                                 "sql.conds[0]", "column index 9"),
    "cond not a triple": (wikisql_sql(conds=[[0, 0]]), "train.jsonl", 2, "sql.conds[0]",
                          "expected [column, operator, value]"),
    "unknown table id": (wikisql_with([dict(GOOD, table_id="9-9-9")]), "train.jsonl", 2,
                         "table_id", "unknown table id"),
    "non-UTF-8 bytes": (non_utf8, "train.jsonl", 2, None, "not valid UTF-8"),
    "empty file": (empty_questions, "train.jsonl", 1, None, "no question rows"),
    "missing tables file": (missing_tables_file, "train.tables.jsonl", None, None,
                            "tables file not found"),
    "table types length": (wikisql_table(types=["text"]), "train.tables.jsonl", 1, "types",
                           "1 types for 8 headers"),
    "table unknown type": (wikisql_table(types=["text", "number"] + ["text"] * 6),
                           "train.tables.jsonl", 1, "types[1]", "unknown column type"),
    "table header not a string": (wikisql_table(header=[None] * 8), "train.tables.jsonl", 1,
                                  "header[0]", "expected a string"),
    "spider unknown db_id": (spider_with([{"db_id": "nope", "question": "?",
                                           "query": "SELECT 1"}]),
                             "dev.json", 2, "db_id", "row 2: unknown db_id 'nope'"),
    "spider missing database file": (spider_missing_db, "dev.json", 2, "db_id",
                                     "database file not found"),
    "spider missing query": (spider_with([{"db_id": "konzerte", "question": "?"}]),
                             "dev.json", 2, "query", "missing"),
    "spider not an array": (spider_not_array, "dev.json", 1, None, "JSON array"),
    "spider bad foreign key": (spider_with([], [dict(SPIDER_TABLES[0],
                                                     foreign_keys=[[7, 99]])]),
                               "tables.json", 1, "foreign_keys[0]", "konzerte"),
    "jsonl missing db": (jsonl_with(without(JSONL_GOOD, "db")), "set.jsonl", 2, "db",
                         "missing"),
    "jsonl missing sql": (jsonl_with(without(JSONL_GOOD, "sql")), "set.jsonl", 2, "sql",
                          "missing"),
    "jsonl database file missing": (jsonl_with(dict(JSONL_GOOD, db="dbs/none.sqlite")),
                                    "set.jsonl", 2, "db", "database file not found"),
    "jsonl db not SQLite": (jsonl_with(JSONL_GOOD, db_bytes=b"plain text, no database" * 50),
                            "set.jsonl", 1, "db", "cannot read"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_malformed_input_names_file_line_and_field(tmp_path, case):
    build, file_name, line, field, words = CASES[case]
    spec, split = build(tmp_path / "data")
    with pytest.raises(InputError) as caught:
        dataset = open_dataset(spec, cache_dir=tmp_path / "cache")
        list(dataset.iter_examples(split))
    error = caught.value
    assert Path(error.path).name == file_name
    assert error.line == line
    assert error.field == field
    assert words in str(error)
    assert error.exit_code == 2


@pytest.mark.parametrize("spec", ["wikisql", "csv:/tmp/x", "jsonl:", "spider"])
def test_bad_spec_lists_valid_forms(tmp_path, spec):
    with pytest.raises(InputError) as caught:
        open_dataset(spec, cache_dir=tmp_path)
    assert caught.value.field == "dataset"
    assert "bundled | wikisql:DIR | spider:DIR | jsonl:FILE" in str(caught.value)


def test_missing_path(tmp_path):
    with pytest.raises(InputError) as caught:
        open_dataset(f"spider:{tmp_path / 'nowhere'}", cache_dir=tmp_path)
    assert caught.value.path == str(tmp_path / "nowhere")
    assert "not found" in str(caught.value)


@pytest.mark.parametrize("make", [
    lambda root: f"wikisql:{write_wikisql(root, {'train': [GOOD], 'dev': [GOOD]})}",
    lambda root: f"spider:{write_spider(root)}",
    lambda root: jsonl_with(JSONL_GOOD)(root)[0],
])
def test_unknown_split_lists_available_splits(tmp_path, make):
    dataset = open_dataset(make(tmp_path / "data"), cache_dir=tmp_path / "cache")
    with pytest.raises(InputError) as caught:
        list(dataset.iter_examples("validation"))
    assert caught.value.field == "split"
    assert "unknown split 'validation'" in str(caught.value)
    assert "available splits: " + ", ".join(dataset.splits()) in str(caught.value)
    with pytest.raises(InputError):
        dataset.count("validation")


def test_directory_without_split_files(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no <split>.jsonl files"):
        open_dataset(f"wikisql:{tmp_path / 'empty'}", cache_dir=tmp_path)
