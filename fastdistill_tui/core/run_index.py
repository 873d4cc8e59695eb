"""The runs in a store, one summary row each (the app's home list), and one run's samples
(the app's sample browser). SQL over the run store lives here and in store.py only.

One grouped pass over results and samples answers for every run at once, so the list costs the
same few queries for 3 runs or 1,000 (benchmarks/home_list.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .runs import RESUMABLE_STATUSES
from .store import Store

SUMMARY_SQL = """
WITH sample_counts AS (
    SELECT run_id, COUNT(*) AS samples FROM samples GROUP BY run_id
), result_counts AS (
    SELECT run_id,
           SUM(selected) AS kept,
           SUM(gold_ok AND teacher_ok) AS answered,
           SUM(gold_ok AND teacher_ok AND exec_ok) AS exec_ok,
           SUM(gold_ok AND teacher_ok AND gold_match) AS gold_match,
           SUM(gold_ok AND teacher_ok AND agreed IS NULL) AS labelled
    FROM results GROUP BY run_id
), costs AS (
    SELECT used.run_id, SUM(a.cost) AS cost
    FROM results AS used JOIN teacher_answers AS a ON a.cache_key = used.cache_key
    GROUP BY used.run_id
), student AS (
    SELECT run_id, AVG(CASE WHEN phase = 'pre' THEN gold_match END) AS pre,
           AVG(CASE WHEN phase = 'post' THEN gold_match END) AS post
    FROM student_results GROUP BY run_id
)
SELECT r.run_id, r.created_at, r.finished_at, r.status, r.dataset, r.teacher,
       COALESCE(s.samples, 0), COALESCE(c.kept, 0), COALESCE(c.answered, 0),
       COALESCE(c.exec_ok, 0), COALESCE(c.gold_match, 0), COALESCE(c.labelled, 0),
       COALESCE(k.cost, 0.0),
       CASE WHEN json_extract(r.config_json, '$.student.enabled')
            THEN COALESCE(json_extract(r.config_json, '$.student.spec'), '') ELSE '' END,
       st.pre, st.post
FROM runs AS r
LEFT JOIN sample_counts AS s ON s.run_id = r.run_id
LEFT JOIN result_counts AS c ON c.run_id = r.run_id
LEFT JOIN costs AS k ON k.run_id = r.run_id
LEFT JOIN student AS st ON st.run_id = r.run_id
ORDER BY r.created_at DESC
"""


@dataclass(frozen=True)
class RunSummary:
    """A run as the home list shows it. Rates are over the samples the teacher answered;
    cost sums the stored answer of each of the run's samples (a cached answer counts in every
    run that uses it)."""

    run_id: str
    created_at: float
    finished_at: float | None
    status: str
    dataset: str
    teacher: str
    samples: int
    kept: int
    answered: int
    exec_ok: int
    gold_match: int
    labelled: int  # answered questions that have gold SQL (the others: checked by agreement)
    cost: float
    student: str  # "" where the run trains no student
    student_pre: float | None  # the student's gold-match rate before and after training
    student_post: float | None

    @property
    def exec_rate(self) -> float | None:
        return self.exec_ok / self.answered if self.answered else None

    @property
    def gold_rate(self) -> float | None:
        """Over the questions with gold SQL; None without any."""
        return self.gold_match / self.labelled if self.labelled else None

    @property
    def wall_s(self) -> float | None:
        return self.finished_at - self.created_at if self.finished_at else None

    @property
    def unfinished(self) -> bool:
        """A run Resume can continue (a failed gate too: the app asks whether to override)."""
        return self.status in RESUMABLE_STATUSES


def run_summaries(store: Store) -> list[RunSummary]:
    """Every stored run, newest first."""
    return [RunSummary(*row) for row in store.query(SUMMARY_SQL)]


@dataclass(frozen=True)
class SampleOutcome:
    """One sample of a run: what the teacher wrote and what became of it."""

    sample_id: str
    question: str
    gold_sql: str
    sql: str | None
    exec_ok: bool
    gold_match: bool
    score: float
    selected: bool
    rejected_at: str | None
    reason: str | None
    detail: str
    agreed: bool | None = None  # None with gold SQL; without it, whether agreement kept it

    @property
    def kept(self) -> bool:
        return self.selected

    @property
    def dropped_at(self) -> str:
        """The stage that dropped a rejected sample: select where no earlier stage did."""
        return self.rejected_at or "select"

    @property
    def reason_code(self) -> str:
        """A rejected sample's reason code: min_score where select dropped it on its score."""
        return self.reason or "min_score"

    def why(self) -> str:
        """The reason a rejected sample was dropped, in one line."""
        if self.selected:
            return ""
        where = self.dropped_at
        reason = self.reason or "score below the threshold"
        return f"{where}: {reason}" + (f" — {self.detail}" if self.detail else "")


