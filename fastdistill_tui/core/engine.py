"""The engine: streams samples through the per-sample stages with bounded concurrency, holds the
teacher-eval gate as a barrier, then runs the barrier stages and writes the artifacts.

    outcome = await Engine(config, store).run(sink, decide_gate, cancel)

`sink(event)` receives every event (also written to the run's events.jsonl);
`decide_gate(GateEvaluated) -> GateDecision` (a plain or an async function; a bare bool counts
as the user's) is asked only when a gate fails and no override is configured; `cancel` is a
threading.Event: once set, no new request is sent, a pending gate question is dropped, what is
in flight finishes and is persisted, reports are written and the run ends resumable.

The coroutine blocks its loop at times (the validation pass, SQLite commits, select/export,
reports): a UI runs it on a thread of its own (docs/ARCHITECTURE.md, "Running the engine").
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import secrets
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TextIO

from . import artifacts, events as ev
from .config import Config, blame, cache_dir, judge_teacher_config, redact_url
from .datasets.base import Dataset
from .datasets.db_split import with_eval_split
from .datasets.registry import open_dataset
from .errors import ConfigError, FastDistillError, InputError
from .gates import (TEACHER_EVAL, GateDecision, TeacherQuality, describe_failure,
                    evaluate_teacher_gate, override_hint)
from .providers import endpoint_for, make_judge, make_provider
from .providers.base import Provider
from .run_lock import hold_config_lock, hold_run_lock
from .run_reports import write_run_reports
from .sql.evaluator import Evaluator
from .sql.judge import rule_score
from .sql.rule_pool import RuleChecker, worker_count
from .stages import execeval
from .stages.base import WorkItem
from .stages.canonicalize import assign_sample_id, canonicalize
from .stages.clean import clean
from .stages.dedup import Deduplicator
from .stages.export import export
from .stages.registry import STAGES, STREAM_STAGES, STUDENT_STAGES
from .stages.rules import apply_rule_outcome
from .stages.score import Scorer
from .stages.select import select
from .stages.teacher import FINAL_FAILURES, StoredAnswers, TeacherStage
from .student.models import resolve_student
from .student_stages import run_student_stages
from .store import ResultRow, Store
from .types import GenParams

FLUSH_EVERY = 500
UNREACHABLE_AFTER = 8  # consecutive fresh connection/auth failures that stop the run
EXIT_CODES = {"completed": 0, "teacher_unreachable": 2, "dataset_invalid": 2,
              "judge_unusable": 2, "gate_failed": 3, "cancelled": 130, "failed": 1,
              "student_failed": 1}
CANCEL_POLL_S = 0.1  # how often a stop request is passed on to requests waiting to retry
#: Gold-checked samples kept ready ahead of the teacher, as a multiple of its concurrency: gold
#: checks run in tasks of their own, so a slow check never leaves a request slot empty.
PREFETCH_FACTOR = 4
GOLD_CHECKS_PER_SQL_THREAD = 2  # gold checks at once: one waiting per SQL thread that runs one

#: A stage's total is what the stage named here passes on (its total less its rejections);
#: the first stages' totals come from the validation pass.
TOTAL_FROM = {"teacher": "gold_check", "clean": "teacher", "rules": "clean", "execeval": "rules",
              "score": "gold_check", "select": "score", "export": "select"}
#: Stages timed per sample (own work, not waiting), in the order the timing bars show them:
#: the streaming stages after dedup.
TIMED_STAGES = tuple(s for s in STREAM_STAGES if s not in ("canonical", "dedup"))
DECISION_POLL_S = 0.1  # how often a pending gate question looks at the cancel event

Sink = Callable[[ev.Event], None]
GateDecider = Callable[[ev.GateEvaluated], GateDecision | Awaitable[GateDecision]]


@dataclass(frozen=True)
class SplitPlan:
    """What the validation pass counted: rows the producer will read (up to --limit) and the
    samples left after dedup and --limit, so progress has totals from the first event."""

    rows_read: int
    samples: int


@dataclass
class RunOutcome:
    run_id: str
    run_dir: Path
    status: str  # completed | gate_failed | cancelled | teacher_unreachable | dataset_invalid
    #              | judge_unusable | failed | student_failed
    exit_code: int
    message: str = ""


@dataclass
class StageCounter:
    done: int = 0
    kept: int = 0
    rejected: int = 0
    started: float = 0.0
    finished: bool = False


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


def run_dir_for(config: Config, run_id: str) -> Path:
    return config.runs_dir / run_id


def plan_split(dataset: Dataset, split: str, limit: int) -> SplitPlan:
    """Read (and so validate) the whole split once, counting as the producer will: rows up to
    the one that reaches --limit, samples after dedup and --limit."""
    dedup = Deduplicator()
    rows_read = samples = 0
    for example in dataset.iter_examples(split):
        if limit and samples >= limit:
            continue  # keep reading: every row is validated, limit or not
        rows_read += 1
        item = WorkItem(example)
        canonicalize(item)
        assign_sample_id(item)
        samples += dedup.is_new(item.sample_id)
    return SplitPlan(rows_read, samples)


@contextmanager
def timed(own: dict[str, float], name: str) -> Iterator[None]:
    """Adds the seconds spent in the block to own[name]."""
    started = time.perf_counter()
    yield
    own[name] = own.get(name, 0.0) + time.perf_counter() - started


class Engine:
    def __init__(self, config: Config, store: Store, *, run_id: str | None = None,
                 resume: bool = False, provider: Provider | None = None,
                 dataset: Dataset | None = None) -> None:
        """run_id + resume=True continues that run; provider/dataset may be injected (tests,
        benchmarks), otherwise they come from the config."""
        self.config = config
        self.store = store
        self.resume = resume
        self.run_id = run_id or new_run_id()
        self.run_dir = run_dir_for(config, self.run_id)
        self._provider = provider
        self._dataset = dataset
        self.counters = {name: StageCounter() for name in STAGES}
        self.quality = TeacherQuality()
        self.gold_empty = 0
        self._recent: dict[str, deque[float]] = {}
        self._sink: Sink = lambda e: None
        self._events_file: TextIO | None = None
        self._gate_open = asyncio.Event()
        self._stop_reason: str | None = None  # "gate_failed" | "teacher_unreachable"
        self._stop_message = ""
        self._early_gate_done = False
        self._decide_gate: GateDecider = lambda event: GateDecision(False, "policy")
        self._cancel = threading.Event()
        self._plan = SplitPlan(0, 0)
        self._sink_failed = False
        self._done_flags: dict[str, tuple] = {}  # resume: stored outcome per finished sample
        self._judge: StoredAnswers | None = None
        self._judge_tally: dict[str, Any] = {}  # the LLM judge's asked/unusable counts
        self._student_dir: Path | None = None  # the student's mlx-lm model, when enabled
        self._student_report: dict[str, Any] = {}  # what the student stages did, for reports
        self._ready_ahead = 0  # gold-checked samples waiting for a teacher slot
        self._rules = RuleChecker(0)  # the run's own, with workers, is made by _run

    # -- events -----------------------------------------------------------------------------
    def emit(self, event: ev.Event) -> None:
        if self._events_file is not None:
            ev.write_event(self._events_file, event)
        try:
            self._sink(event)
        except Exception as exc:  # a broken display must not kill the run
            if not self._sink_failed and self._events_file is not None:
                self._sink_failed = True
                failure = ev.Log(self.run_id, level="error",
                                 message=f"event sink failed: {type(exc).__name__}: {exc}")
                self._events_file.write(json.dumps(ev.event_to_json(failure)) + "\n")

    def log(self, level: str, message: str) -> None:
        self.emit(ev.Log(self.run_id, level=level, message=message))

    # -- run --------------------------------------------------------------------------------
    async def run(self, sink: Sink, decide_gate: GateDecider,
                  cancel: threading.Event | None = None) -> RunOutcome:
        config = self.config
        dataset = self._dataset or open_dataset(config.dataset.spec, cache_dir=cache_dir())
        split = config.dataset.split or dataset.default_split
        dataset.check_split(split)
        dataset = with_eval_split(dataset, split, config.dataset.eval_split)  # by-database
        # One validating pass before anything is written or paid for: a malformed row 90,000
        # fails now, not after an hour of requests. It streams, and gives exact totals.
        self._plan = plan_split(dataset, split, config.dataset.limit)
        try:
            provider = self._provider or make_provider(config.teacher)
            # the judge is set up (key, URL) before a run exists, like the teacher
            judge_provider = make_judge(config) if config.eval.judge == "llm" else None
        except ConfigError as exc:
            raise blame(config, exc) from None
        if config.student.enabled:  # before anything is written: a fetch failure exits 2 here
            dataset.check_split(config.dataset.eval_split or dataset.default_eval_split)
            self._student_dir = await asyncio.to_thread(resolve_student, config.student.spec,
                                                        cache_dir())
        # one process per config (two would pay for every answer twice), and per run
        with hold_config_lock(config.data_dir / "locks", config.config_hash(),
                              lambda: self.store.latest_unfinished_run(config.config_hash())), \
                hold_run_lock(self.run_dir):
            return await self._run(dataset, split, provider, sink, decide_gate,
                                   cancel or threading.Event(), judge_provider)

    async def _run(self, dataset: Dataset, split: str, provider: Provider,
                   sink: Sink, decide_gate: GateDecider, cancel: threading.Event,
                   judge_provider: Provider | None = None) -> RunOutcome:
        self._sink = sink
        self._decide_gate = decide_gate
        self._cancel = cancel
        started = time.monotonic()
        config = self.config
        config_hash = config.config_hash()
        # answers are keyed by the endpoint the run started with: a resume against a moved
        # server (--base-url) is the user saying it serves the same model
        teacher_endpoint = endpoint_for(config.teacher)
        if self.resume:
            run = self.store.get_run(self.run_id)
            if run is None:
                raise InputError(f"no run '{self.run_id}' to resume", field="--resume",
                                 hint="list runs with `fastdistill report --list`")
            stored_teacher = json.loads(run["config_json"])["teacher"]
            teacher_endpoint = endpoint_for(replace(config.teacher,
                                                    base_url=stored_teacher["base_url"]))
            self.store.set_run_status(self.run_id, "running")
        else:
            self.store.create_run(self.run_id, config_hash,
                                  json.dumps(config.public_dict(), sort_keys=True),
                                  config.dataset.spec, config.teacher.spec)
        try:
            for sub in ("manifests", "reports", "mlx", "adapters"):
                (self.run_dir / sub).mkdir(parents=True, exist_ok=True)
            self._events_file = open(self.run_dir / "events.jsonl", "a", encoding="utf-8")
            evaluator = Evaluator(config.eval)
            self._rules = RuleChecker(worker_count(os.cpu_count(), self._plan.samples),
                                      on_failure=lambda message: self.log("warning", message))
            await self._rules.start()
            judge = None
            try:
                self.emit(ev.RunStarted(self.run_id, config_hash=config_hash,
                                        dataset=f"{config.dataset.spec} [{split}]",
                                        teacher=f"{provider.name}:{provider.model}",
                                        total=self._plan.samples, resumed=self.resume,
                                        run_dir=str(self.run_dir),
                                        stages=[s for s in STAGES if config.student.enabled
                                                or s not in STUDENT_STAGES]))
                if judge_provider is not None:
                    judge = self._judge = StoredAnswers(
                        judge_provider, self.store, endpoint_for(judge_teacher_config(config)))
                params = GenParams(temperature=config.teacher.temperature,
                                   max_tokens=config.teacher.max_tokens,
                                   disable_thinking=config.teacher.disable_thinking)
                teacher = TeacherStage(provider, self.store, params, teacher_endpoint)
                scorer = Scorer(judge)
                await self._stream(dataset, split, teacher, evaluator, scorer, cancel)
                self._check_judge(scorer)
                self.store.flush()
                status = await self._after_stream(cancel)
                if status == "completed" and self._student_dir is not None:
                    status = await run_student_stages(self, dataset, evaluator,
                                                      Scorer(judge), cancel, teacher)
            finally:
                gold_cache_stats = evaluator.gold_cache_stats()
                evaluator.close()
                await self._rules.aclose()
                await provider.aclose()
                if judge is not None:
                    await judge.aclose()
            self._write_reports(gold_cache_stats)
            exit_code = EXIT_CODES[status]
            self.store.set_run_status(self.run_id, status)
            message = self._stop_message or f"run {self.run_id} {status}"
            self.emit(ev.RunFinished(self.run_id, status=status, exit_code=exit_code,
                                     seconds=time.monotonic() - started,
                                     run_dir=str(self.run_dir), message=message))
            return RunOutcome(self.run_id, self.run_dir, status, exit_code, message)
        except Exception as exc:  # noqa: BLE001 - any failure ends the run resumable, said once
            return self._failed(exc, started)
        finally:
            if self._events_file is not None:
                try:
                    self._events_file.close()
                except OSError:
                    pass  # a full disk: the failure is already reported
            self._events_file = None

    def _check_judge(self, scorer: Scorer) -> None:
        """Judge answers without a usable score keep the rule score: say how many, and stop
        when most are unusable (the scores would be the rule's while claiming the judge's)."""
        if scorer.judge is not None:
            self._judge_tally = {"judge": {"asked": scorer.judged, "unusable": scorer.unusable}}
        if not scorer.unusable or self._stop_reason:
            return
        spec = self.config.eval.judge_spec
        said = (f"the LLM judge ({spec}) gave no usable score for {scorer.unusable} of "
                f"{scorer.judged} answers")
        if scorer.unusable * 2 > scorer.judged:
            self._stop_reason = "judge_unusable"
            self._stop_message = (f"{said}; check eval.judge_spec, eval.judge_base_url and its "
                                  f"key, or use eval.judge = \"rule\"")
        else:
            self.log("warning", f"{said}; those kept their rule score")

    def _failed(self, exc: Exception, started: float) -> RunOutcome:
        """End the run as `failed` with one message naming the cause and how to resume; the
        store keeps every result written so far, so the run resumes from there."""
        if isinstance(exc, OSError):
            where = f"{exc.filename}: " if exc.filename else ""
            cause, exit_code = f"cannot write {where}{exc.strerror or exc}", 2
        elif isinstance(exc, sqlite3.Error):
            cause, exit_code = f"the run store {self.store.path} failed: {exc}", 2
        elif isinstance(exc, FastDistillError):
            cause, exit_code = str(exc), exc.exit_code
        else:
            cause, exit_code = f"internal error {type(exc).__name__}: {exc}", 1
        message = (f"{cause}; fix it, then resume with "
                   f"`fastdistill run --headless --resume {self.run_id}`")
        try:
            self.store.set_run_status(self.run_id, "failed")
        except sqlite3.Error:
            pass  # left "running", which a rerun resumes as well
        try:
            self.emit(ev.RunFinished(self.run_id, status="failed", exit_code=exit_code,
                                     seconds=time.monotonic() - started,
                                     run_dir=str(self.run_dir), message=message))
        except OSError:
            pass
        return RunOutcome(self.run_id, self.run_dir, "failed", exit_code, message)

    # -- streaming part: canonical → … → score ---------------------------------------------
    async def _stream(self, dataset: Dataset, split: str, teacher: TeacherStage,
                      evaluator: Evaluator, scorer: Scorer, cancel: threading.Event) -> None:
        concurrency = max(1, min(self.config.teacher.concurrency, self._plan.samples))  # no idle
        checkers = GOLD_CHECKS_PER_SQL_THREAD * self.config.eval.workers
        queue: asyncio.Queue[WorkItem | None] = asyncio.Queue(maxsize=concurrency * 2)
        ready: asyncio.Queue[tuple[WorkItem, dict[str, float]] | None] = asyncio.Queue(
            maxsize=max(1, int(PREFETCH_FACTOR * concurrency)))
        # answers wait here for evaluation, so no request slot waits on the evaluation
        answered: asyncio.Queue[tuple[WorkItem, dict[str, float]] | None] = asyncio.Queue(
            maxsize=concurrency)
        checkers_left, workers_left = checkers, concurrency
        done_ids = (self.store.done_sample_ids(self.run_id, FINAL_FAILURES) if self.resume
                    else set())
        self._done_flags = self.store.result_flags(self.run_id) if done_ids else {}
        self._gate_open.set()
        for name in ("canonical", "dedup", "gold_check", "teacher"):
            self._start_stage(name)

        async def produce() -> None:
            dedup = Deduplicator()
            limit = self.config.dataset.limit
            seq = 0
            for example in dataset.iter_examples(split):
                if cancel.is_set() or self._stop_reason or (limit and seq >= limit):
                    break
                item = WorkItem(example)
                item.mark("raw")
                canonicalize(item)
                assign_sample_id(item)
                self._count("canonical", True)
                if not dedup.is_new(item.sample_id):
                    self._count("dedup", False)
                    continue
                self._count("dedup", True)
                item.seq = seq
                seq += 1
                self.store.add_schema(item.schema_hash, example.schema.canonical_json)
                self.store.queue_sample((
                    self.run_id, item.sample_id, item.seq, example.source, example.question,
                    example.evidence, example.db_path, example.gold_sql, item.schema_hash,
                    json.dumps(example.logical_form) if example.logical_form else None))
                if item.sample_id in done_ids:
                    self._resume_counts(item.sample_id)
                    continue
                item.queued_at = time.perf_counter()
                await queue.put(item)
            self._finish_stage("canonical")
            self._finish_stage("dedup")
            for _ in range(checkers):
                await queue.put(None)

        async def check() -> None:
            nonlocal checkers_left
            while (item := await queue.get()) is not None:
                if cancel.is_set() or self._stop_reason:
                    continue  # drain: not written, so a resume picks it up
                own = {"queue_wait": time.perf_counter() - item.queued_at}
                if await self._check_gold(item, evaluator, own):
                    item.queued_at = time.perf_counter()
                    await ready.put((item, own))
                    self._ready_ahead += 1
                else:
                    self._store_result(item, own)
            checkers_left -= 1
            if not checkers_left:  # the last checker ends the teacher workers
                for _ in range(concurrency):
                    await ready.put(None)

        async def work() -> None:
            nonlocal workers_left
            while (entry := await ready.get()) is not None:
                item, own = entry
                self._ready_ahead -= 1
                if cancel.is_set() or self._stop_reason:
                    continue  # drain: not written, so a resume picks it up
                own["queue_wait"] += time.perf_counter() - item.queued_at
                if not await self._ask_teacher(item, own, teacher, cancel):
                    continue
                if self._early_gate_pending():  # no slot runs ahead of what the gate has seen
                    await self._evaluate_answer(item, own, evaluator, scorer)
                else:
                    item.queued_at = time.perf_counter()
                    await answered.put((item, own))  # the slot takes its next sample at once
            workers_left -= 1
            if not workers_left:  # the last teacher worker ends the evaluators
                for _ in range(concurrency):
                    await answered.put(None)

        async def evaluate() -> None:
            while (entry := await answered.get()) is not None:
                item, own = entry
                own["queue_wait"] += time.perf_counter() - item.queued_at
                await self._evaluate_answer(item, own, evaluator, scorer)

        async def pass_on_cancel() -> None:
            while not cancel.is_set():
                await asyncio.sleep(CANCEL_POLL_S)
            teacher.answers.provider.stop()  # requests waiting to retry give up now
            if scorer.judge is not None:
                scorer.judge.stop()

        reporter = asyncio.create_task(self._report_loop(teacher))
        watcher = asyncio.create_task(pass_on_cancel())
        tasks = [asyncio.create_task(produce()),
                 *(asyncio.create_task(check()) for _ in range(checkers)),
                 *(asyncio.create_task(work()) for _ in range(concurrency)),
                 *(asyncio.create_task(evaluate()) for _ in range(concurrency))]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in (*tasks, reporter, watcher):
                task.cancel()  # after a failure, no worker outlives the run
            self.store.flush()
        self._emit_progress(teacher)
        for name in TIMED_STAGES:
            self._finish_stage(name)

    async def _check_gold(self, item: WorkItem, evaluator: Evaluator,
                          own: dict[str, float]) -> bool:
        """The gold check, ahead of the teacher; True when the sample goes on to the teacher.
        A check that raises rejects that sample only."""
        item.stage = "gold_check"
        try:
            with timed(own, "gold_check"):
                await execeval.check_gold(item, evaluator)
        except Exception as exc:  # noqa: BLE001 - one sample's bug rejects that sample only
            self._reject_internal(item, exc)
            return False
        self._count("gold_check", item.gold_ok)
        return item.gold_ok

    async def _ask_teacher(self, item: WorkItem, own: dict[str, float],
                           teacher: TeacherStage, cancel: threading.Event) -> bool:
        """The teacher stage of a gold-checked sample, timed into `own` (stage -> seconds of
        work); True when the answer goes on to evaluation, False when the sample is left for
        a resume (cancelled) or already stored (its processing raised)."""
        try:
            await self._gate_open.wait()
            if cancel.is_set() or self._stop_reason:
                return False
            item.stage = "teacher"
            with timed(own, "teacher"):
                await teacher.run(item)
            if item.reason == "teacher_cancelled":
                return False  # not written: a resume asks again
            self._count("teacher", item.alive)
            if teacher.unreachable_streak >= UNREACHABLE_AFTER and not self._stop_reason:
                self._stop_unreachable(item)
        except Exception as exc:  # noqa: BLE001 - one sample's bug rejects that sample only
            self._reject_internal(item, exc)
            self._store_result(item, own)
            await self._maybe_early_gate()
            return False
        return True

    def _reject_internal(self, item: WorkItem, exc: Exception) -> None:
        """Reject a sample whose processing raised, at the stage that raised, with the
        exception type in the detail; the run goes on. In scoring, the rule score stands."""
        detail = f"{type(exc).__name__}: {str(exc)[:200]}"
        if item.stage == "score":
            item.score = rule_score(bool(item.outcome and item.outcome.exec_ok),
                                    bool(item.outcome and item.outcome.gold_match))
            item.note("internal_error", detail)
            return
        if item.stage == "gold_check":
            item.gold_ok = False
        item.reject(item.stage, "internal_error", detail)
        self._count(item.stage, False)
        item.outcome = None
        item.score = 0.0

    async def _evaluate_answer(self, item: WorkItem, own: dict[str, float],
                               evaluator: Evaluator, scorer: Scorer) -> None:
        """The stages after the teacher, each timed into `own`; then the result is stored."""
        try:
            if item.alive:
                self._stage_step("clean", clean, item, own)
            if item.alive:
                item.stage = "rules"
                self._start_stage("rules")
                outcome = await self._rules.check(item.sql or "")
                own["rules"] = outcome.seconds
                apply_rule_outcome(item, outcome)
                self._count("rules", item.alive)
            item.mark("filtered")
            if item.alive:
                item.stage = "execeval"
                self._start_stage("execeval")
                with timed(own, "execeval"):
                    await execeval.evaluate(item, evaluator)
                item.mark("eval")
                self._count("execeval", item.alive)
            item.stage = "score"
            self._start_stage("score")
            with timed(own, "score"):
                await execeval.wikisql_metrics(item)
                await scorer.score(item)
        except Exception as exc:  # noqa: BLE001 - one sample's bug rejects that sample only
            self._reject_internal(item, exc)
        self._store_result(item, own)
        await self._maybe_early_gate()

    def _store_result(self, item: WorkItem, own: dict[str, float]) -> None:
        exec_ok = bool(item.outcome and item.outcome.exec_ok)
        gold_match = bool(item.outcome and item.outcome.gold_match)
        if item.gold_ok:
            self.quality.add(exec_ok, gold_match, item.score)
            self.gold_empty += item.gold_empty
            self._count("score", True)
            self._remember_timings(own)
        self.store.queue_result(self.run_id, ResultRow(
            sample_id=item.sample_id, cache_key=item.cache_key, prompt_tokens=item.prompt_tokens,
            gold_ok=item.gold_ok, gold_empty=item.gold_empty,
            teacher_ok=bool(item.answer is not None and item.answer.ok),
            sql=item.sql, sql_fingerprint=item.sql_fingerprint,
            exec_ok=exec_ok, gold_match=gold_match, score=item.score,
            rejected_at=item.rejected_at, reason=item.reason, detail=item.detail,
            marks=item.marks, lf_match=item.lf_match, lf_exec_match=item.lf_exec_match))
        if self.store.pending >= FLUSH_EVERY:
            self.store.flush()

    def _stage_step(self, name: str, step: Callable[[WorkItem], None], item: WorkItem,
                    own: dict[str, float]) -> None:
        item.stage = name
        self._start_stage(name)
        with timed(own, name):
            step(item)
        self._count(name, item.alive)

    def _resume_counts(self, sample_id: str) -> None:
        """A sample finished before the restart: count it at every stage it passed, as if it
        ran now, so a resumed run's progress and stage totals equal an uninterrupted run's."""
        gold_ok, teacher_ok, exec_ok, gold_match, score, gold_empty, rejected_at = (
            self._done_flags[sample_id])
        self._count("gold_check", bool(gold_ok))
        if gold_ok:
            self._count("teacher", bool(teacher_ok))
            alive = bool(teacher_ok)
            for stage in ("clean", "rules", "execeval"):
                if not alive:
                    break
                self._start_stage(stage)
                alive = rejected_at != stage
                self._count(stage, alive)
            self._start_stage("score")
            self.quality.add(bool(exec_ok), bool(gold_match), score)
            self.gold_empty += gold_empty
            self._count("score", True)

    # -- gates ------------------------------------------------------------------------------
    def _early_gate_pending(self) -> bool:
        """True until the early gate has been checked, when it could stop the run: meanwhile
        each request slot waits for its answer's evaluation, so at most `concurrency` requests
        are paid for beyond the first `min_total` answers of a teacher the gate stops."""
        gate = self.config.gates.teacher_eval
        return (gate.enabled and gate.min_total > 0 and not self._early_gate_done
                and TEACHER_EVAL not in self.config.run.override_gates)

    async def _maybe_early_gate(self) -> None:
        gate = self.config.gates.teacher_eval
        if (not gate.enabled or self._early_gate_done or gate.min_total <= 0
                or self.quality.total < gate.min_total):
            return
        self._early_gate_done = True
        event = evaluate_teacher_gate(self.run_id, gate, self.quality, early=True)
        self.emit(event)
        if event.passed:
            self._record_decision(event, proceed=True, overridden=False, by="auto")
            return
        self._gate_open.clear()  # pause new requests while someone decides
        try:
            proceed = await self._decide(event)
        finally:
            self._gate_open.set()
        if not proceed and not self._cancel.is_set():
            self._stop_reason = "gate_failed"
            self._stop_message = (f"{describe_failure(event)} after the first "
                                  f"{self.quality.total} answers; stopped before paying for "
                                  f"the rest; {override_hint(TEACHER_EVAL, self.run_id)}")

    async def _decide(self, event: ev.GateEvaluated) -> bool:
        if event.gate in self.config.run.override_gates:
            proceed, overridden, by = True, True, "--override-gate"
        else:
            decision = await self._ask(event)
            if decision is None:
                self.log("warning", f"gate {event.gate}: stopped before anyone decided")
                return False
            proceed, overridden, by = decision.proceed, decision.proceed, decision.by
        self._record_decision(event, proceed=proceed, overridden=overridden, by=by)
        return proceed

    def _record_decision(self, event: ev.GateEvaluated, *, proceed: bool, overridden: bool,
                         by: str) -> None:
        """Every gate decision, a pass included, goes to the events and the run manifest."""
        decided = ev.GateDecided(self.run_id, gate=event.gate, proceed=proceed,
                                 overridden=overridden, by=by)
        self.emit(decided)
        self.store.add_gate_decision(self.run_id, {
            "gate": event.gate, "early": event.early, "passed": event.passed,
            "proceed": proceed, "overridden": overridden, "by": by, "at": decided.ts,
            "metrics": event.metrics})

    async def _ask(self, event: ev.GateEvaluated) -> GateDecision | None:
        """The decider's answer, or None once cancel is set while the question is open. A plain
        function runs in a thread (it may block on a prompt); an async one on this loop."""
        if inspect.iscoroutinefunction(self._decide_gate):
            pending = asyncio.ensure_future(self._decide_gate(event))
        else:
            pending = asyncio.ensure_future(asyncio.to_thread(self._decide_gate, event))
        while not pending.done():
            if self._cancel.is_set():
                pending.cancel()
                return None
            await asyncio.wait({pending}, timeout=DECISION_POLL_S)
        answer = pending.result()
        return answer if isinstance(answer, GateDecision) else GateDecision(bool(answer), "user")

    def _cancelled(self) -> str:
        self._stop_message = (f"stopped by the user; resume with "
                              f"`fastdistill run --headless --resume {self.run_id}`")
        return "cancelled"

    def _stop_unreachable(self, item: WorkItem) -> None:
        """Stop sending: every recent request failed in a way retrying will not fix."""
        teacher = self.config.teacher
        remote = bool(endpoint_for(teacher))
        where = (f"at {redact_url(teacher.base_url) or 'the provider default URL'}" if remote
                 else teacher.spec)
        check = ("Check --base-url, the model name and the API key" if remote else
                 "Check the model directory (config.json, weights, tokenizer)")
        self._stop_reason = "teacher_unreachable"
        self._stop_message = (
            f"the teacher {where} failed {UNREACHABLE_AFTER} requests in a row "
            f"({item.answer.reason}: {item.answer.detail[:200]}); stopped before trying the "
            f"rest. {check}, then resume with "
            f"`fastdistill run --headless --resume {self.run_id}` (failed answers are asked "
            f"again)")

    async def _after_stream(self, cancel: threading.Event) -> str:
        if self._stop_reason:
            return self._stop_reason
        if cancel.is_set():
            return self._cancelled()
        gold = self.counters["gold_check"]
        if gold.done and not gold.kept:
            source, detail = self.store.first_gold_failure(self.run_id)
            self._stop_message = (
                f"{source}: every gold query of the dataset failed ({gold.done} of "
                f"{gold.done}; first: {detail[:200]}): the dataset's SQL does not run on its "
                f"databases; fix the dataset or its database files (the teacher was not asked)")
            return "dataset_invalid"
        gate = self.config.gates.teacher_eval
        if gate.enabled:
            event = evaluate_teacher_gate(self.run_id, gate, self.quality)
            self.emit(event)
            if not event.passed:
                if not await self._decide(event):
                    if cancel.is_set():
                        return self._cancelled()
                    self._stop_message = (f"{describe_failure(event)}; "
                                          f"{override_hint(TEACHER_EVAL, self.run_id)}")
                    return "gate_failed"
            else:
                self._record_decision(event, proceed=True, overridden=False, by="auto")
        self._start_stage("select")
        chosen = select(self.store, self.run_id, self.config.select.min_score,
                        self.config.select.valid_fraction)
        self._count_many("select", kept=chosen, rejected=self.quality.total - chosen)
        self._finish_stage("select")
        self._start_stage("export")
        counts = export(self.store, self.run_id, self.run_dir / "mlx")
        self._count_many("export", kept=sum(counts.values()), rejected=0)
        self._finish_stage("export")
        self.log("info", f"exported {counts['train']} train / {counts['valid']} valid examples "
                         f"to {self.run_dir / 'mlx'}")
        return "completed"

    # -- progress ---------------------------------------------------------------------------
    def _start_stage(self, name: str) -> None:
        counter = self.counters[name]
        if not counter.started:
            counter.started = time.monotonic()
            self.emit(ev.StageStarted(self.run_id, stage=name))

    def _count(self, name: str, kept: bool) -> None:
        counter = self.counters[name]
        counter.done += 1
        if kept:
            counter.kept += 1
        else:
            counter.rejected += 1

    def _count_many(self, name: str, *, kept: int, rejected: int) -> None:
        counter = self.counters[name]
        counter.done += kept + rejected
        counter.kept += kept
        counter.rejected += rejected

    def _finish_stage(self, name: str) -> None:
        counter = self.counters[name]
        if counter.finished or not counter.started:
            return
        counter.finished = True
        self.emit(ev.StageFinished(self.run_id, stage=name, total=counter.done,
                                   kept=counter.kept, rejected=counter.rejected,
                                   seconds=time.monotonic() - counter.started))

    def _remember_timings(self, own: dict[str, float]) -> None:
        """Keep the latest own-work seconds per stage for live p50 bars (bounded memory)."""
        for name, seconds in own.items():
            recent = self._recent.get(name)
            if recent is None:
                recent = self._recent[name] = deque(maxlen=2000)
            recent.append(seconds)

    def _stage_total(self, name: str) -> int:
        """What the stage will see in all: from the validation pass for the first stages, else
        what its upstream stage passes on (exact once the upstream stage has finished)."""
        if name in ("canonical", "dedup"):
            return self._plan.rows_read
        if name == "gold_check":
            return self._plan.samples
        upstream = TOTAL_FROM.get(name)
        if upstream is None:
            return 0
        return max(self._stage_total(upstream) - self.counters[upstream].rejected, 0)

    async def _report_loop(self, teacher: TeacherStage) -> None:
        while True:
            await asyncio.sleep(ev.PROGRESS_INTERVAL_S)
            self.store.flush()
            self._emit_progress(teacher)

    def _emit_progress(self, teacher: TeacherStage) -> None:
        now = time.monotonic()
        expected = self._stage_total("teacher")
        for name in STAGES:
            c = self.counters[name]
            if not c.started or c.finished:
                continue
            rate = c.done / max(now - c.started, 1e-6)
            total = self._stage_total(name)
            eta = (total - c.done) / rate if total and rate > 0 else None
            self.emit(ev.StageProgress(self.run_id, stage=name, done=c.done, total=total,
                                       kept=c.kept, rejected=c.rejected, rate_per_s=rate,
                                       eta_s=eta))
        rc = teacher.counter
        answered = rc.cached + rc.fresh
        remaining = max(expected - answered, 0) if expected else 0
        fresh_rate = rc.fresh / max(now - rc.started, 1e-6)
        self.emit(ev.RequestStats(
            self.run_id, cached=rc.cached, fresh=rc.fresh, failed=rc.failed,
            in_flight=rc.in_flight, ready_ahead=self._ready_ahead, tokens_in=rc.tokens_in,
            tokens_out=rc.tokens_out, cost=rc.cost, requests_per_min=rc.per_minute(rc.fresh),
            tokens_per_min=rc.per_minute(rc.tokens_in + rc.tokens_out),
            projected_cost=rc.cost + (rc.cost / rc.fresh * remaining if rc.fresh else 0.0),
            eta_s=(remaining / fresh_rate) if remaining and fresh_rate > 0 else None,
            retries=rc.retries, rate_limited=teacher.answers.provider.rate_limited,
            paused_s=teacher.answers.provider.paused_s(),
            judge_requests=self._judge.fresh if self._judge else 0,
            judge_cost=self._judge.cost if self._judge else 0.0))
        if self._recent:
            sums = {k: sum(v) for k, v in self._recent.items()}
            grand = sum(sums.values())
            stages = {}
            for name in (*TIMED_STAGES, "queue_wait"):
                if name in self._recent:
                    values = sorted(self._recent[name])
                    stages[name] = {"p50": artifacts.percentile(values, 50),
                                    "p90": artifacts.percentile(values, 90),
                                    "share": sums[name] / grand if grand > 0 else 0.0}
            self.emit(ev.TimingUpdated(self.run_id, stages=stages))

    # -- artifacts --------------------------------------------------------------------------
    def _write_reports(self, gold_cache_stats: dict[str, Any]) -> None:
        """Quality reports, manifests and timing from the store, plus the run manifest."""
        run_id, store, config_hash = self.run_id, self.store, self.config.config_hash()
        dedup = self.counters["dedup"]
        write_run_reports(
            store, run_id, self.run_dir, config_hash=config_hash,
            min_score=self.config.select.min_score, selected=self.counters["select"].finished,
            read=self.counters["canonical"].done, duplicates=dedup.rejected,
            extras={"gold_check": {"gold_empty": self.gold_empty, "gold_cache": gold_cache_stats},
                    "rules": {"workers": {"processes": self._rules.workers,
                                          "answers_checked": self._rules.checked_in_workers}},
                    "score": {"gold_cache": gold_cache_stats, **self._judge_tally}},
            student=self._student_report)
        run = store.get_run(run_id)
        artifacts.write_json(self.run_dir / "manifests" / "run.manifest.json", {
            "run_id": run_id, "config_hash": config_hash, "dataset": run["dataset"],
            "teacher": run["teacher"], "gate_decisions": json.loads(run["gate_decisions"]),
            "config": json.loads(run["config_json"]), "created_at": run["created_at"]})
