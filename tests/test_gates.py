"""The teacher-eval gate's defaults: every default check can fail, and none passes on what
every executing query gets (the rule score's 0.5); the LLM judge's mean is checked only when
an LLM judge scored."""

from __future__ import annotations

from fastdistill_tui.core.config import TeacherEvalGate
from fastdistill_tui.core.gates import TeacherQuality, evaluate_teacher_gate
from fastdistill_tui.core.sql.judge import rule_score


def quality_of(answers: list[tuple[bool, bool]], llm_judge: bool = False,
               judge_score: float | None = None) -> TeacherQuality:
    quality = TeacherQuality(llm_judge=llm_judge)
    for exec_ok, gold_match in answers:
        score = judge_score if judge_score is not None else rule_score(exec_ok, gold_match)
        quality.add(exec_ok, gold_match, score)
    return quality


def test_the_default_gate_fails_a_teacher_whose_sql_only_executes():
    """100 answers that all execute and 1 that matches gold (0.01): the old default passed
    judge_mean (0.5 ≥ 0.4) on it; now no default metric is the rule score."""
    gate = TeacherEvalGate()
    event = evaluate_teacher_gate("r", gate, quality_of([(True, False)] * 99 + [(True, True)]))
    assert not event.passed
    assert set(event.metrics) == {"min_total", "exec_pass_rate", "gold_match_rate"}
    assert not event.metrics["gold_match_rate"]["passed"]


def test_every_default_check_can_fail_on_its_own():
    gate = TeacherEvalGate()
    good = [(True, True)] * 60
    cases = {
        "min_total": quality_of(good[:10]),
        "exec_pass_rate": quality_of([(True, True)] * 20 + [(False, False)] * 40),
        "gold_match_rate": quality_of([(True, False)] * 58 + [(True, True)] * 2),
        "judge_mean": quality_of(good, llm_judge=True, judge_score=0.1),
    }
    for metric, quality in cases.items():
        event = evaluate_teacher_gate("r", gate, quality)
        failed = {name for name, m in event.metrics.items() if not m["passed"]}
        assert failed == {metric}, metric
    assert evaluate_teacher_gate("r", gate, quality_of(good, llm_judge=True,
                                                       judge_score=0.9)).passed


def test_time_held_for_a_decision_is_not_queue_time():
    """The early gate holds new requests while a person decides: the stream takes that span
    out of a sample's queue wait (stream._queued_for), so the timing bars show work."""
    from fastdistill_tui.core.config import Config
    from fastdistill_tui.core.gatekeeper import Gatekeeper

    keeper = Gatekeeper(Config(), None, "run", print, print, TeacherQuality(),
                        lambda status, message: None)
    keeper.held = [(10.0, 14.0), (20.0, None)]  # a decision of 4 s, one still open
    assert keeper.held_between(0.0, 9.0) == 0.0
    assert keeper.held_between(12.0, 16.0) == 2.0  # queued in the middle of the hold
    assert keeper.held_between(0.0, 30.0) == 4.0 + 10.0  # the open one counts up to now
    assert keeper.held_between(21.0, 22.0) == 1.0


def test_questions_without_gold_get_an_agreement_check_of_their_own():
    """A mixed run: the gold-match rate counts the questions with gold SQL only, the agreement
    rate those without; a run of only the latter has no gold-match check to fail on 0."""
    gate = TeacherEvalGate()
    mixed = quality_of([(True, True)] * 60)
    for _ in range(40):
        mixed.add(True, False, 0.5, "no_agreement", "1 of 4 answers agree", agreed=False)
    event = evaluate_teacher_gate("r", gate, mixed)
    assert event.metrics["gold_match_rate"]["value"] == 1.0
    assert event.metrics["agreement_rate"]["value"] == 0.0
    assert not event.passed and event.reasons == {"no_agreement": 40}
    unlabelled = TeacherQuality()
    for agreed in [True] * 30 + [False] * 30:
        unlabelled.add(True, False, 1.0 if agreed else 0.5, None, None, agreed=agreed)
    event = evaluate_teacher_gate("r", gate, unlabelled)
    assert set(event.metrics) == {"min_total", "exec_pass_rate", "agreement_rate"}
    assert event.passed and event.metrics["agreement_rate"]["value"] == 0.5
