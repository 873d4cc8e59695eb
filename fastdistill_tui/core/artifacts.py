"""Run artifacts with the schemas of DESIGN §3: manifest.json, quality_report.json per stage and
timing_report.json per run. All files are written atomically (temp file + rename)."""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .. import __version__


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False) + "\n",
                   encoding="utf-8")
    os.replace(tmp, path)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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


def timing_report(run_id: str, marks_per_sample: Iterable[dict[str, float]],
                  labels: Sequence[str]) -> dict[str, Any]:
    """Durations between consecutive marks of each sample (in the order of `labels`, the
    pipeline's), summarised per transition.

    `share` of a transition is its summed time over the summed time of all transitions, so the
    shares add up to 1 and show where the run's time went.
    """
    durations: dict[str, array[float]] = {}  # 8 bytes a value: 100k-sample runs stay small
    totals: array[float] = array("d")
    for marks in marks_per_sample:
        present = [label for label in labels if label in marks]
        for a, b in zip(present, present[1:]):
            key = f"{a}__to__{b}"
            durations.setdefault(key, array("d")).append(max(0.0, marks[b] - marks[a]))
        if len(present) >= 2:
            totals.append(max(0.0, marks[present[-1]] - marks[present[0]]))
    ordered = sorted(durations, key=lambda k: labels.index(k.split("__to__")[0]))
    summaries = {k: summarize(durations[k]) for k in ordered}
    grand = sum(sum(v) for v in durations.values())
    for key in ordered:
        summaries[key]["share"] = (sum(durations[key]) / grand) if grand > 0 else 0.0
    return {
        "run_id": run_id,
        "labels": list(labels),
        "durations": summaries,
        "total": summarize(totals),
        "created_at": time.time(),
    }


class QualityTally:
    """Quality numbers of one stage, fed one row at a time (rows as stored in results: exec_ok,
    gold_match, score, reason, agreed), so every stage's report comes out of one pass over a
    run. The gold-match rate counts the rows with gold SQL only; rows without (agreed is not
    None) get an agreement rate of their own."""

    def __init__(self, run_id: str, stage: str) -> None:
        self.run_id, self.stage = run_id, stage
        self.total = self.kept = self.exec_ok = self.gold = 0
        self.unlabelled = self.agreed = 0
        self.score_sum = 0.0
        self.score_min: float | None = None
        self.score_max: float | None = None
        self.reasons: Counter[str] = Counter()
        self.exec_errors: Counter[str] = Counter()

    def add(self, row: dict[str, Any], kept: bool, reason: str | None) -> None:
        self.total += 1
        self.exec_ok += bool(row["exec_ok"])
        self.gold += bool(row["gold_match"])
        if row.get("agreed") is not None:
            self.unlabelled += 1
            self.agreed += bool(row["agreed"])
        score = float(row["score"])
        self.score_sum += score
        self.score_min = score if self.score_min is None else min(self.score_min, score)
        self.score_max = score if self.score_max is None else max(self.score_max, score)
        if kept:
            self.kept += 1
        else:
            self.reasons[reason or "unknown"] += 1
        if not row["exec_ok"] and row.get("reason"):
            self.exec_errors[row["reason"]] += 1

    def report(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        total = self.total
        labelled = total - self.unlabelled
        report = {
            "run_id": self.run_id,
            "stage": self.stage,
            "total": total,
            "kept": self.kept,
            "rejected": total - self.kept,
            "p_keep": self.kept / total if total else 0.0,
            "exec_pass_rate": self.exec_ok / total if total else 0.0,
            # None where every row lacks gold SQL: there is nothing to match
            "gold_match_rate": (self.gold / labelled if labelled
                                else None if self.unlabelled else 0.0),
            "score": {  # the rule score or, when configured, the LLM judge's
                "min": self.score_min or 0.0,
                "max": self.score_max or 0.0,
                "mean": self.score_sum / total if total else 0.0,
            },
            "reject_reason_counts": dict(sorted(self.reasons.items())),
            "exec_error_counts": dict(sorted(self.exec_errors.items())),
            "created_at": time.time(),
        }
        if self.unlabelled:
            report["no_gold"] = self.unlabelled
            report["agreement_rate"] = self.agreed / self.unlabelled
        report.update(extra or {})
        return report


class ManifestDigest:
    """Manifest of a stage's output: count, sample-id range and a hash over the given columns
    of every row (equal hashes ⇔ equal outputs). Rows must be added in sample_id order."""

    def __init__(self, run_id: str, stage: str, columns: Sequence[str], config_hash: str) -> None:
        self.run_id, self.stage, self.columns = run_id, stage, tuple(columns)
        self.config_hash = config_hash
        self.digest = hashlib.sha256()
        self.count = 0
        self.first: str | None = None
        self.last: str | None = None

    def add(self, row: dict[str, Any]) -> None:
        self.count += 1
        self.first = self.first or row["sample_id"]
        self.last = row["sample_id"]
        # repr of str/int/float/None is exact and unambiguous, and cheaper than JSON
        self.digest.update(repr(tuple(row[c] for c in self.columns)).encode(
            "utf-8", "surrogatepass"))
        self.digest.update(b"\n")

    def manifest(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "stage": self.stage,
            "count": self.count,
            "field_hash": self.digest.hexdigest(),
            "columns": list(self.columns),
            "min_sample_id": self.first,
            "max_sample_id": self.last,
            "created_at": time.time(),
            "config_hash": self.config_hash,
            "code_version": __version__,
        }
