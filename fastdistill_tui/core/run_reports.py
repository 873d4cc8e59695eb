"""Per-stage quality reports and manifests of a run, plus its timing report, computed from the
store in one pass over the results (in sample_id order), so a resumed run reports on all of it."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import artifacts
from .misses import MissTally
from .stages.registry import (STUDENT_EVAL_PHASES, StageInfo, stages, timing_labels,
                              upstream)
from .store import Store

Row = dict[str, Any]


@dataclass(frozen=True)
class StageView:
    """Which stored results a stage kept and why it rejected the rest, and which columns are its
    output (hashed into the manifest). A result enters a stage when the stage it reads from
    (registry.upstream) entered and kept it."""

    stage: str
    upstream: str  # "" for the first stage, which every stored result enters
    kept: Callable[[Row], bool]
    reason: Callable[[Row], str | None]
    columns: tuple[str, ...]


def _reason(r: Row) -> str | None:
    return r["reason"]


def _select_reason(r: Row, min_score: float) -> str:
    if r["rejected_at"]:
        return r["reason"]
    return "gold_empty" if r["gold_empty"] else f"score_below_{min_score:g}"


#: What the stages that are not answer stages keep, as a column of the result row.
KEPT_COLUMN = {"gold_check": "gold_ok", "teacher": "teacher_ok", "select": "selected"}


def _kept(info: StageInfo) -> Callable[[Row], bool]:
    column = KEPT_COLUMN.get(info.name)
    if column:
        return lambda r: bool(r[column])
    if info.kind == "answer" and not info.on_rejected:  # keeps what it did not reject
        return lambda r: r["rejected_at"] != info.name
    return lambda r: True


class WikiSQLTally:
    """The official WikiSQL metrics over samples with a logical form (whose gold executes)."""

    def __init__(self) -> None:
        self.total = self.lf = self.exec = self.exec_total = 0

    def add(self, row: Row) -> None:
        if row["lf_match"] is None:
            return
        self.total += 1
        self.lf += row["lf_match"]
        if row["lf_exec_match"] is not None:
            self.exec_total += 1
            self.exec += row["lf_exec_match"]

    def report(self) -> dict[str, Any]:
        return {"total": self.total,
                "logical_form_accuracy": self.lf / self.total,
                "execution_accuracy": self.exec / self.exec_total if self.exec_total else 0.0,
                "execution_total": self.exec_total}


def stage_views(min_score: float, selected: bool) -> list[StageView]:
    """A view per stored-result stage of the registry, in pipeline order (select and export
    only once selected)."""
    views = []
    for info in stages("gold", "teacher", "answer", "barrier"):
        if info.kind == "barrier" and not selected:
            continue
        reason = _reason
        if info.name == "gold_check":
            reason = lambda r: r["reason"] or "gold_error"  # noqa: E731
        elif info.name == "select":
            reason = lambda r: _select_reason(r, min_score)  # noqa: E731
        views.append(StageView(info.name, upstream(info.name) if views else "", _kept(info),
                               reason, info.columns))
    return views


def write_run_reports(store: Store, run_id: str, run_dir: Path, *, config_hash: str,
                      min_score: float, selected: bool, read: int, duplicates: int,
                      extras: dict[str, dict[str, Any]],
                      student: dict[str, Any] | None = None,
                      left_out: Collection[str] = ()) -> None:
    """read/duplicates: rows the producer read and dropped as duplicates (not stored);
    extras: additional fields per stage's quality report; student: what the student stages
    did (empty when they did not run); left_out: stages the run did not have (an answer round
    that was off), which get no report."""
    reports, manifests = run_dir / "reports", run_dir / "manifests"
    _write_ingest_reports(store, run_id, reports, manifests, config_hash, read, duplicates)
    views = stage_views(min_score, selected)
    tallies = {v.stage: artifacts.QualityTally(run_id, v.stage) for v in views}
    digests = {v.stage: artifacts.ManifestDigest(run_id, v.stage, v.columns, config_hash)
               for v in views}
    wikisql = WikiSQLTally()
    misses = MissTally()
    for row in store.results(run_id):
        if row["gold_ok"]:
            wikisql.add(row)
            misses.add(bool(row["gold_match"] or row["agreed"]), row["reason"], row["detail"])
        passed: dict[str, bool] = {}  # stage -> the row entered and was kept there
        for view in views:
            if view.upstream and not passed[view.upstream]:
                passed[view.stage] = False
                continue
            kept = passed[view.stage] = view.kept(row)
            tallies[view.stage].add(row, kept, None if kept else view.reason(row))
            digests[view.stage].add(row)
    for view in views:
        if view.stage in left_out:
            continue
        extra = dict(extras.get(view.stage) or {})
        if view.stage in ("score", "select"):  # why answers missed the gold, all of them
            extra.update(misses.report())
        if view.stage == "score" and wikisql.total:
            extra["wikisql"] = wikisql.report()
        if view.stage == "select":  # answered and executed, but nothing to check them against
            extra["dropped_gold_empty"] = tallies["select"].reasons["gold_empty"]
        report = tallies[view.stage].report(extra)
        artifacts.write_json(reports / f"{view.stage}.quality_report.json", report)
        artifacts.write_json(manifests / f"{view.stage}.manifest.json",
                             digests[view.stage].manifest())
    if student:
        _write_student_reports(store, run_id, reports, manifests, config_hash, student)
    artifacts.write_json(reports / "timing_report.json",
                         artifacts.timing_report(run_id, store.all_marks(run_id),
                                                 timing_labels()))


def _write_student_reports(store: Store, run_id: str, reports: Path, manifests: Path,
                           config_hash: str, student: dict[str, Any]) -> None:
    """student_eval_pre/post from their stored answers (kept = the SQL executed), train from
    its loss curve and adapter."""
    shared = {key: student[key] for key in ("model", "eval_split", "disjoint_from_distilled",
                                            "distilled_overlap", "teacher_on_eval",
                                            "eval_databases") if key in student}
    for stage, phase in STUDENT_EVAL_PHASES.items():
        if stage not in student:
            continue
        tally = artifacts.QualityTally(run_id, stage)
        digest = artifacts.ManifestDigest(run_id, stage, ("sample_id", "sql", "exec_ok",
                                                          "gold_match", "reason"), config_hash)
        for row in store.student_results(run_id, phase):
            tally.add(row, bool(row["exec_ok"]), row["reason"])
            digest.add(row)
        artifacts.write_json(reports / f"{stage}.quality_report.json",
                             tally.report({"phase": phase, **shared, **student[stage]}))
        artifacts.write_json(manifests / f"{stage}.manifest.json", digest.manifest())
    train = student.get("train")
    if train is None:
        return
    adapter = Path(train["adapter_dir"]) / "adapters.safetensors"
    tally = artifacts.QualityTally(run_id, "train")
    tally.total = tally.kept = train["iteration"]
    artifacts.write_json(reports / "train.quality_report.json", tally.report({
        "exec_pass_rate": None, "gold_match_rate": None, "score": None,
        "model": student["model"], "blas": student["blas"], "plan": student["plan"], **train}))
    manifest = artifacts.ManifestDigest(run_id, "train", ("adapter",), config_hash).manifest()
    manifest.update(count=train["iteration"], field_hash=artifacts.file_sha256(adapter)
                    if adapter.exists() else None, adapter=str(adapter))
    artifacts.write_json(manifests / "train.manifest.json", manifest)


def _write_ingest_reports(store: Store, run_id: str, reports: Path, manifests: Path,
                          config_hash: str, read: int, duplicates: int) -> None:
    """canonical and dedup: their outputs are the stored samples (duplicates are not stored)."""
    digests = {stage: artifacts.ManifestDigest(run_id, stage, columns, config_hash)
               for stage, columns in (("canonical", ("sample_id", "question", "schema_hash")),
                                      ("dedup", ("sample_id", "seq")))}
    for sample_id, seq, question, schema_hash in store.stored_samples(run_id):
        row = {"sample_id": sample_id, "seq": seq, "question": question,
               "schema_hash": schema_hash}
        for digest in digests.values():
            digest.add(row)
    for stage, kept, rejected in (("canonical", read, 0), ("dedup", read - duplicates,
                                                            duplicates)):
        tally = artifacts.QualityTally(run_id, stage)
        tally.total, tally.kept = kept + rejected, kept
        if rejected:
            tally.reasons["duplicate"] = rejected
        # nothing has executed yet at these stages: the rates do not apply
        not_yet = {"exec_pass_rate": None, "gold_match_rate": None, "score": None}
        artifacts.write_json(reports / f"{stage}.quality_report.json", tally.report(not_yet))
        artifacts.write_json(manifests / f"{stage}.manifest.json", digests[stage].manifest())