def run_samples(store: Store, run_id: str) -> list[SampleOutcome]:
    """A run's samples with a result, in the order they were read."""
    rows = store.query(
        "SELECT s.sample_id, s.question, s.gold_sql, r.sql, r.exec_ok, r.gold_match, r.score,"
        " r.selected, r.rejected_at, r.reason, COALESCE(r.detail, ''), r.agreed"
        " FROM samples AS s JOIN results AS r"
        " ON r.run_id = s.run_id AND r.sample_id = s.sample_id"
        " WHERE s.run_id = ? ORDER BY s.seq", (run_id,))
    return [SampleOutcome(sid, q, gold, sql, bool(e), bool(g), float(score), bool(sel), at,
                          reason, detail, None if agreed is None else bool(agreed))
            for sid, q, gold, sql, e, g, score, sel, at, reason, detail, agreed in rows]


def run_config(store: Store, run_id: str) -> dict[str, Any]:
    """The config a run was started with, as stored."""
    run = store.get_run(run_id)
    return json.loads(run["config_json"]) if run else {}


def kept_differences(store: Store, run_a: str, run_b: str) -> list[tuple[str, bool]]:
    """Questions both runs saw that one kept and the other did not: (question, kept by a)."""
    rows = store.query(
        "SELECT s.question, ra.selected FROM results AS ra"
        " JOIN results AS rb ON rb.sample_id = ra.sample_id AND rb.run_id = ?"
        " JOIN samples AS s ON s.run_id = ra.run_id AND s.sample_id = ra.sample_id"
        " WHERE ra.run_id = ? AND ra.selected != rb.selected ORDER BY s.seq", (run_b, run_a))
    return [(question, bool(kept_a)) for question, kept_a in rows]


def reject_reasons(store: Store, run_id: str) -> dict[str, dict[str, int]]:
    """Why a run's samples were dropped so far: stage → reason code → samples, most first.
    A sample no stage rejected but whose result did not match (a reason, no stage) is one
    that select drops on its score."""
    rows = store.query(
        "SELECT COALESCE(rejected_at, 'select'), reason, COUNT(*) FROM results"
        " WHERE run_id = ? AND NOT selected AND reason IS NOT NULL"
        " GROUP BY 1, 2 ORDER BY 3 DESC, 2", (run_id,))
    out: dict[str, dict[str, int]] = {}
    for stage, reason, count in rows:
        out.setdefault(stage, {})[reason] = int(count)
    return out


def shared_samples(store: Store, run_a: str, run_b: str) -> int:
    """How many samples both runs have a result for (what kept_differences compares)."""
    rows = store.query(
        "SELECT COUNT(*) FROM results AS ra JOIN results AS rb"
        " ON rb.sample_id = ra.sample_id AND rb.run_id = ? WHERE ra.run_id = ?",
        (run_b, run_a))
    return int(rows[0][0])


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"teacher": {"spec": x}} → {"teacher.spec": x}: config keys as a user writes them."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def delete_run(store: Store, run_id: str) -> None:
    """Forget a run: its row and its samples' results. Teacher answers stay: they are a cache
    shared by every run that asked the same question."""
    store.query("BEGIN")
    for table in ("student_results", "results", "samples", "runs"):
        store.query(f"DELETE FROM {table} WHERE run_id = ?", (run_id,))
    store.query("COMMIT")
