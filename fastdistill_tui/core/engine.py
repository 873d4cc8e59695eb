"""The engine: a run's lifecycle. It opens the dataset, the teacher and the run's store rows,
streams the samples through the per-sample stages (stream.py), holds the teacher-eval gate
(gatekeeper.py), runs the barrier stages and the student stages, and writes the artifacts.

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
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TextIO

from . import artifacts, events as ev, unanswered
from .config import Config, blame, cache_dir, judge_teacher_config
from .datasets.base import Dataset
from .datasets.db_split import with_eval_split
from .datasets.registry import open_dataset
from .datasets.sampling import sampled_examples
from .errors import ConfigError, FastDistillError, InputError
from .gatekeeper import GateDecider, Gatekeeper
from .gates import TeacherQuality
from .progress import SplitPlan, StageTracker
from .providers import endpoint_for, make_judge, make_provider
from .providers.base import Provider
from .run_lock import hold_config_lock, hold_run_lock
from .run_reports import write_run_reports
from .runs import RunStatus, new_run_id, resume_command, run_dir_for
from .sql.evaluator import Evaluator
from .sql.rule_pool import RuleChecker, worker_count
from .stages.answer_rounds import ROUND_STAGES, round_stages, rounds_for, rounds_report
from .stages.base import WorkItem
from .stages.context import BarrierContext, StepContext
from .stages.canonicalize import assign_sample_id, canonicalize
from .stages.chain import AnswerChain
from .stages.dedup import Deduplicator
from .stages.registry import stages
from .stages.scorer import Scorer
from .stages.teacher import StoredAnswers, TeacherStage
from .store import Store
from .stream import RunStop, SampleStream
from .student.models import resolve_student
from .student_stages import StudentRun, run_student_stages
from .types import GenParams

Sink = Callable[[ev.Event], None]


@dataclass
class RunOutcome:
    run_id: str
    run_dir: Path
    status: str  # a RunStatus value
    exit_code: int
    message: str = ""


def plan_split(dataset: Dataset, split: str, limit: int, seed: int = 0) -> SplitPlan:
    """Read (and so validate) the whole split once, counting as the producer will: rows up to
    the one that reaches --limit, samples after dedup and --limit."""
    dedup = Deduplicator()
    rows_read = samples = no_gold = 0
    for example in sampled_examples(dataset, split, limit, seed):
        if limit and samples >= limit:
            continue  # keep reading: every row is validated, limit or not
        rows_read += 1
        item = WorkItem(example)
        canonicalize(item)
        assign_sample_id(item)
        new = dedup.is_new(item.sample_id)
        samples += new
        no_gold += new and not example.has_gold
    return SplitPlan(rows_read, samples, no_gold)


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
        self._rounds_off: set[str] = set()  # answer rounds this run does not have
        self.tracker = StageTracker(self.run_id, self.emit)
        self.counters = self.tracker.counters
        self.quality = TeacherQuality(llm_judge=config.eval.judge == "llm")
        self.stop = RunStop()
        self.gatekeeper = Gatekeeper(config, store, self.run_id, self.emit, self.log,
                                     self.quality, self.stop)
        self._sink: Sink = lambda e: None
        self._events_file: TextIO | None = None
        self._sink_failed = False
        self._judge: StoredAnswers | None = None
        self._judge_tally: dict[str, Any] = {}  # the LLM judge's asked/unusable counts
        self._student_dir: Path | None = None  # the student's mlx-lm model, when enabled
        self._student_report: dict[str, Any] = {}  # what the student stages did, for reports
        self._rules = RuleChecker(0)  # the run's own, with workers, is made by _run
        self._gold_empty = 0

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
        self.tracker.plan = plan_split(dataset, split, config.dataset.limit,
                                       config.dataset.seed)
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
        self.gatekeeper.decide_gate = decide_gate
        self.gatekeeper.cancel = cancel
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
            self.store.set_run_status(self.run_id, RunStatus.RUNNING)
        else:
            self.store.create_run(self.run_id, config_hash,
                                  json.dumps(config.public_dict(), sort_keys=True),
                                  config.dataset.spec, config.teacher.spec)
        try:
            for sub in ("manifests", "reports", "mlx", "adapters"):
                (self.run_dir / sub).mkdir(parents=True, exist_ok=True)
            self._events_file = open(self.run_dir / "events.jsonl", "a", encoding="utf-8")
            evaluator = Evaluator(config.eval)
            self._rules = RuleChecker(worker_count(os.cpu_count(), self.tracker.plan.samples),
                                      on_failure=lambda message: self.log("warning", message))
            await self._rules.start()
            judge = None
            # a round that is off (or a deterministic teacher's) is not in the run's stages
            no_gold = self.tracker.plan.no_gold
            rounds_off = self._rounds_off = set(ROUND_STAGES) - set(
                round_stages(config.teacher, provider.deterministic, no_gold > 0))
            try:
                self.emit(ev.RunStarted(self.run_id, config_hash=config_hash,
                                        dataset=f"{config.dataset.spec} [{split}]",
                                        teacher=f"{provider.name}:{provider.model}",
                                        total=self.tracker.plan.samples,
                                        resumed=self.resume, run_dir=str(self.run_dir),
                                        stages=[s.name for s in stages()
                                                if (config.student.enabled
                                                    or s.kind != "student")
                                                and s.name not in rounds_off]))
                if no_gold:
                    self._say_no_gold(no_gold, provider.deterministic)
                if judge_provider is not None:
                    judge = self._judge = StoredAnswers(
                        judge_provider, self.store, endpoint_for(judge_teacher_config(config)))
                params = GenParams(temperature=config.teacher.temperature,
                                   max_tokens=config.teacher.max_tokens,
                                   disable_thinking=config.teacher.disable_thinking)
                teacher = TeacherStage(provider, self.store, params, teacher_endpoint,
                                       config.prompt)
                scorer = Scorer(judge)
                chain = AnswerChain(
                    StepContext(evaluator, scorer, self._rules,
                                rounds=rounds_for(config.teacher, teacher,
                                                  config.no_gold if no_gold else None)),
                    self.tracker,
                    chain=[s for s in stages("answer") if s.name not in rounds_off])
                stream = SampleStream(
                    config, self.store, self.run_id, tracker=self.tracker,
                    gatekeeper=self.gatekeeper, quality=self.quality, teacher=teacher,
                    chain=chain, evaluator=evaluator, stop=self.stop, cancel=cancel,
                    resume=self.resume, report_progress=lambda: self._report_progress(teacher))
                await stream.run(dataset, split)
                if note := provider.concurrency_note():
                    self.log("info", note)
                self._gold_empty = stream.gold_empty
                self._check_judge(scorer)
                self.store.flush()
                status = await self._after_stream(cancel)
                if status == RunStatus.COMPLETED and self._student_dir is not None:
                    status = await self._student_stages(dataset, evaluator, judge, cancel,
                                                        teacher)
                status, said = unanswered.final_status(self.store, self.run_id, status)
                if said:
                    self.stop(status, said)
            finally:
                gold_cache_stats = evaluator.gold_cache_stats()
                suite_stats = evaluator.suite_stats()
                evaluator.close()
                await self._rules.aclose()
                await provider.aclose()
                if judge is not None:
                    await judge.aclose()
            self._write_reports(gold_cache_stats, suite_stats)
            exit_code = RunStatus(status).exit_code
            self.store.set_run_status(self.run_id, status)
            message = self.stop.message or f"run {self.run_id} {status}"
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

    def _say_no_gold(self, count: int, deterministic: bool) -> None:
        """A run with questions without gold SQL says how they are checked, once, up front."""
        k, m = self.config.no_gold.candidates, self.config.no_gold.min_agree
        total = self.tracker.plan.samples
        which = "all" if count == total else f"{count:,} of {total:,}"
        if deterministic:
            self.log("warning", f"{which} questions have no gold SQL, and the "
                     f"{self.config.teacher.spec} teacher always gives the same answer, so "
                     "agreement cannot check them: they will not be kept. Use a teacher that "
                     "samples (openai:, ollama: or mlx:)")
        else:
            needed = f"all {k}" if m == k else f"{m} of up to {k}"
            self.log("info", f"no gold SQL: {which} questions are checked by agreement, an "
                     f"answer kept when {needed} teacher answers return the same rows on the "
                     f"database and its perturbed copies ([no_gold])")

    def _check_judge(self, scorer: Scorer) -> None:
        """Judge answers without a usable score keep the rule score: say how many, and stop
        when most are unusable (the scores would be the rule's while claiming the judge's)."""
        if scorer.judge is not None:
            self._judge_tally = {"judge": {"asked": scorer.judged, "unusable": scorer.unusable}}
        if not scorer.unusable or self.stop.reason:
            return
        spec = self.config.eval.judge_spec
        said = (f"the LLM judge ({spec}) gave no usable score for {scorer.unusable} of "
                f"{scorer.judged} answers")
        if scorer.unusable * 2 > scorer.judged:
            self.stop(RunStatus.JUDGE_UNUSABLE, f"{said}; check eval.judge_spec, "
                      f"eval.judge_base_url and its key, or use eval.judge = \"rule\"")
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
        message = f"{cause}; fix it, then resume with `{resume_command(self.run_id)}`"
        try:
            self.store.set_run_status(self.run_id, RunStatus.FAILED)
        except sqlite3.Error:
            pass  # left "running", which a rerun resumes as well
        try:
            self.emit(ev.RunFinished(self.run_id, status=RunStatus.FAILED, exit_code=exit_code,
                                     seconds=time.monotonic() - started,
                                     run_dir=str(self.run_dir), message=message))
        except OSError:
            pass
        return RunOutcome(self.run_id, self.run_dir, RunStatus.FAILED, exit_code, message)

    # -- after the stream: the gate, then the barrier stages ---------------------------------
    async def _after_stream(self, cancel: threading.Event) -> str:
        if self.stop.reason:
            return self.stop.reason
        if cancel.is_set():
            return self._cancelled()
        gold = self.counters["gold_check"]
        if gold.done and not gold.kept:
            source, detail = self.store.first_gold_failure(self.run_id)
            self.stop(RunStatus.DATASET_INVALID,
                      f"{source}: every gold query of the dataset failed ({gold.done} of "
                      f"{gold.done}; first: {detail[:200]}): the dataset's SQL does not run on "
                      f"its databases; fix the dataset or its database files (the teacher was "
                      f"not asked)")
            return RunStatus.DATASET_INVALID
        failed_gate = await self.gatekeeper.final()
        if failed_gate is not None:
            if cancel.is_set():
                return self._cancelled()
            self.stop(RunStatus.GATE_FAILED, failed_gate)
            return RunStatus.GATE_FAILED
        for info in stages("barrier"):
            said: list[tuple[str, str]] = []  # a stage's log lines follow its StageFinished
            ctx = BarrierContext(self.config, self.store, self.run_id, self.run_dir,
                                 scored=self.quality.total,
                                 log=lambda level, message: said.append((level, message)))
            self.tracker.start(info.name)
            kept, rejected = info.step(ctx)
            self.tracker.count_many(info.name, kept=kept, rejected=rejected)
            self.tracker.finish(info.name)
            for level, message in said:
                self.log(level, message)
        return RunStatus.COMPLETED

    def _cancelled(self) -> str:
        self.stop(RunStatus.CANCELLED,
                  f"stopped by the user; resume with `{resume_command(self.run_id)}`")
        return RunStatus.CANCELLED

    async def _student_stages(self, dataset: Dataset, evaluator: Evaluator,
                              judge: StoredAnswers | None, cancel: threading.Event,
                              teacher: TeacherStage) -> str:
        run = StudentRun(self.config, self.store, self.run_id, self.run_dir, self._student_dir,
                         self.tracker, self.emit, self.log)
        # the student's answers go through the same chain, without the teacher's counters
        # (a student's answer gets no repair round or candidates: it is judged as it is)
        chain = AnswerChain(StepContext(evaluator, Scorer(judge), self._rules), marks=False,
                            chain=[s for s in stages("answer") if s.name not in ROUND_STAGES])
        try:
            status = await run_student_stages(run, dataset, chain, cancel, teacher)
        finally:
            self._student_report = run.report
        if status == RunStatus.CANCELLED:
            return self._cancelled()
        if run.message:
            self.stop(status, run.message)
        return status

    def _report_progress(self, teacher: TeacherStage) -> None:
        self.tracker.emit_progress(teacher,
                                   judge_requests=self._judge.fresh if self._judge else 0,
                                   judge_cost=self._judge.cost if self._judge else 0.0)

    # -- artifacts --------------------------------------------------------------------------
    def _write_reports(self, gold_cache_stats: dict[str, Any],
                       suite_stats: dict[str, Any]) -> None:
        """Quality reports, manifests and timing from the store, plus the run manifest."""
        run_id, store, config_hash = self.run_id, self.store, self.config.config_hash()
        dedup = self.counters["dedup"]
        write_run_reports(
            store, run_id, self.run_dir, config_hash=config_hash,
            min_score=self.config.select.min_score, selected=self.counters["select"].finished,
            read=self.counters["canonical"].done, duplicates=dedup.rejected,
            extras={"gold_check": {"gold_empty": self._gold_empty,
                                   "gold_cache": gold_cache_stats},
                    "execeval": {"duplicates": self.config.eval.duplicates},
                    "suite_check": suite_stats,
                    "rules": {"workers": {"processes": self._rules.workers,
                                          "answers_checked": self._rules.checked_in_workers}},
                    "score": {"gold_cache": gold_cache_stats, **self._judge_tally},
                    **rounds_report(store, run_id, self.tracker.counters["select"].kept)},
            student=self._student_report, left_out=self._rounds_off)
        run = store.get_run(run_id)
        artifacts.write_json(self.run_dir / "manifests" / "run.manifest.json", {
            "run_id": run_id, "config_hash": config_hash, "dataset": run["dataset"],
            "teacher": run["teacher"], "gate_decisions": json.loads(run["gate_decisions"]),
            "config": json.loads(run["config_json"]), "created_at": run["created_at"]})
