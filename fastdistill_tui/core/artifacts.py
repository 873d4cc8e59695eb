"""Run artifacts with the schemas of DESIGN §3: manifest.json, quality_report.json per stage and
timing_report.json per run. All files are written atomically (temp file + rename)."""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .. import __version__

#: Timing labels in pipeline order; a transition is a pair of consecutive labels a sample has.
TIMING_LABELS = ("raw", "canonical", "hashed", "teacher", "filtered", "eval", "selected",
                 "distilled", "student_gen", "student_eval")


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False) + "\n",
                   encoding="utf-8")
    os.replace(tmp, path)


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolation percentile (numpy's default), q in [0, 100]; values pre-sorted."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    pos = (len(sorted_values) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = math.ceil(pos)
    if lo == hi:
        return float(sorted_values[lo])
    return float(sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo))


def summarize(values: Iterable[float]) -> dict[str, float | int]:
    data = sorted(values)
    if not data:
        return {"count": 0, "min": 0.0, "max": 0.0, "mean": 0.0, "p50": 0.0, "p90": 0.0,
                "p95": 0.0}
    return {
        "count": len(data),
        "min": data[0],
        "max": data[-1],
        "mean": sum(data) / len(data),
        "p50": percentile(data, 50),
        "p90": percentile(data, 90),
        "p95": percentile(data, 95),
    }


def timing_report(run_id: str, marks_per_sample: Iterable[dict[str, float]]) -> dict[str, Any]:
    """Durations between consecutive marks of each sample, summarised per transition.

    `share` of a transition is its summed time over the summed time of all transitions, so the
    shares add up to 1 and show where the run's time went.
    """
    durations: dict[str, list[float]] = {}
    totals: list[float] = []
    for marks in marks_per_sample:
        present = [label for label in TIMING_LABELS if label in marks]
        for a, b in zip(present, present[1:]):
            durations.setdefault(f"{a}__to__{b}", []).append(max(0.0, marks[b] - marks[a]))
        if len(present) >= 2:
            totals.append(max(0.0, marks[present[-1]] - marks[present[0]]))
    ordered = sorted(durations, key=lambda k: TIMING_LABELS.index(k.split("__to__")[0]))
    summaries = {k: summarize(durations[k]) for k in ordered}
    grand = sum(sum(v) for v in durations.values())
    for key in ordered:
        summaries[key]["share"] = (sum(durations[key]) / grand) if grand > 0 else 0.0
    return {
        "run_id": run_id,
        "labels": list(TIMING_LABELS),
        "durations": summaries,
        "total": summarize(totals),
        "created_at": time.time(),
    }


def quality_report(run_id: str, stage: str, rows: Iterable[dict[str, Any]], *,
                   kept_if: Any, reason_of: Any, extra: dict[str, Any] | None = None
                   ) -> dict[str, Any]:
    """Quality numbers for one stage over the rows that entered it.

    rows carry exec_ok, gold_match, score, reason (as stored in results); kept_if(row) says
    whether the stage kept it and reason_of(row) gives the reject reason code.
    """
    total = kept = exec_ok = gold = 0
    score_sum = 0.0
    score_min = score_max = None
    reasons: Counter[str] = Counter()
    exec_errors: Counter[str] = Counter()
    for row in rows:
        total += 1
        exec_ok += bool(row["exec_ok"])
        gold += bool(row["gold_match"])
        score = float(row["score"])
        score_sum += score
        score_min = score if score_min is None else min(score_min, score)
        score_max = score if score_max is None else max(score_max, score)
        if kept_if(row):
            kept += 1
        else:
            reasons[reason_of(row) or "unknown"] += 1
        if not row["exec_ok"] and row.get("reason"):
            exec_errors[row["reason"]] += 1
    report = {
        "run_id": run_id,
        "stage": stage,
        "total": total,
        "kept": kept,
        "rejected": total - kept,
        "p_keep": kept / total if total else 0.0,
        "exec_pass_rate": exec_ok / total if total else 0.0,
        "gold_match_rate": gold / total if total else 0.0,
        "judge_score": {
            "min": score_min or 0.0,
            "max": score_max or 0.0,
            "mean": score_sum / total if total else 0.0,
        },
        "reject_reason_counts": dict(sorted(reasons.items())),
        "exec_error_counts": dict(sorted(exec_errors.items())),
        "created_at": time.time(),
    }
    if extra:
        report.update(extra)
    return report


def manifest(run_id: str, stage: str, rows: Iterable[dict[str, Any]], columns: Sequence[str],
             config_hash: str) -> dict[str, Any]:
    """Manifest of a stage's output: count, sample-id range and a hash over the given columns of
    every row (equal hashes ⇔ equal outputs). rows must come in sample_id order."""
    digest = hashlib.sha256()
    count = 0
    first = last = None
    for row in rows:
        count += 1
        first = first or row["sample_id"]
        last = row["sample_id"]
        digest.update(json.dumps([row.get(c) for c in columns], ensure_ascii=False,
                                 default=str).encode())
        digest.update(b"\n")
    return {
        "run_id": run_id,
        "stage": stage,
        "count": count,
        "field_hash": digest.hexdigest(),
        "columns": list(columns),
        "min_sample_id": first,
        "max_sample_id": last,
        "created_at": time.time(),
        "config_hash": config_hash,
        "code_version": __version__,
    }
