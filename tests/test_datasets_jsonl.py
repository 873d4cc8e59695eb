"""JSONL loader: relative database paths, schema read from the SQLite file itself."""

from __future__ import annotations

import sqlite3

import pytest
from dataset_helpers import SAENGER_DB, make_sqlite, write_jsonl

from fastdistill_tui.core.datasets.base import open_dataset_db
from fastdistill_tui.core.datasets.jsonl import read_sqlite_schema
from fastdistill_tui.core.datasets.registry import open_dataset
from fastdistill_tui.core.types import Column, Table


def test_relative_db_paths_and_schema_from_sqlite(tmp_path):
    db = make_sqlite(tmp_path / "data" / "dbs" / "konzerte.sqlite", SAENGER_DB)
    other = make_sqlite(tmp_path / "data" / "other" / "elsewhere.sqlite",
                        "CREATE TABLE t (a, b DOUBLE);")
    path = write_jsonl(tmp_path / "data" / "questions.jsonl", [
        {"question": "Wie viele Sänger?", "sql": "SELECT count(*) FROM sänger",
         "db": "dbs/konzerte.sqlite"},
        {"question": "q2", "sql": "SELECT a FROM t", "db": "dbs/../other/elsewhere.sqlite",
         "db_id": "misc", "evidence": "a is b"},
        {"question": "q3", "sql": "SELECT 1", "db": str(db)},
    ])
    dataset = open_dataset(f"jsonl:{path}", cache_dir=tmp_path / "cache")
    assert (dataset.kind, dataset.splits()) == ("jsonl", ["questions"])
    assert dataset.default_split == dataset.default_eval_split == "questions"
    assert dataset.count("questions") == 3
    first, second, third = dataset.iter_examples("questions")

    assert first.db_path == str(db) and third.db_path == str(db)
    assert first.schema is third.schema  # read once per database
    assert first.schema.db_id == "konzerte"
    assert first.schema.tables == (
        Table("sänger", (Column("sänger_id", "integer"), Column("name", "text"),
                         Column("land", "text"), Column("alter", "integer"))),
        Table("konzert", (Column("konzert_id", "integer"), Column("jahr", "text"),
                          Column("sänger_id", "integer"))))
    assert first.schema.foreign_keys == (("konzert", "sänger_id", "sänger", "sänger_id"),)
    assert first.source == f"{path}:1"

    assert second.db_path == str(other)
    assert (second.schema.db_id, second.evidence) == ("misc", "a is b")
    assert second.schema.tables == (Table("t", (Column("a", ""), Column("b", "real"))),)


def test_schema_is_read_without_writing(tmp_path):
    db = make_sqlite(tmp_path / "x.sqlite", "CREATE TABLE t (a INTEGER);")
    db.chmod(0o444)
    before = db.read_bytes()
    assert read_sqlite_schema(db, "x").tables == (Table("t", (Column("a", "integer"),)),)
    assert db.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.sqlite"]  # no journal left


def test_dataset_databases_open_read_only_without_trusted_schema(tmp_path):
    db = make_sqlite(tmp_path / "d.sqlite", "CREATE TABLE t (a);")
    conn = open_dataset_db(db)
    try:
        assert conn.execute("PRAGMA trusted_schema").fetchone() == (0,)
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            conn.execute("INSERT INTO t VALUES (1)")
    finally:
        conn.close()
