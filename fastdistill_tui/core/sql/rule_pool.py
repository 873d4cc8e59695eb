"""The rule check of teacher answers in worker processes.

The rule check (sqlglot parse, canonical render, fingerprint) is the engine's largest own cost
per answer, ~0.5–1 ms of pure Python. Run on the event loop's thread it holds up the loop that
keeps the teacher's requests in flight; here it runs in `workers` processes on the other cores.
Answers go in batches (all that arrive in one turn of the loop, at most BATCH_MAX), so the
hand-off costs little per answer. Should the workers fail to start or die, the answers are
checked on the loop's thread from then on: the same function either way, so the same verdicts.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import signal
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from typing import NamedTuple

from ..children import die_with_parent
from .rules import rule_check

BATCH_MAX = 64  # answers in one hand-off
MIN_SAMPLES = 500  # fewer samples are checked inline: starting a worker costs about as much


class RuleOutcome(NamedTuple):
    reason: str | None  # None: the answer may be executed; else why not
    fingerprint: str  # sha256 of its canonical SQL; "" when rejected
    detail: str  # what went wrong, for reason "internal_error"
    seconds: float  # the check's own work


def worker_count(cpu_count: int | None, samples: int) -> int:
    """One core stays with the event loop; more than 4 workers would wait for it."""
    if samples < MIN_SAMPLES:
        return 0
    return max(0, min(4, (cpu_count or 1) - 1))


def rule_outcome(sql: str) -> RuleOutcome:
    """The rule check of one answer, timed; an exception (a bug, or sqlglot's recursion on a
    pathological query) rejects that answer as "internal_error" rather than raising."""
    started = time.perf_counter()
    try:
        reason, fingerprint = rule_check(sql)
        detail = ""
    except RecursionError:  # its message varies with the stack it struck in: say it one way
        reason, fingerprint = "internal_error", ""
        detail = "RecursionError: the query nests too deeply to parse"
    except Exception as exc:  # noqa: BLE001 - one answer's failure rejects that answer only
        reason, fingerprint = "internal_error", ""
        detail = f"{type(exc).__name__}: {str(exc)[:200]}"
    return RuleOutcome(reason, fingerprint, detail, time.perf_counter() - started)


def rule_outcomes(sqls: list[str]) -> list[RuleOutcome]:
    return [rule_outcome(sql) for sql in sqls]


def _start_worker() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the engine's to handle
    die_with_parent()


def _ping() -> bool:
    return True


class RuleChecker:
    """`await checker.check(sql)` → RuleOutcome; `close()` when the run ends. `on_failure` gets
    one message if the workers fail (the run goes on, checking inline). With workers=0 every
    answer is checked inline."""

    def __init__(self, workers: int, on_failure: Callable[[str], None] = lambda msg: None):
        self._on_failure = on_failure
        self._failed = False
        self.workers = workers
        self.checked_in_workers = 0
        self._pending: list[tuple[str, asyncio.Future[RuleOutcome]]] = []
        self._pool: ProcessPoolExecutor | None = None
        self._started: Future[bool] | None = None
        if workers > 0:
            try:
                self._pool = ProcessPoolExecutor(
                    workers, mp_context=multiprocessing.get_context("spawn"),
                    initializer=_start_worker)
                self._started = self._pool.submit(_ping)
            except Exception as exc:  # noqa: BLE001 - no workers here: check inline
                self._give_up(exc)

    async def check(self, sql: str) -> RuleOutcome:
        if self._started is not None:
            await self._wait_started()
        if self._pool is None:
            return rule_outcome(sql)
        future = asyncio.get_running_loop().create_future()
        self._pending.append((sql, future))
        if len(self._pending) >= BATCH_MAX:
            self._send()
        elif len(self._pending) == 1:
            asyncio.get_running_loop().call_soon(self._send)
        return await future

    async def _wait_started(self) -> None:
        """The first answers wait for the workers to start (~0.2 s: Python and sqlglot)."""
        started = self._started
        try:
            await asyncio.wrap_future(started)
        except Exception as exc:  # noqa: BLE001 - no workers after all: check inline
            self._give_up(exc)
        else:
            if self._started is started:
                self._started = None

    def _send(self) -> None:
        batch, self._pending = self._pending, []
        if not batch:
            return
        if self._pool is None:  # the workers failed after this batch was queued
            self._resolve_inline(batch)
            return
        try:
            done = asyncio.wrap_future(self._pool.submit(rule_outcomes, [s for s, _ in batch]))
        except Exception as exc:  # noqa: BLE001 - a broken or closed pool: check inline
            self._give_up(exc)
            self._resolve_inline(batch)
            return
        done.add_done_callback(lambda finished: self._deliver(batch, finished))

    def _deliver(self, batch: list[tuple[str, asyncio.Future[RuleOutcome]]],
                 finished: asyncio.Future[list[RuleOutcome]]) -> None:
        if finished.cancelled() or finished.exception() is not None:
            if not finished.cancelled():
                self._give_up(finished.exception())
            self._resolve_inline(batch)
            return
        self.checked_in_workers += len(batch)
        for (_, future), outcome in zip(batch, finished.result()):
            if not future.done():
                future.set_result(outcome)

    @staticmethod
    def _resolve_inline(batch: list[tuple[str, asyncio.Future[RuleOutcome]]]) -> None:
        for sql, future in batch:
            if not future.done():
                future.set_result(rule_outcome(sql))

    def _give_up(self, exc: BaseException | None) -> None:
        pool, self._pool, self._started = self._pool, None, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        if not self._failed:
            self._failed = True
            self._on_failure(f"rule-check workers failed ({type(exc).__name__}: {exc}); "
                             f"checking answers on the engine's thread instead")

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._started = None
