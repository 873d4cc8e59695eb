"""The streaming part of a run: samples flow canonical → dedup → gold check → teacher → the
answer chain (clean → rules → execeval → score) with bounded concurrency, so stages progress
side by side and memory does not grow with the dataset.

    producer ─queue─▶ gold checkers ─ready─▶ teacher workers ─answered─▶ evaluators

Gold checks run ahead of the teacher in tasks of their own (a slow check never leaves a request
slot empty); a request slot hands its answer to the evaluators and takes its next sample at once,
except until the early gate has been checked (then each slot waits for its own answer's
evaluation, so a teacher the gate stops costs at most `concurrency` requests beyond the first
`min_total`). On cancel or a stop, queued and ready samples are dropped unwritten, so a resume
picks them up.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

from . import events as ev
from .config import Config, redact_url
from .datasets.base import Dataset
from .gatekeeper import Gatekeeper
from .gates import TeacherQuality
from .progress import StageTracker
from .providers import endpoint_for
from .runs import resume_command
from .sql.evaluator import Evaluator
from .stages import execeval
from .datasets.sampling import sampled_examples
from .stages.answer_rounds import rounds_json
from .stages.base import WorkItem
from .stages.canonicalize import assign_sample_id, canonicalize
from .stages.chain import AnswerChain, reject_internal
from .stages.dedup import Deduplicator
from .stages.registry import stage_names, timed_stages
from .stages.teacher import FINAL_FAILURES, TeacherStage
from .store import ResultRow, Store

FLUSH_EVERY = 500
UNREACHABLE_AFTER = 8  # consecutive fresh connection/auth failures that stop the run
CANCEL_POLL_S = 0.1  # how often a stop request is passed on to requests waiting to retry
#: Gold-checked samples kept ready ahead of the teacher, as a multiple of its concurrency.
PREFETCH_FACTOR = 4
GOLD_CHECKS_PER_SQL_THREAD = 2  # gold checks at once: one waiting per SQL thread that runs one


@dataclass
class RunStop:
    """Why the stream stops early (a failed gate, an unreachable teacher), said once."""

    reason: str | None = None
    message: str = ""

    def __call__(self, reason: str, message: str) -> None:
        self.reason, self.message = reason, message


@contextmanager
def timed(own: dict[str, float], name: str) -> Iterator[None]:
    """Adds the seconds spent in the block to own[name]."""
    started = time.perf_counter()
    yield
    own[name] = own.get(name, 0.0) + time.perf_counter() - started


class SampleStream:
    def __init__(self, config: Config, store: Store, run_id: str, *, tracker: StageTracker,
                 gatekeeper: Gatekeeper, quality: TeacherQuality, teacher: TeacherStage,
                 chain: AnswerChain, evaluator: Evaluator, stop: RunStop,
                 cancel: threading.Event, resume: bool,
                 report_progress: Callable[[], None]) -> None:
        """`report_progress()` emits the run's progress events (every PROGRESS_INTERVAL_S
        while the stream runs, and once at its end)."""
        self.config, self.store, self.run_id = config, store, run_id
        self.report_progress = report_progress
        self.tracker, self.gatekeeper, self.quality = tracker, gatekeeper, quality
        self.teacher, self.chain, self.evaluator = teacher, chain, evaluator
        self.stop, self.cancel, self.resume = stop, cancel, resume
        self.gold_empty = 0
        self._done_flags: dict[str, tuple] = {}  # resume: stored outcome per finished sample
        #: answer stages that run on every sample whose gold executes: counted as stored
        self._counted_when_stored = tuple(s.name for s in chain.stages if s.on_rejected)

    def _stopping(self) -> bool:
        return self.cancel.is_set() or self.stop.reason is not None

    async def run(self, dataset: Dataset, split: str) -> None:
        tracker, cancel = self.tracker, self.cancel
        concurrency = max(1, min(self.config.teacher.concurrency, tracker.plan.samples))
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
        for name in stage_names("ingest", "gold", "teacher"):
            tracker.start(name)

        async def produce() -> None:
            dedup = Deduplicator()
            limit = self.config.dataset.limit
            seq = 0
            for example in sampled_examples(dataset, split, limit, self.config.dataset.seed):
                if self._stopping() or (limit and seq >= limit):
                    break
                item = WorkItem(example)
                item.mark("raw")
                canonicalize(item)
                assign_sample_id(item)
                tracker.count("canonical", True)
                if not dedup.is_new(item.sample_id):
                    tracker.count("dedup", False)
                    continue
                tracker.count("dedup", True)
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
            for name in stage_names("ingest"):
                tracker.finish(name)
            for _ in range(checkers):
                await queue.put(None)

        async def check() -> None:
            nonlocal checkers_left
            while (item := await queue.get()) is not None:
                if self._stopping():
                    continue  # drain: not written, so a resume picks it up
                own = {"queue_wait": self._queued_for(item)}
                if await self._check_gold(item, own):
                    item.queued_at = time.perf_counter()
                    await ready.put((item, own))
                    tracker.ready_ahead += 1
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
                tracker.ready_ahead -= 1
                if self._stopping():
                    continue  # drain: not written, so a resume picks it up
                own["queue_wait"] += self._queued_for(item)
                if not await self._ask_teacher(item, own):
                    continue
                if self.gatekeeper.early_pending():  # no slot runs ahead of what it has seen
                    await self._evaluate(item, own)
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
                own["queue_wait"] += self._queued_for(item)
                await self._evaluate(item, own)

        async def pass_on_cancel() -> None:
            while not cancel.is_set():
                await asyncio.sleep(CANCEL_POLL_S)
            self.teacher.answers.provider.stop()  # requests waiting to retry give up now
            if self.chain.ctx.scorer.judge is not None:
                self.chain.ctx.scorer.judge.stop()

        async def report() -> None:
            while True:
                await asyncio.sleep(ev.PROGRESS_INTERVAL_S)
                self.store.flush()
                self.report_progress()

        reporter = asyncio.create_task(report())
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
        self.report_progress()
        for name in timed_stages():
            tracker.finish(name)

    def _queued_for(self, item: WorkItem) -> float:
        """Seconds the sample has waited in a queue since `queued_at`, less the time the early
        gate held new requests for a person's decision (shown as waiting, not as queueing)."""
        now = time.perf_counter()
        return now - item.queued_at - self.gatekeeper.held_between(item.queued_at, now)

    async def _check_gold(self, item: WorkItem, own: dict[str, float]) -> bool:
        """The gold check, ahead of the teacher; True when the sample goes on to the teacher.
        A check that raises rejects that sample only."""
        item.stage = "gold_check"
        try:
            with timed(own, "gold_check"):
                await execeval.check_gold(item, self.evaluator)
        except Exception as exc:  # noqa: BLE001 - one sample's bug rejects that sample only
            reject_internal(item, exc, self.tracker)
            return False
        self.tracker.count("gold_check", item.gold_ok)
        return item.gold_ok

    async def _ask_teacher(self, item: WorkItem, own: dict[str, float]) -> bool:
        """The teacher stage of a gold-checked sample, timed into `own` (stage -> seconds of
        work); True when the answer goes on to evaluation, False when the sample is left for
        a resume (cancelled) or already stored (its processing raised)."""
        teacher = self.teacher
        try:
            await self.gatekeeper.open.wait()
            if self._stopping():
                return False
            item.stage = "teacher"
            with timed(own, "teacher"):
                await teacher.run(item)
            if item.reason == "teacher_cancelled":
                return False  # not written: a resume asks again
            self.tracker.count("teacher", item.alive)
            if teacher.unreachable_streak >= UNREACHABLE_AFTER and self.stop.reason is None:
                self._stop_unreachable(item)
        except Exception as exc:  # noqa: BLE001 - one sample's bug rejects that sample only
            reject_internal(item, exc, self.tracker)
            self._store_result(item, own)
            await self.gatekeeper.maybe_early()
            return False
        return True

    async def _evaluate(self, item: WorkItem, own: dict[str, float]) -> None:
        await self.chain.judge(item, own)
        if item.reason == "teacher_cancelled":
            return  # a round's request was stopped: not written, so a resume asks it again
        self._store_result(item, own)
        await self.gatekeeper.maybe_early()

    def _store_result(self, item: WorkItem, own: dict[str, float]) -> None:
        exec_ok = bool(item.outcome and item.outcome.exec_ok)
        gold_match = bool(item.outcome and item.outcome.gold_match)
        agreed = None if item.example.has_gold else bool(item.agreed)
        if item.gold_ok:
            self.quality.add(exec_ok, gold_match, item.score, item.reason, item.detail, agreed)
            self.gold_empty += item.gold_empty
            for name in self._counted_when_stored:
                self.tracker.count(name, True)
            self.tracker.remember_timings(own)
        self.store.queue_result(self.run_id, ResultRow(
            sample_id=item.sample_id, cache_key=item.cache_key, prompt_tokens=item.prompt_tokens,
            gold_ok=item.gold_ok, gold_empty=item.gold_empty,
            teacher_ok=bool(item.answer is not None and item.answer.ok),
            sql=item.sql, sql_fingerprint=item.sql_fingerprint,
            exec_ok=exec_ok, gold_match=gold_match, score=item.score,
            rejected_at=item.rejected_at, reason=item.reason, detail=item.detail,
            marks=item.marks, lf_match=item.lf_match, lf_exec_match=item.lf_exec_match,
            rounds=rounds_json(item.rounds), agreed=agreed))
        if self.store.pending >= FLUSH_EVERY:
            self.store.flush()

    def _resume_counts(self, sample_id: str) -> None:
        """A sample finished before the restart: count it at every stage it passed, as if it
        ran now, so a resumed run's progress and stage totals equal an uninterrupted run's."""
        gold_ok, teacher_ok, exec_ok, gold_match, score, gold_empty, rejected_at, reason, \
            detail, agreed = self._done_flags[sample_id]
        tracker = self.tracker
        tracker.count("gold_check", bool(gold_ok))
        if not gold_ok:
            return
        tracker.count("teacher", bool(teacher_ok))
        self.teacher.counter.earlier += bool(teacher_ok)
        alive = bool(teacher_ok)
        for info in self.chain.stages:
            if info.on_rejected:
                tracker.start(info.name)
            elif alive:
                tracker.start(info.name)
                alive = rejected_at != info.name
                tracker.count(info.name, alive)
        self.quality.add(bool(exec_ok), bool(gold_match), score, reason, detail,
                         None if agreed is None else bool(agreed))
        self.gold_empty += gold_empty
        for name in self._counted_when_stored:
            tracker.count(name, True)

    def _stop_unreachable(self, item: WorkItem) -> None:
        """Stop sending: every recent request failed in a way retrying will not fix."""
        teacher = self.config.teacher
        remote = bool(endpoint_for(teacher))
        where = (f"at {redact_url(teacher.base_url) or 'the provider default URL'}" if remote
                 else teacher.spec)
        check = ("Check --base-url, the model name and the API key" if remote else
                 "Check the model directory (config.json, weights, tokenizer)")
        self.stop("teacher_unreachable",
                  f"the teacher {where} failed {UNREACHABLE_AFTER} requests in a row "
                  f"({item.answer.reason}: {item.answer.detail[:200]}); stopped before trying "
                  f"the rest. {check}, then resume with `{resume_command(self.run_id)}` "
                  f"(failed answers are asked again)")
