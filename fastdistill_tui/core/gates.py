"""Quality gates (DESIGN §4). The teacher-eval gate checks the teacher's answers before any of
them are selected; every threshold is configurable and 0 disables that check.

Every default check can fail on a teacher whose queries all execute: besides the execution
rate, the gold-match rate, and the LLM judge's mean score when an LLM judge is configured.
With the rule score (1 for a gold match, 0.5 for any query that executes) there is no judge
and no score check: the mean rule score says nothing the two rates do not, and a threshold on
it would pass on any SQL that runs."""

from __future__ import annotations

from dataclasses import dataclass, field

from .config import TeacherEvalGate
from .events import GateEvaluated
from .runs import resume_command
from .misses import MissTally, format_misses

TEACHER_EVAL = "teacher_eval"


@dataclass
class TeacherQuality:
    """Counts over the answers scored so far (rows whose gold SQL executes). `llm_judge`: the
    scores are an LLM judge's (eval.judge = "llm"), not the rule score."""

    llm_judge: bool = False
    total: int = 0
    exec_ok: int = 0
    gold_match: int = 0
    score_sum: float = 0.0
    misses: MissTally = field(default_factory=MissTally)  # why the others missed the gold

    def add(self, exec_ok: bool, gold_match: bool, score: float, reason: str | None = None,
            detail: str | None = None) -> None:
        self.total += 1
        self.exec_ok += exec_ok
        self.gold_match += gold_match
        self.score_sum += score
        self.misses.add(gold_match, reason, detail)

    def rate(self, count: float) -> float:
        return count / self.total if self.total else 0.0


@dataclass(frozen=True)
class GateDecision:
    """A decider's answer to a failed gate: go on or stop, and who said so (recorded)."""

    proceed: bool
    by: str  # "user" (the app), "policy" (headless), ...


def evaluate_teacher_gate(run_id: str, gate: TeacherEvalGate, quality: TeacherQuality, *,
                          early: bool = False) -> GateEvaluated:
    checks = {
        "min_total": (float(quality.total), float(gate.min_total)),
        "exec_pass_rate": (quality.rate(quality.exec_ok), gate.exec_pass_rate),
        "gold_match_rate": (quality.rate(quality.gold_match), gate.gold_match_rate),
    }
    if quality.llm_judge:
        checks["judge_mean"] = (quality.rate(quality.score_sum), gate.judge_mean)
    metrics = {name: {"value": value, "threshold": threshold, "passed": value >= threshold}
               for name, (value, threshold) in checks.items()}
    passed = all(m["passed"] for m in metrics.values())
    return GateEvaluated(run_id=run_id, gate=TEACHER_EVAL, passed=passed, metrics=metrics,
                         early=early, reasons=quality.misses.reason_counts(),
                         exec_errors=quality.misses.top_messages())


def describe_failure(event: GateEvaluated) -> str:
    failed = [f"{name} {m['value']:g} < {m['threshold']:g}"
              for name, m in event.metrics.items() if not m["passed"]]
    misses = format_misses(event.reasons, event.exec_errors)
    return (f"gate {event.gate} failed: " + ", ".join(failed)
            + (f" (answers missing the gold: {misses})" if misses else ""))


def override_hint(gate: str, run_id: str) -> str:
    return (f"to continue anyway: {resume_command(run_id)} --override-gate {gate} (or "
            f"FASTDISTILL_TEACHER_EVAL_GATE=0), or lower the thresholds under [gates.{gate}] in "
            f"the config")
