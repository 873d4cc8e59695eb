"""Spider loader: Unicode identifiers, BIRD rows with evidence, and the real spider-de-dev."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from dataset_helpers import write_spider

from fastdistill_tui.core.datasets.registry import open_dataset
from fastdistill_tui.core.types import Column

SPIDER_DE_DEV = Path(__file__).resolve().parents[2] / "shared" / "data" / "spider-de-dev"


def test_unicode_schema_and_bird_rows(tmp_path):
    root = write_spider(tmp_path / "spider")
    dataset = open_dataset(f"spider:{root}", cache_dir=tmp_path / "cache")
    assert dataset.kind == "spider"
    assert dataset.splits() == ["dev"]
    assert (dataset.default_split, dataset.default_eval_split) == ("dev", "dev")
    assert dataset.count("dev") == 2
    first, bird = dataset.iter_examples("dev")

    schema = first.schema
    assert schema.db_id == "konzerte"
    assert [t.name for t in schema.tables] == ["sänger", "konzert"]
    assert schema.tables[0].columns == (Column("sänger_id", "real"), Column("name", "text"),
                                        Column("land", "text"), Column("alter", "integer"))
    assert schema.foreign_keys == (("konzert", "sänger_id", "sänger", "sänger_id"),)
    assert first.source == f"{root / 'dev.json'}:1"
    assert first.db_path == str(root / "database" / "konzerte" / "konzerte.sqlite")
    assert first.evidence == ""

    assert bird.gold_sql == 'SELECT name FROM sänger WHERE "alter" > 30'
    assert bird.evidence == "älter als 30 bezieht sich auf alter > 30"
    conn = sqlite3.connect(f"file:{bird.db_path}?mode=ro", uri=True)
    assert conn.execute(bird.gold_sql).fetchall() == [("Jürgen Groß",)]
    conn.close()


def test_default_splits_follow_spider_names(tmp_path):
    row = {"db_id": "konzerte", "question": "?", "query": "SELECT 1"}
    root = write_spider(tmp_path / "s", {"dev": [row], "train_others": [row],
                                         "train_spider": [row, row]})
    dataset = open_dataset(f"spider:{root}", cache_dir=tmp_path)
    assert dataset.splits() == ["dev", "train_others", "train_spider"]
    assert (dataset.default_split, dataset.default_eval_split) == ("train_spider", "dev")
    assert dataset.count("train_spider") == 2


def test_bird_layout_with_split_tables_and_databases(tmp_path):
    root = write_spider(tmp_path / "bird", {"dev": [
        {"db_id": "konzerte", "question": "?", "SQL": "SELECT 1", "evidence": "e"}]})
    (root / "tables.json").rename(root / "dev_tables.json")
    (root / "database").rename(root / "dev_databases")
    [example] = open_dataset(f"spider:{root}", cache_dir=tmp_path).iter_examples("dev")
    assert example.db_path == str(root / "dev_databases" / "konzerte" / "konzerte.sqlite")
    assert example.evidence == "e"


def test_spider_de_dev(tmp_path):
    if not SPIDER_DE_DEV.is_dir():
        pytest.skip(f"shared dataset absent: {SPIDER_DE_DEV} (only in the developers' checkout)")
    dataset = open_dataset(f"spider:{SPIDER_DE_DEV}", cache_dir=tmp_path)
    assert dataset.count("dev") == 1030
    examples = list(dataset.iter_examples("dev"))
    assert len(examples) == 1030
    assert len({e.schema.db_id for e in examples}) == 20
    concert = next(e for e in examples if e.schema.db_id == "concert_singer")
    saenger = next(t for t in concert.schema.tables if t.name == "sänger")
    assert "land" in [c.name for c in saenger.columns]
    assert ("sänger_im_konzert", "sänger_id", "sänger", "sänger_id") in \
        concert.schema.foreign_keys
    assert all(Path(e.db_path).is_file() for e in examples)
