"""The bundled offline set: deterministic generator, committed files, executable gold SQL."""

from __future__ import annotations

import importlib.util
import json
import sqlite3
import sys
from collections import Counter
from pathlib import Path

import pytest

from fastdistill_tui.core.datasets.bundled import BUNDLED_DIR
from fastdistill_tui.core.datasets.registry import open_dataset
from fastdistill_tui.core.sql import unicode_case

ROOT = Path(__file__).resolve().parents[1]
FILES = ["README.md", "eval.jsonl", "eval.tables.jsonl", "train.jsonl", "train.tables.jsonl"]


def load_generator():
    spec = importlib.util.spec_from_file_location("generate_bundled",
                                                  ROOT / "scripts" / "generate_bundled.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def test_generator_is_deterministic_and_matches_committed_files(tmp_path):
    generator = load_generator()
    generator.write(tmp_path / "a")
    generator.write(tmp_path / "b")
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == FILES
    for name in FILES:
        produced = (tmp_path / "a" / name).read_bytes()
        assert produced == (tmp_path / "b" / name).read_bytes(), name
        assert produced == (BUNDLED_DIR / name).read_bytes(), (
            f"{name} differs from the committed file: rerun scripts/generate_bundled.py")


def test_package_data_glob_covers_the_files():
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert '"core/datasets/bundled/*"' in pyproject
    assert sorted(p.name for p in BUNDLED_DIR.iterdir()) == FILES
    assert sum((BUNDLED_DIR / n).stat().st_size for n in FILES) < 3_000_000


@pytest.fixture(scope="module")
def bundled(tmp_path_factory):
    dataset = open_dataset("bundled", cache_dir=tmp_path_factory.mktemp("cache"))
    return dataset, {split: list(dataset.iter_examples(split)) for split in dataset.splits()}


def test_sizes_and_splits(bundled):
    dataset, examples = bundled
    assert dataset.kind == "bundled"
    assert (dataset.default_split, dataset.default_eval_split) == ("train", "eval")
    assert len(examples["train"]) >= 1000 and len(examples["eval"]) >= 200
    assert dataset.count("train") == len(examples["train"])
    tables = {e.schema.db_id for split in examples.values() for e in split}
    assert len(tables) >= 40
    train_tables = {e.schema.db_id for e in examples["train"]}
    assert train_tables.isdisjoint(e.schema.db_id for e in examples["eval"])
    assert len({(e.schema.db_id, e.question) for e in examples["train"]}) == \
        len(examples["train"])


def test_tables_are_realistic():
    for name in ("train.tables.jsonl", "eval.tables.jsonl"):
        for line in (BUNDLED_DIR / name).read_text(encoding="utf-8").splitlines():
            table = json.loads(line)
            assert 8 <= len(table["rows"]) <= 30, table["id"]
            assert set(table["types"]) == {"text", "real"}, table["id"]


def test_every_aggregation_and_operator_appears_and_fits_its_column(bundled):
    _, examples = bundled
    for split in examples.values():
        aggs: Counter = Counter()
        ops: Counter = Counter()
        n_conds: Counter = Counter()
        for example in split:
            form = example.logical_form
            types = [c.type for c in example.schema.tables[0].columns]
            aggs[form["agg"]] += 1
            n_conds[len(form["conds"])] += 1
            if form["agg"] in (1, 2, 4, 5):  # MAX MIN SUM AVG: numeric columns only
                assert types[form["sel"]] == "real", example.question
            for col, op, value in form["conds"]:
                ops[op] += 1
                if op:
                    assert types[col] == "real", example.question
                assert str(value) in example.question  # values verbatim
        assert set(aggs) == {0, 1, 2, 3, 4, 5}
        assert set(ops) == {0, 1, 2}
        assert set(n_conds) == {1, 2, 3}


def test_every_gold_query_executes_and_matches_a_row(bundled):
    _, examples = bundled
    connections: dict[str, sqlite3.Connection] = {}
    for split in examples.values():
        for example in split:
            if example.db_path not in connections:
                connections[example.db_path] = sqlite3.connect(
                    f"file:{example.db_path}?mode=ro", uri=True)
                unicode_case.install(connections[example.db_path])
            conn = connections[example.db_path]
            table = example.extra["table"]
            where = example.gold_sql.partition(" WHERE ")[2]
            assert conn.execute(example.gold_sql).fetchall(), example.gold_sql
            assert conn.execute(f"SELECT COUNT(*) FROM {table} WHERE {where}").fetchone()[0], \
                example.gold_sql
    for conn in connections.values():
        conn.close()


def test_phrasing_varies(bundled):
    _, examples = bundled
    openings = Counter(" ".join(e.question.split()[:2]) for e in examples["train"])
    assert len(openings) >= 15
    for words in ("How many", "What is the total", "Name the", "Tell me the",
                  "What is the average", "highest", "lowest", "greater than", "less than"):
        assert any(words in e.question for e in examples["train"]), words
