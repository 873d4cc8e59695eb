"""`fastdistill report`: a run's quality and timing summary from its artifacts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .config import Config
from .runs import run_dir_for
from .stages.registry import stage_names
from .misses import format_misses, misses_title
from .store import Store


def read_reports(run_dir: Path) -> tuple[dict[str, dict[str, Any]], dict[str, Any] | None]:
    """A run's quality reports by stage, in pipeline order, and its timing report (None when
    there is none yet)."""
    stages = {}
    for stage in stage_names():
        path = run_dir / "reports" / f"{stage}.quality_report.json"
        if path.exists():
            stages[stage] = json.loads(path.read_text(encoding="utf-8"))
    timing_path = run_dir / "reports" / "timing_report.json"
    timing = json.loads(timing_path.read_text(encoding="utf-8")) if timing_path.exists() else None
    return stages, timing


def load_report(config: Config, store: Store, run_id: str) -> dict[str, Any]:
    run = store.get_run(run_id)
    run_dir = run_dir_for(config, run_id)
    stages, timing = read_reports(run_dir)
    evaluation = json.loads(run["config_json"]).get("eval", {})
    return {
        "run_id": run_id,
        "status": run["status"],
        "dataset": run["dataset"],
        "teacher": run["teacher"],
        "run_dir": str(run_dir),
        "gate_decisions": json.loads(run["gate_decisions"]),
        "checks": checks_of(evaluation),
        "stages": stages,
        "timing": timing,
    }


def checks_of(evaluation: dict[str, Any]) -> dict[str, str]:
    """How a run's answers were checked, in words, from its [eval] config."""
    judge = evaluation.get("judge", "rule")
    return {
        "score": (f"LLM judge {evaluation.get('judge_spec', '')} (beside the execution verdict)"
                  if judge == "llm" else
                  "rule score (1 gold match, 0.5 executes, 0 otherwise; not a judge)"),
        "duplicates": {"bag": "bag (duplicate rows count)",
                       "set": "set (duplicate rows ignored)"}[evaluation.get("duplicates",
                                                                             "bag")],
        "test_suite": {"on": "on (gold matches rechecked on perturbed copies of the database)",
                       "auto": "auto (on, except for WikiSQL-format samples)",
                       "off": "off"}.get(str(evaluation.get("test_suite", "off")), "off"),
    }


def misses_line(stages: dict[str, dict[str, Any]]) -> str:
    """'answers missing the gold: row_count 453, ...' from the score report; '' when none."""
    score = stages.get("score") or {}
    text = format_misses(score.get("mismatch_reason_counts") or {},
                         score.get("exec_error_messages") or {})
    unlabelled = score.get("no_gold", 0)
    title = misses_title(score.get("total", 0) > unlabelled, bool(unlabelled))
    return f"{title}: {text}" if text else ""


def no_gold_line(stages: dict[str, dict[str, Any]]) -> str:
    """'no gold SQL: 6 questions, 50.0% kept by agreement' from the score report; '' when
    every question has gold SQL."""
    score = stages.get("score") or {}
    if not score.get("no_gold"):
        return ""
    return (f"no gold SQL: {score['no_gold']} questions, checked by agreement (gold% counts "
            f"the others); {score['agreement_rate'] * 100:.1f}% of them agreed")


def format_report(report: dict[str, Any]) -> str:
    checks = report.get("checks") or {}
    lines = [f"run {report['run_id']} — {report['status']}",
             f"dataset {report['dataset']}  teacher {report['teacher']}",
             f"dir {report['run_dir']}",
             *(f"{name.replace('_', ' ')}: {text}" for name, text in checks.items()), "",
             f"{'stage':<18}{'total':>8}{'kept':>8}{'rejected':>9}{'exec%':>8}{'gold%':>8}"
             f"{'score':>7}  top reject reasons"]
    for stage, q in report["stages"].items():
        reasons = sorted(q["reject_reason_counts"].items(), key=lambda kv: -kv[1])[:3]
        # "judge_score": the name before the rule score stopped being called a judge
        gold = q["gold_match_rate"]
        rates = (f"{'-':>8}{'-':>8}{'-':>7}" if q["exec_pass_rate"] is None else
                 f"{q['exec_pass_rate'] * 100:>7.1f}%"
                 + (f"{'-':>8}" if gold is None else f"{gold * 100:>7.1f}%")
                 + f"{(q.get('score') or q.get('judge_score', {}))['mean']:>7.2f}")
        lines.append(f"{stage:<18}{q['total']:>8}{q['kept']:>8}{q['rejected']:>9}{rates}  "
                     + ", ".join(f"{k} {v}" for k, v in reasons))
    misses = misses_line(report["stages"])
    no_gold = no_gold_line(report["stages"])
    if misses or no_gold:
        lines += ["", *(line for line in (no_gold, misses) if line)]
    lines += _student_context(report["stages"])
    for decision in report["gate_decisions"]:
        lines.append(f"gate {decision['gate']}{' (early)' if decision['early'] else ''}: "
                     f"{'proceed' if decision['proceed'] else 'stop'}"
                     f"{' (override by ' + decision['by'] + ')' if decision['overridden'] else ''}")
    timing = report["timing"]
    if timing and timing["durations"]:
        lines += ["", f"{'transition':<26}{'count':>8}{'p50 ms':>10}{'p90 ms':>10}"
                      f"{'share':>8}"]
        for name, d in timing["durations"].items():
            lines.append(f"{name:<26}{d['count']:>8}{d['p50'] * 1000:>10.2f}"
                         f"{d['p90'] * 1000:>10.2f}{d['share'] * 100:>7.1f}%")
        total = timing["total"]
        lines.append(f"{'total per sample':<26}{total['count']:>8}{total['p50'] * 1000:>10.2f}"
                     f"{total['p90'] * 1000:>10.2f}")
    return "\n".join(lines)


def _student_context(stages: dict[str, dict[str, Any]]) -> list[str]:
    """The teacher's rates on the student's eval questions and the by-database split."""
    q = stages.get("student_eval_post") or stages.get("student_eval_pre") or {}
    lines = []
    teacher = q.get("teacher_on_eval")
    if teacher:
        lines.append(f"teacher on the same {teacher['total']} eval questions: exec "
                     f"{teacher['exec_pass_rate'] * 100:.1f}%, gold "
                     f"{teacher['gold_match_rate'] * 100:.1f}%"
                     + (f" ({teacher['failed']} unanswered)" if teacher["failed"] else ""))
    split = q.get("eval_databases")
    if split:
        held = split["held_out_databases"]
        lines.append(f"eval split by database (fraction {split['fraction']}, seed "
                     f"{split['seed']}): {len(held)} held-out databases, "
                     f"{split['held_out_questions']} questions ({', '.join(held[:6])}"
                     f"{', …' if len(held) > 6 else ''}); distilled from "
                     f"{split['distilled_databases']} others; disjoint: "
                     f"{'yes' if split['databases_disjoint'] else 'NO'}")
    return lines
