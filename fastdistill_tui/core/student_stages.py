"""The student half of a run, after export: student_eval_pre -> train -> student_eval_post.

The engine calls `run_student_stages(engine, ...)` once the export is written; this module owns
the orchestration (which questions, which model, what a cancel or a crash means) and reports
through the engine's events, stage counters and log, so the engine itself stays one loop.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import events as ev
from .datasets.base import Dataset
from .datasets.db_split import DatabaseSplit
from .sql.evaluator import Evaluator
from .stages.base import WorkItem
from .stages.registry import STUDENT_EVAL_PHASES
from .stages.score import Scorer
from .stages.student_eval import (EvalSummary, StudentModel, eval_items, evaluate_student,
                                  model_key)
from .stages.teacher import TeacherStage
from .stages.teacher_on_eval import PHASE as TEACHER_PHASE
from .stages.teacher_on_eval import teacher_on_eval
from .stages.train import TrainOutcome, train_student
from .student.blas import INSTALL_HINT, Blas, find_blas
from .student.client import StudentError
from .student.profiles import TrainPlan, plan_for

if TYPE_CHECKING:
    from .engine import Engine


async def run_student_stages(engine: Engine, dataset: Dataset, evaluator: Evaluator,
                             scorer: Scorer, cancel: threading.Event,
                             teacher: TeacherStage) -> str:
    """The run's status after the student stages: completed, cancelled or student_failed."""
    student = engine.config.student
    plan = plan_for(student)
    blas = find_blas(student.blas_threads or None)
    if blas.name == "bundled":
        engine.log("warning", INSTALL_HINT)
    split = engine.config.dataset.eval_split or dataset.default_eval_split
    examples = []
    for example in dataset.iter_examples(split):
        if plan.eval_limit and len(examples) >= plan.eval_limit:
            break
        examples.append(example)
    items = eval_items(examples)
    overlap = engine.store.distilled_overlap(engine.run_id, [i.sample_id for i in items])
    base = StudentModel(engine._student_dir, model_key(engine._student_dir))
    engine._student_report = {
        "model": student.spec, "model_dir": str(engine._student_dir), "blas": blas.name,
        "plan": dataclasses.asdict(plan), "eval_split": split,
        "distilled_overlap": overlap, "disjoint_from_distilled": overlap == 0}
    engine.log("info", f"student {student.spec}: {plan.profile} profile, {blas.name} BLAS; "
                       f"evaluating {len(items)} questions of the '{split}' split, "
                       + ("disjoint from the distilled samples" if overlap == 0 else
                          f"{overlap} of them also distilled (not disjoint)"))
    if isinstance(dataset, DatabaseSplit):
        engine._student_report["eval_databases"] = dataset.describe(
            engine.store.distilled_db_paths(engine.run_id))
    await _teacher_rates(engine, items, teacher, evaluator)
    try:
        pre = await _student_eval(engine, "student_eval_pre", base, items, plan, evaluator,
                                  scorer, blas, cancel)
        if pre.stopped:
            return engine._cancelled()
        data_dir = engine.run_dir / "mlx"
        if not (data_dir / "train.jsonl").stat().st_size:  # nothing was selected for train
            engine.log("warning", "no exported examples to train on: train and "
                                  "student_eval_post skipped")
            return "completed"
        trained = await _train(engine, plan, base, data_dir, blas, cancel)
        if trained.status == "stopped":
            return engine._cancelled()
        tuned = dataclasses.replace(base, adapter=trained.adapter_dir,
                                    adapter_key=trained.key)
        post = await _student_eval(engine, "student_eval_post", tuned, items, plan,
                                   evaluator, scorer, blas, cancel)
        if post.stopped:
            return engine._cancelled()
    except StudentError as exc:
        engine._stop_message = (f"{exc}; the run is kept: resume with "
                                f"`fastdistill run --headless --resume {engine.run_id}`")
        return "student_failed"
    engine.log("info", f"student {student.spec} on {post.total} eval questions: exec-pass "
                       f"{pre.exec_pass_rate:.3f} -> {post.exec_pass_rate:.3f}, gold-match "
                       f"{pre.gold_match_rate:.3f} -> {post.gold_match_rate:.3f}")
    return "completed"


