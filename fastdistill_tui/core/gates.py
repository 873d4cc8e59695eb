"""Quality gates (DESIGN §4). The teacher-eval gate checks the teacher's answers before any of
them are selected; every threshold is configurable and 0 disables that check.

Every default check can fail on a teacher whose queries all execute: besides the execution
rate, the gold-match rate, and the LLM judge's mean score when an LLM judge is configured.
With the rule score (1 for a gold match, 0.5 for any query that executes) there is no judge
and no score check: the mean rule score says nothing the two rates do not, and a threshold on
it would pass on any SQL that runs.

Questions without gold SQL have no gold-match rate: where a run has them, the gate checks the
share of them kept by agreement (agreement_rate) and the gold-match rate over the questions
with gold only; a run with none of those has no gold-match check at all."""

from __future__ import annotations

from dataclasses import dataclass, field

from .config import TeacherEvalGate
from .events import GateEvaluated
from .runs import resume_command
from .misses import MissTally, format_misses, misses_title

TEACHER_EVAL = "teacher_eval"


@dataclass
class TeacherQuality:
    """Counts over the answers scored so far (rows whose gold SQL executes, and rows without
    gold SQL). `llm_judge`: the scores are an LLM judge's (eval.judge = "llm"), not the rule
    score."""

    llm_judge: bool = False
    total: int = 0
    exec_ok: int = 0
    labelled: int = 0  # answers to questions with gold SQL
    gold_match: int = 0
    unlabelled: int = 0  # answers to questions without: checked by agreement
    agreed: int = 0
    score_sum: float = 0.0
    misses: MissTally = field(default_factory=MissTally)  # why the others were not kept

    def add(self, exec_ok: bool, gold_match: bool, score: float, reason: str | None = None,
            detail: str | None = None, agreed: bool | None = None) -> None:
        """`agreed`: None for a question with gold SQL, else whether agreement kept it."""
        self.total += 1
        self.exec_ok += exec_ok
        self.score_sum += score
        if agreed is None:
            self.labelled += 1
            self.gold_match += gold_match
        else:
            self.unlabelled += 1
            self.agreed += agreed
        self.misses.add(gold_match or bool(agreed), reason, detail)

    def rate(self, count: float, of: int | None = None) -> float:
        """count / `of` (default: every answer); 0 when there is nothing to count."""
        of = self.total if of is None else of
        return count / of if of else 0.0


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
    }
    if quality.labelled or not quality.unlabelled:
        checks["gold_match_rate"] = (quality.rate(quality.gold_match, quality.labelled),
                                     gate.gold_match_rate)
    if quality.unlabelled:
        checks["agreement_rate"] = (quality.rate(quality.agreed, quality.unlabelled),
                                    gate.agreement_rate)
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
            + (f" ({gate_misses_title(event)}: {misses})" if misses else ""))


def gate_misses_title(event: GateEvaluated) -> str:
    """What the gate's misses are: questions with gold SQL have a gold-match check, those
    without an agreement check."""
    return misses_title("gold_match_rate" in event.metrics, "agreement_rate" in event.metrics)


def override_hint(gate: str, run_id: str) -> str:
    return (f"to continue anyway: {resume_command(run_id)} --override-gate {gate} (or "
            f"FASTDISTILL_TEACHER_EVAL_GATE=0), or lower the thresholds under [gates.{gate}] in "
            f"the config")
