"""select: keep scored answers at or above min_score and split them train/valid by a hash of
sample_id, so the split never depends on order or on which other samples exist."""

from __future__ import annotations

import json
import time

from ..store import Store


def valid_bucket(sample_id: str) -> float:
    """A stable number in [0, 1) from the sample id."""
    return int(sample_id[:8], 16) / 0x1_0000_0000


def select(store: Store, run_id: str, min_score: float, valid_fraction: float
           ) -> list[tuple[str, str, dict[str, float]]]:
    """Returns (sample_id, split, marks) for each selected sample and records them in the store."""
    rows = store.query(
        "SELECT sample_id, marks FROM results WHERE run_id = ? AND gold_ok = 1 AND teacher_ok = 1"
        " AND sql IS NOT NULL AND rejected_at IS NULL AND score >= ? ORDER BY sample_id",
        (run_id, min_score))
    now = time.time()
    chosen = []
    for sample_id, marks_json in rows:
        marks = json.loads(marks_json)
        marks["selected"] = now
        split = "valid" if valid_bucket(sample_id) < valid_fraction else "train"
        chosen.append([sample_id, split, marks])
    # mlx-lm needs a non-empty valid set: with none hashed there, move the lowest bucket.
    if valid_fraction > 0 and len(chosen) >= 2 and all(c[1] == "train" for c in chosen):
        min(chosen, key=lambda c: valid_bucket(c[0]))[1] = "valid"
    result = [(sid, split, marks) for sid, split, marks in chosen]
    store.mark_selected(run_id, result)
    return result
