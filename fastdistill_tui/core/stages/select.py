"""select: keep scored answers at or above min_score and split them train/valid by a hash of
sample_id, so the split never depends on order or on which other samples exist. A sample whose
gold result is empty is never kept: the gold cannot tell its answer right from wrong."""

from __future__ import annotations

import time

from ..store import Store


def valid_bucket(sample_id: str) -> float:
    """A stable number in [0, 1) from the sample id."""
    return int(sample_id[:8], 16) / 0x1_0000_0000


def select(store: Store, run_id: str, min_score: float, valid_fraction: float) -> int:
    """Marks the selected samples (and their split) in the store; returns how many.

    One UPDATE in SQLite, so memory does not grow with the run."""
    conn = store.conn
    conn.create_function("fd_valid_bucket", 1, valid_bucket, deterministic=True)
    eligible = ("run_id = :run AND gold_ok = 1 AND gold_empty = 0 AND teacher_ok = 1"
                " AND sql IS NOT NULL AND rejected_at IS NULL AND score >= :min_score")
    params = {"run": run_id, "min_score": min_score, "vf": valid_fraction, "now": time.time()}
    with conn:
        conn.execute("BEGIN")
        conn.execute("UPDATE results SET selected = 0, split = NULL WHERE run_id = :run", params)
        count = conn.execute(
            "UPDATE results SET selected = 1, marks = json_set(marks, '$.selected', :now),"
            " split = CASE WHEN fd_valid_bucket(sample_id) < :vf THEN 'valid' ELSE 'train' END"
            f" WHERE {eligible}", params).rowcount
        has_valid = conn.execute("SELECT 1 FROM results WHERE run_id = :run AND selected = 1"
                                 " AND split = 'valid' LIMIT 1", params).fetchone()
        # mlx-lm needs a non-empty valid set: with none hashed there, move the lowest bucket.
        if valid_fraction > 0 and count >= 2 and not has_valid:
            conn.execute(
                "UPDATE results SET split = 'valid' WHERE run_id = :run AND sample_id = ("
                " SELECT sample_id FROM results WHERE run_id = :run AND selected = 1"
                " ORDER BY fd_valid_bucket(sample_id) LIMIT 1)", params)
    return count