async def _teacher_rates(engine: Engine, items: list[WorkItem], teacher: TeacherStage,
                         evaluator: Evaluator) -> None:
    """The teacher's rates on the same eval questions, beside the student's."""
    from .engine import UNREACHABLE_AFTER  # the engine's own limit (it imports this module)

    rates = await teacher_on_eval(items, teacher, evaluator, engine.config.teacher.concurrency,
                                  give_up_after=UNREACHABLE_AFTER)
    engine._student_report["teacher_on_eval"] = dataclasses.asdict(rates) | {
        "exec_pass_rate": rates.exec_pass_rate, "gold_match_rate": rates.gold_match_rate}
    engine.emit(ev.StudentMetrics(engine.run_id, phase=TEACHER_PHASE, total=rates.total,
                                  exec_pass_rate=rates.exec_pass_rate,
                                  gold_match_rate=rates.gold_match_rate))
    if rates.failed:
        engine.log("warning", f"the teacher gave no answer to {rates.failed} of {rates.total} "
                              "eval questions: its rates count them as misses")


async def _student_eval(engine: Engine, stage: str, model: StudentModel,
                        items: list[WorkItem], plan: TrainPlan, evaluator: Evaluator,
                        scorer: Scorer, blas: Blas, cancel: threading.Event) -> EvalSummary:
    engine._start_stage(stage)
    counter = engine.counters[stage]
    last = [0.0]

    def progress(done: int, total: int) -> None:
        counter.done = done
        now = time.monotonic()
        if now - last[0] >= ev.PROGRESS_INTERVAL_S or done == total:
            last[0] = now
            rate = done / max(now - counter.started, 1e-6)
            engine.emit(ev.StageProgress(engine.run_id, stage=stage, done=done, total=total,
                                         rate_per_s=rate,
                                         eta_s=(total - done) / rate if rate > 0 else None))

    summary = await evaluate_student(
        STUDENT_EVAL_PHASES[stage], model, items, store=engine.store, run_id=engine.run_id,
        evaluator=evaluator, scorer=scorer, max_tokens=plan.max_tokens,
        batch_size=engine.config.student.eval_batch_size, blas=blas, cancel=cancel,
        progress=progress)
    counter.done, counter.kept = summary.total, summary.exec_ok
    counter.rejected = summary.total - summary.exec_ok
    engine._student_report[stage] = {"generated": summary.generated,
                                     "seconds_generating": summary.seconds_generating}
    if not summary.stopped:
        engine._finish_stage(stage)
        engine.emit(ev.StudentMetrics(engine.run_id, phase=summary.phase,
                                      total=summary.total,
                                      exec_pass_rate=summary.exec_pass_rate,
                                      gold_match_rate=summary.gold_match_rate))
    return summary


async def _train(engine: Engine, plan: TrainPlan, model: StudentModel, data_dir: Path,
                 blas: Blas, cancel: threading.Event) -> TrainOutcome:
    engine._start_stage("train")
    counter = engine.counters["train"]
    session = {"first": 0.0, "from": 0, "val_loss": None}

    def progress(message: dict[str, Any]) -> None:
        if message["type"] == "val":
            session["val_loss"] = message["val_loss"]
            return
        now, iteration = time.monotonic(), message["iteration"]
        if not session["first"]:
            session["first"], session["from"] = now, iteration
        counter.done = iteration
        done_here = iteration - session["from"]
        eta = ((now - session["first"]) / done_here * (message["total"] - iteration)
               if done_here else None)
        engine.emit(ev.TrainProgress(engine.run_id, iteration=iteration,
                                     total_iterations=message["total"], loss=message["loss"],
                                     val_loss=session["val_loss"],
                                     tokens_per_s=message["tokens_per_s"], eta_s=eta))

    outcome = await train_student(plan, model.path, model.key, data_dir,
                                  adapters_root=engine.config.data_dir / "adapters",
                                  run_adapters=engine.run_dir / "adapters", blas=blas,
                                  cancel=cancel, progress=progress)
    counter.done = counter.kept = outcome.iteration
    if outcome.status == "reused":
        engine.log("info", f"reusing the finished adapter {outcome.adapter_dir}")
    elif outcome.resumed_from:
        engine.log("info", f"training resumed at iteration {outcome.resumed_from}")
    engine._student_report["train"] = {
        "status": outcome.status, "adapter_dir": str(outcome.adapter_dir),
        "adapter_key": outcome.key, "iteration": outcome.iteration,
        "total_iterations": outcome.total, "resumed_from": outcome.resumed_from,
        "seconds": outcome.seconds, "tokens_per_s": outcome.tokens_per_s,
        "loss_curve": outcome.losses, "val_loss_curve": outcome.val_losses}
    if outcome.status != "stopped":
        engine._finish_stage("train")
    return outcome
