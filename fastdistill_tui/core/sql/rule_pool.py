"""The rule check of teacher answers in worker processes.

The rule check (sqlglot parse, canonical render, fingerprint) is the engine's largest own cost
per answer, ~0.2–0.3 ms of pure Python. Run on the event loop's thread it holds up the loop
that keeps the teacher's requests in flight; here it runs in `workers` child processes
(`python -m fastdistill_tui.core.sql.rule_pool`) on the other cores. Answers go in batches (all
that arrive in one turn of the loop, at most BATCH_MAX) as one JSON line, and come back as one,
in order. A plain child process rather than multiprocessing: it never re-runs the parent's
script (a script driving the Engine needs no `__main__` guard) and its pipes are the event
loop's own. Should a worker fail to start or die, the answers are checked on the loop's thread
from then on: the same function either way, so the same verdicts.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from .rules import rule_check

BATCH_MAX = 64  # answers in one hand-off
MIN_SAMPLES = 500  # fewer samples are checked inline: starting a worker costs about as much
STDERR_KEPT = 2000  # characters of a worker's stderr kept for the failure message
CLOSE_WAIT_S = 2.0  # a worker gets this long to exit after its input closes


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


Batch = list[tuple[str, "asyncio.Future[RuleOutcome]"]]


class _Worker:
    """One child process and the batches it has been sent, answered in order."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.sent: deque[Batch] = deque()
        self.stderr = ""
        self.ready = asyncio.get_running_loop().create_future()  # its imports are done
        self.tasks: list[asyncio.Task[None]] = []


class RuleChecker:
    """`await checker.check(sql)` → RuleOutcome; `await start()` before, `await aclose()`
    after. `on_failure` gets one message if the workers fail (the run goes on, checking
    inline). With workers=0 every answer is checked inline."""

    worker_module = __name__  # run with `python -m`

    def __init__(self, workers: int, on_failure: Callable[[str], None] = lambda msg: None):
        self.workers = workers
        self.checked_in_workers = 0
        self._on_failure = on_failure
        self._failed = False
        self._pending: Batch = []
        self._children: list[_Worker] = []
        self._next = 0  # round robin over the workers

    async def start(self) -> None:
        """Start the workers (they import while the first requests are out)."""
        package_root = str(Path(__file__).resolve().parents[3])  # this very fastdistill_tui
        env = {**os.environ,
               "PYTHONPATH": os.pathsep.join(filter(None, [package_root,
                                                           os.environ.get("PYTHONPATH")]))}
        for _ in range(self.workers):
            try:
                process = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", self.worker_module, stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env)
            except (OSError, ValueError) as exc:
                self._give_up(f"{type(exc).__name__}: {exc}")
                return
            worker = _Worker(process)
            worker.tasks = [asyncio.create_task(self._read_answers(worker)),
                            asyncio.create_task(self._read_stderr(worker))]
            self._children.append(worker)

    async def check(self, sql: str) -> RuleOutcome:
        if self._children and not self._children[0].ready.done():
            await asyncio.shield(self._children[0].ready)  # the first answers wait ~0.2 s
        if not self._children:
            return rule_outcome(sql)
        future = asyncio.get_running_loop().create_future()
        self._pending.append((sql, future))
        if len(self._pending) >= BATCH_MAX:
            self._send()
        elif len(self._pending) == 1:
            asyncio.get_running_loop().call_soon(self._send)
        return await future

    def _send(self) -> None:
        batch, self._pending = self._pending, []
        if not batch:
            return
        if not self._children:  # the workers failed after this batch was queued
            _resolve_inline(batch)
            return
        worker = self._children[self._next % len(self._children)]
        self._next += 1
        worker.sent.append(batch)
        line = json.dumps([sql for sql, _ in batch]) + "\n"  # ASCII: \u escapes survive
        try:
            worker.process.stdin.write(line.encode("ascii"))
        except (OSError, RuntimeError) as exc:  # the pipe is gone: the worker died
            self._give_up(f"{type(exc).__name__}: {exc}")

    async def _read_answers(self, worker: _Worker) -> None:
        """The worker's "ready" line, then one line of outcomes per batch, in order."""
        try:
            if (await worker.process.stdout.readline()).strip() != b"ready":
                raise EOFError("it exited before it was ready")
            worker.ready.set_result(None)
            while True:  # until EOF: a worker only ends when its input does, or dies
                line = await worker.process.stdout.readline()
                if not line:
                    raise EOFError("it exited")
                batch = worker.sent[0]  # left there until it is answered in full
                outcomes = [RuleOutcome(*fields) for fields in json.loads(line)]
                if len(outcomes) != len(batch):
                    raise ValueError(f"{len(outcomes)} outcomes for {len(batch)} answers")
                worker.sent.popleft()
                self.checked_in_workers += len(batch)
                for (_, future), outcome in zip(batch, outcomes):
                    if not future.done():
                        future.set_result(outcome)
        except (EOFError, ValueError, TypeError, IndexError) as exc:
            if worker not in self._children:
                return  # closed (aclose) or given up already
            await asyncio.sleep(0)  # let its stderr reader take the last words
            code = worker.process.returncode
            self._give_up(f"{exc}{f' (exit code {code})' if code is not None else ''}"
                          f"{': ' + worker.stderr[-500:].strip() if worker.stderr else ''}")

    @staticmethod
    async def _read_stderr(worker: _Worker) -> None:
        while chunk := await worker.process.stderr.read(4096):
            worker.stderr = (worker.stderr + chunk.decode(errors="replace"))[-STDERR_KEPT:]

    def _give_up(self, why: str) -> None:
        """From now on every answer is checked inline, those already sent included."""
        children, self._children = self._children, []
        for worker in children:
            if not worker.ready.done():
                worker.ready.set_result(None)
            while worker.sent:
                _resolve_inline(worker.sent.popleft())
            _stop(worker)
        if not self._failed:
            self._failed = True
            self._on_failure(f"rule-check workers failed ({why}); checking answers on the "
                             f"engine's thread instead")

    async def aclose(self) -> None:
        children, self._children = self._children, []
        for worker in children:
            if worker.process.stdin is not None and not worker.process.stdin.is_closing():
                worker.process.stdin.close()  # end of input: the worker exits
        for worker in children:
            try:
                await asyncio.wait_for(worker.process.wait(), CLOSE_WAIT_S)
            except TimeoutError:
                _stop(worker)
            for task in worker.tasks:
                task.cancel()


def _resolve_inline(batch: Batch) -> None:
    for sql, future in batch:
        if not future.done():
            future.set_result(rule_outcome(sql))


def _stop(worker: _Worker) -> None:
    if worker.process.returncode is None:
        try:
            worker.process.kill()
        except ProcessLookupError:
            pass
    for task in worker.tasks:
        if task is not asyncio.current_task():
            task.cancel()


def main() -> None:
    """The worker: a batch of SQL texts a line on stdin, their outcomes a line on stdout; it
    ends when its stdin does, so it never outlives the engine (killed or not)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the engine's to handle
    out = sys.stdout
    out.write("ready\n")
    out.flush()
    for line in sys.stdin.buffer:
        out.write(json.dumps([list(rule_outcome(sql)) for sql in json.loads(line)]) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
