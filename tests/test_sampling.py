"""--limit takes a seeded sample spread over the databases and through each one's rows, the same
on every run; the engine reads it in that order (so the early gate judges it) and still stops at
exactly N distinct samples."""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections import Counter
from pathlib import Path

from fastdistill_tui import cli
from fastdistill_tui.core.config import Config
from fastdistill_tui.core.datasets.jsonl import JsonlDataset
from fastdistill_tui.core.datasets.sampling import sampled_examples
from fastdistill_tui.core.engine import plan_split
from fastdistill_tui.core.store import Store

SIZES = {"alpha": 60, "beta": 30, "gamma": 10}  # rows per database, grouped in file order


def grouped_dataset(root: Path, repeat: int = 1) -> JsonlDataset:
    """Questions grouped by database, as Spider files are; the whole list `repeat` times."""
    root.mkdir(parents=True, exist_ok=True)
    lines = []
    for name, size in SIZES.items():
        with sqlite3.connect(root / f"{name}.sqlite") as conn:
            conn.execute("CREATE TABLE t (x INTEGER)")
            conn.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(size)])
        for i in range(size):
            row = json.dumps({"question": f"Is {i} in {name}?", "db": f"{name}.sqlite",
                              "sql": f"SELECT x FROM t WHERE x = {i}"})
            lines.append(row)
    (root / "q.jsonl").write_text("\n".join(lines * repeat) + "\n", encoding="utf-8")
    return JsonlDataset(root / "q.jsonl")


def sample(dataset: JsonlDataset, limit: int, seed: int = 0) -> list[str]:
    taken = itertools.islice(sampled_examples(dataset, "q", limit, seed), limit)
    return [e.question for e in taken]


def database(question: str) -> str:
    return question.rsplit(" ", 1)[1].rstrip("?")


def test_the_sample_is_stable_and_seeded(tmp_path):
    dataset = grouped_dataset(tmp_path)
    first = sample(dataset, 20)
    assert sample(dataset, 20) == first
    assert len(set(first)) == 20
    assert sample(dataset, 20, seed=1) != first


def test_each_database_gets_its_share_in_every_prefix(tmp_path):
    dataset = grouped_dataset(tmp_path)
    taken = sample(dataset, 20)
    assert Counter(map(database, taken)) == {"alpha": 12, "beta": 6, "gamma": 2}
    for n in range(1, 21):
        counts = Counter(map(database, taken[:n]))
        for name, size in SIZES.items():
            assert abs(counts[name] - n * size / 100) <= 1.5, (n, counts)


def test_the_sample_is_spread_through_each_database(tmp_path):
    """No stretch of a database's rows is left out: templates next to each other are all
    reached early."""
    taken = sample(grouped_dataset(tmp_path), 20)
    alpha = sorted(int(q.split()[1]) for q in taken if database(q) == "alpha")
    gaps = [b - a for a, b in zip(alpha, alpha[1:])] + [alpha[0] + 60 - alpha[-1]]
    assert len(alpha) == 12 and max(gaps) <= 2 * 60 // 12


def test_a_larger_limit_keeps_the_smaller_ones_samples(tmp_path):
    """So a run grown from --limit 20 to 50 asks only the 30 new questions."""
    dataset = grouped_dataset(tmp_path)
    assert sample(dataset, 50)[:20] == sample(dataset, 20)


def test_file_order_without_limit_and_every_row_once_past_the_size(tmp_path):
    dataset = grouped_dataset(tmp_path)
    in_file = [e.question for e in dataset.iter_examples("q")]
    assert [e.question for e in sampled_examples(dataset, "q", 0, 0)] == in_file
    everything = [e.question for e in sampled_examples(dataset, "q", 500, 0)]
    assert sorted(everything) == sorted(in_file) and everything != in_file


def test_duplicates_in_the_sample_still_give_exactly_n_samples(tmp_path):
    dataset = grouped_dataset(tmp_path, repeat=2)  # every question twice
    picked = sample(dataset, 40)
    assert len(set(picked)) < 40  # the sample itself holds duplicates
    plan = plan_split(dataset, "q", 40, 0)
    assert plan.samples == 40 and plan.rows_read > 40


def test_the_run_reads_the_sample_in_its_order(tmp_path):
    dataset = grouped_dataset(tmp_path / "data")
    assert cli.main(["run", "--headless", "--no-student", "--dataset",
                     f"jsonl:{dataset.path}", "--teacher", "builtin", "--limit", "12",
                     "--override-gate", "teacher_eval"]) == 0
    store = Store(cli.store_path(Config()))
    try:
        (run_id,) = [r[0] for r in store.conn.execute("SELECT run_id FROM runs")]
        stored = [q for (q,) in store.conn.execute(
            "SELECT question FROM samples WHERE run_id = ? ORDER BY seq", (run_id,))]
    finally:
        store.close()
    assert stored == sample(dataset, 12)  # what the early gate judges first: all databases
    assert set(map(database, stored[:10])) == set(SIZES)
