"""The headless progress line: counters from one moment, the teacher's current rate, retries and
429 pauses, and gate lines that say what each number is."""

from __future__ import annotations

import io

from fastdistill_tui import cli
from fastdistill_tui.core import events as ev


def printer() -> tuple[cli.HeadlessPrinter, io.StringIO]:
    out = io.StringIO()
    return cli.HeadlessPrinter(out, every_s=1e9), out  # lines only when asked


def progress(stage: str, done: int, total: int, ts: float) -> ev.StageProgress:
    return ev.StageProgress("r", stage=stage, done=done, total=total, ts=ts)


def test_a_finished_stage_shows_its_final_count_not_a_stale_one():
    p, out = printer()
    for stage in ("canonical", "dedup", "gold_check"):
        p(ev.StageStarted("r", stage=stage))
    p(progress("canonical", 1081, 0, 1.0))
    p(progress("gold_check", 1000, 1300, 1.0))
    p(ev.StageFinished("r", stage="canonical", total=1300, kept=1300, rejected=0, seconds=2.0))
    p(progress("gold_check", 1261, 1300, 3.0))
    p.status_line()
    line = out.getvalue().splitlines()[-1]
    assert line == "canonical 1300/1300 | dedup 0 | gold_check 1261/1300"


def test_the_teacher_shows_its_current_rate_retries_and_429_pauses():
    p, out = printer()
    p(progress("teacher", 0, 3000, 0.0))
    p(progress("teacher", 1400, 3000, 10.0))  # 140/s
    p(progress("teacher", 1610, 3000, 20.0))  # then 21/s: faults slowed it down
    p(ev.RequestStats("r", cached=0, fresh=1610, failed=0, in_flight=32, tokens_in=0,
                      tokens_out=0, cost=0.0, retries=340, rate_limited=120, paused_s=12.4))
    p.status_line()
    line = out.getvalue().splitlines()[-1]
    assert line.startswith("teacher 1610/3000 21.0/s")
    assert "retries 340 429s 120 (paused 12s by the server)" in line


def test_gate_lines_name_each_number():
    p, out = printer()
    p(ev.GateEvaluated("r", gate="teacher_eval", passed=True, early=False, metrics={
        "min_total": {"value": 1300.0, "threshold": 50.0, "passed": True},
        "exec_pass_rate": {"value": 0.7, "threshold": 0.5, "passed": True}}))
    p(ev.GateDecided("r", gate="teacher_eval", proceed=True, overridden=True,
                     by="--override-gate"))
    first, second = out.getvalue().splitlines()
    assert first == ("gate teacher_eval (final) passed: answers 1300 (min_total 50), "
                     "exec_pass_rate 0.700 (≥ 0.500)")
    assert second == "gate teacher_eval overridden (--override-gate)"


def test_training_finishes_with_its_iterations_not_kept_and_rejected():
    p, out = printer()
    p(ev.StageFinished("r", stage="train", total=45, kept=45, rejected=0, seconds=307.8))
    p(ev.StageFinished("r", stage="student_eval_post", total=96, kept=52, rejected=44,
                       seconds=117.6))
    assert out.getvalue().splitlines() == [
        "[train] done: 45 iterations in 307.8s",
        "[student_eval_post] done: 52 kept, 44 rejected in 117.6s"]


def test_a_status_line_holds_one_tick_of_counters_and_waits_for_its_request_stats():
    out = io.StringIO()
    p = cli.HeadlessPrinter(out, every_s=2.0)
    for stage in ("canonical", "dedup", "gold_check"):
        p(ev.StageStarted("r", stage=stage))
    p(progress("canonical", 255, 1300, 5.0))  # the first of the tick: no line yet
    p(progress("dedup", 250, 1300, 5.0))
    p(progress("gold_check", 200, 1300, 5.0))
    assert out.getvalue() == ""
    p(ev.RequestStats("r", cached=0, fresh=0, failed=0, in_flight=0, tokens_in=0,
                      tokens_out=0, cost=0.0, ts=5.0))
    assert out.getvalue().splitlines() == [
        "canonical 255/1300 | dedup 250/1300 | gold_check 200/1300 | requests cached 0 "
        "fresh 0 failed 0 in-flight 0 ready 0 retries 0 cost $0.0000"]


def test_training_says_what_it_does_between_iterations():
    """Loading and validating take many seconds with no iteration ending: the line says so."""
    out = io.StringIO()
    p = cli.HeadlessPrinter(out, every_s=0)
    p(ev.TrainProgress("r", iteration=0, total_iterations=45, step="validating 2/4", ts=1.0))
    p(ev.TrainProgress("r", iteration=45, total_iterations=45, loss=0.1, tokens_per_s=20.0,
                       eta_s=0.0, ts=2.0))
    lines = out.getvalue().splitlines()
    assert lines[0] == "[train] iteration 0/45: validating 2/4"
    assert lines[1].startswith("[train] iteration 45/45 loss 0.100")
