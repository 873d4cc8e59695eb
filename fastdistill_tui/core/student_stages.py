"""The student half of a run, after export: student_eval_pre -> train -> student_eval_post.

The engine calls `run_student_stages(run, ...)` once the export is written, with a `StudentRun`:
the narrow part of the run these stages may use (config, store, paths, the stage tracker, the
event sink and log). This module owns the orchestration (which questions, which model, what a
cancel or a crash means); the answers are judged by the run's own answer chain.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import events as ev
from .config import Config
from .datasets.base import Dataset
from .progress import StageTracker
from .runs import RunStatus, resume_command
from .datasets.db_split import DatabaseSplit
from .stages.base import WorkItem
from .stages.chain import AnswerChain
from .stages.registry import STUDENT_EVAL_PHASES
from .stages.student_eval import (EvalSummary, StudentModel, eval_items, evaluate_student,
                                  generation_progress, model_key)
from .stages.teacher import TeacherStage
from .stages.teacher_on_eval import PHASE as TEACHER_PHASE
from .stages.teacher_on_eval import teacher_on_eval
from .stages.train import TrainOutcome, train_student
from .store import Store
from .stream import UNREACHABLE_AFTER
from .student.blas import Blas, cuda_hint, find_blas
from .student.client import StudentError, TrainingDiverged
from .student.profiles import TrainPlan, plan_for, plan_for_blas


@dataclass
class StudentRun:
    """What the student stages may use of the run; `report` collects what they did (the
    reports' student section), `message` why they stopped."""

    config: Config
    store: Store
    run_id: str
    run_dir: Path
    model_dir: Path  # the student's mlx-lm model
    tracker: StageTracker
    emit: Callable[[ev.Event], None]
    log: Callable[[str, str], None]
    report: dict[str, Any] = field(default_factory=dict)
    message: str = ""


async def run_student_stages(run: StudentRun, dataset: Dataset, chain: AnswerChain,
                             cancel: threading.Event, teacher: TeacherStage) -> str:
    """The run's status after the student stages: completed, cancelled or student_failed
    (then `run.message` says why)."""
    student = run.config.student
    blas = find_blas(student.blas_threads or None)
    plan = plan_for(student, blas)
    if hint := cuda_hint():
        run.log("warning", hint)
    split = run.config.dataset.eval_split or dataset.default_eval_split
    plan, warning = await asyncio.to_thread(  # a slow BLAS is probed: seconds
        plan_for_blas, plan, blas, run.model_dir,
        plan.eval_limit or sum(1 for _ in dataset.iter_examples(split)))
    if warning:
        run.log("warning", warning)
    examples, no_gold = [], 0
    for example in dataset.iter_examples(split):
        if plan.eval_limit and len(examples) >= plan.eval_limit:
            break
        if example.has_gold:
            examples.append(example)
        else:  # nothing to measure its answer against
            no_gold += 1
    if no_gold:
        run.report["eval_questions_without_gold"] = no_gold
        run.log("warning", f"{no_gold} questions of the '{split}' split have no gold SQL and "
                           "are left out of the student's evaluation (gold-match needs gold)"
                           + ("" if examples else ": the student is trained, not evaluated"))
    items = eval_items(examples, run.config.prompt)
    base = StudentModel(run.model_dir, model_key(run.model_dir))
    run.report.update({
        "model": student.spec, "model_dir": str(run.model_dir), "blas": blas.name,
        "plan": dataclasses.asdict(plan), "eval_split": split})
    said = f"student {student.spec}: {plan.profile} profile, {blas.name} BLAS"
    if items:
        overlap = run.store.distilled_overlap(run.run_id, [i.sample_id for i in items])
        run.report.update({"distilled_overlap": overlap, "disjoint_from_distilled": overlap == 0})
        run.log("info", f"{said}; evaluating {len(items)} questions of the '{split}' split, "
                        + ("disjoint from the distilled samples" if overlap == 0 else
                           f"{overlap} of them also distilled (not disjoint)"))
        if isinstance(dataset, DatabaseSplit):
            run.report["eval_databases"] = dataset.describe(
                run.store.distilled_db_paths(run.run_id))
        await _teacher_rates(run, items, teacher, chain)
    else:
        run.log("info", said)
    try:
        return await _evaluate_train_evaluate(run, base, items, plan, chain, blas, cancel)
    except TrainingDiverged as exc:
        run.message = str(exc)
        return RunStatus.STUDENT_FAILED
    except StudentError as exc:
        run.message = f"{exc}; the run is kept: resume with `{resume_command(run.run_id)}`"
        return RunStatus.STUDENT_FAILED


async def _evaluate_train_evaluate(run: StudentRun, base: StudentModel, items: list[WorkItem],
                                   plan: TrainPlan, chain: AnswerChain, blas: Blas,
                                   cancel: threading.Event) -> str:
    """student_eval_pre, train, student_eval_post; without eval questions (none of the eval
    split has gold SQL) training alone."""
    pre = None
    if items:
        pre = await _student_eval(run, "student_eval_pre", base, items, plan, chain, blas,
                                  cancel)
        if pre.stopped:
            return RunStatus.CANCELLED
    data_dir = run.run_dir / "mlx"
    if not (data_dir / "train.jsonl").stat().st_size:  # nothing was selected for train
        run.log("warning", "no exported examples to train on: train"
                           + (" and student_eval_post" if items else "") + " skipped")
        return RunStatus.COMPLETED
    trained = await _train(run, plan, base, data_dir, blas, cancel)
    if trained.status == "stopped":
        return RunStatus.CANCELLED
    if pre is None:
        return RunStatus.COMPLETED
    tuned = dataclasses.replace(base, adapter=trained.adapter_dir, adapter_key=trained.key)
    post = await _student_eval(run, "student_eval_post", tuned, items, plan, chain, blas,
                               cancel)
    if post.stopped:
        return RunStatus.CANCELLED
    run.log("info", f"student {run.config.student.spec} on {post.total} eval questions: "
                    f"exec-pass {pre.exec_pass_rate:.3f} -> {post.exec_pass_rate:.3f}, "
                    f"gold-match {pre.gold_match_rate:.3f} -> {post.gold_match_rate:.3f}")
    return RunStatus.COMPLETED


async def _teacher_rates(run: StudentRun, items: list[WorkItem], teacher: TeacherStage,
                         chain: AnswerChain) -> None:
    """The teacher's rates on the same eval questions, beside the student's."""
    rates = await teacher_on_eval(items, teacher, chain, run.config.teacher.concurrency,
                                  give_up_after=UNREACHABLE_AFTER)
    run.report["teacher_on_eval"] = dataclasses.asdict(rates) | {
        "exec_pass_rate": rates.exec_pass_rate, "gold_match_rate": rates.gold_match_rate}
    run.emit(ev.StudentMetrics(run.run_id, phase=TEACHER_PHASE, total=rates.total,
                               exec_pass_rate=rates.exec_pass_rate,
                               gold_match_rate=rates.gold_match_rate))
    if rates.failed:
        run.log("warning", f"the teacher gave no answer to {rates.failed} of {rates.total} "
                           "eval questions: its rates count them as misses")


async def _student_eval(run: StudentRun, stage: str, model: StudentModel,
                        items: list[WorkItem], plan: TrainPlan, chain: AnswerChain, blas: Blas,
                        cancel: threading.Event) -> EvalSummary:
    run.tracker.start(stage)
    counter = run.tracker.counters[stage]
    last = [0.0]

    def progress(done: int, total: int, step: dict[str, Any] | None) -> None:
        counter.done = done
        now = time.monotonic()
        if now - last[0] >= ev.PROGRESS_INTERVAL_S or done == total:
            last[0] = now
            run.emit(generation_progress(run.run_id, stage, done, total, step,
                                         now - counter.started))

    summary = await evaluate_student(
        STUDENT_EVAL_PHASES[stage], model, items, store=run.store, run_id=run.run_id,
        chain=chain, max_tokens=plan.max_tokens,
        batch_size=run.config.student.eval_batch_size, blas=blas, cancel=cancel,
        progress=progress)
    counter.done, counter.kept = summary.total, summary.exec_ok
    counter.rejected = summary.total - summary.exec_ok
    run.report[stage] = {"generated": summary.generated,
                                     "seconds_generating": summary.seconds_generating}
    if not summary.stopped:
        run.tracker.finish(stage)
        run.emit(ev.StudentMetrics(run.run_id, phase=summary.phase,
                                      total=summary.total,
                                      exec_pass_rate=summary.exec_pass_rate,
                                      gold_match_rate=summary.gold_match_rate))
    return summary


async def _train(run: StudentRun, plan: TrainPlan, model: StudentModel, data_dir: Path,
                 blas: Blas, cancel: threading.Event) -> TrainOutcome:
    run.tracker.start("train")
    counter = run.tracker.counters["train"]
    session = {"first": 0.0, "from": 0, "val_loss": None, "loss": None}

    def progress(message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "note":
            run.log("info", message["text"])
            return
        if kind == "val":
            session["val_loss"] = message["val_loss"]
            return
        if kind in ("loaded", "validating"):  # no iteration ends for many seconds: say why
            step = ("loaded the model; compiling" if kind == "loaded" else
                    f"validating {message['batch']}/{message['batches']}")
            run.emit(ev.TrainProgress(run.run_id, iteration=message["iteration"],
                                      total_iterations=message["total"],
                                      loss=session["loss"], val_loss=session["val_loss"],
                                      step=step))
            return
        session["loss"] = message["loss"]
        now, iteration = time.monotonic(), message["iteration"]
        if not session["first"]:
            session["first"], session["from"] = now, iteration
        counter.done = iteration
        done_here = iteration - session["from"]
        eta = ((now - session["first"]) / done_here * (message["total"] - iteration)
               if done_here else None)
        run.emit(ev.TrainProgress(run.run_id, iteration=iteration,
                                     total_iterations=message["total"], loss=message["loss"],
                                     val_loss=session["val_loss"],
                                     tokens_per_s=message["tokens_per_s"], eta_s=eta))

    outcome = await train_student(plan, model.path, model.key, data_dir,
                                  adapters_root=run.config.data_dir / "adapters",
                                  run_adapters=run.run_dir / "adapters", blas=blas,
                                  cancel=cancel, progress=progress)
    counter.done = counter.kept = outcome.iteration
    if outcome.status == "reused":
        run.log("info", f"reusing the finished adapter {outcome.adapter_dir}")
    elif outcome.resumed_from:
        run.log("info", f"training resumed at iteration {outcome.resumed_from}")
    run.report["train"] = {
        "status": outcome.status, "adapter_dir": str(outcome.adapter_dir),
        "adapter_key": outcome.key, "iteration": outcome.iteration,
        "total_iterations": outcome.total, "resumed_from": outcome.resumed_from,
        "seconds": outcome.seconds, "tokens_per_s": outcome.tokens_per_s,
        "loss_curve": outcome.losses, "val_loss_curve": outcome.val_losses}
    if outcome.status != "stopped":
        run.tracker.finish("train")
    return outcome
