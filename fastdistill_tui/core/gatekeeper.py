"""The teacher-eval gate during a run: the early check after the first `min_total` answers,
the final check after the stream, and who decided what (events and the run manifest).

`decide_gate(GateEvaluated) -> GateDecision` is asked only when a gate fails and no override is
configured: a plain function runs in a thread (it may block on a prompt), a coroutine function
on the engine's loop; a bare bool counts as the user's. New requests pause while it is open;
`cancel` drops the question (nothing recorded).
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import Awaitable, Callable

from . import events as ev
from .config import Config
from .gates import (TEACHER_EVAL, GateDecision, TeacherQuality, describe_failure,
                    evaluate_teacher_gate, override_hint)
from .store import Store

DECISION_POLL_S = 0.1  # how often a pending gate question looks at the cancel event

GateDecider = Callable[[ev.GateEvaluated], GateDecision | Awaitable[GateDecision]]


class Gatekeeper:
    def __init__(self, config: Config, store: Store, run_id: str,
                 emit: Callable[[ev.Event], None], log: Callable[[str, str], None],
                 quality: TeacherQuality, stop: Callable[[str, str], None]) -> None:
        """`stop(status, message)` ends the run's stream (the early gate failed)."""
        self.config, self.store, self.run_id = config, store, run_id
        self.emit, self.log, self.quality, self.stop = emit, log, quality, stop
        self.decide_gate: GateDecider = lambda event: GateDecision(False, "policy")
        self.cancel = threading.Event()
        self.open = asyncio.Event()  # set while new requests may go out
        self.open.set()
        self.early_done = False
        #: (start, end) in perf_counter seconds of each time new requests waited for a
        #: person's decision; end is None while the question is open
        self.held: list[tuple[float, float | None]] = []

    @property
    def _gate(self):
        return self.config.gates.teacher_eval

    def early_pending(self) -> bool:
        """True until the early gate has been checked, when it could stop the run: meanwhile
        each request slot waits for its answer's evaluation, so at most `concurrency` requests
        are paid for beyond the first `min_total` answers of a teacher the gate stops."""
        gate = self._gate
        return (gate.enabled and gate.min_total > 0 and not self.early_done
                and TEACHER_EVAL not in self.config.run.override_gates)

    def held_between(self, start: float, end: float) -> float:
        """Seconds of [start, end] (perf_counter) during which new requests were held for a
        decision: waiting for a person is not queue time."""
        return sum(max(min(end, stop if stop is not None else end) - max(start, begin), 0.0)
                   for begin, stop in self.held)

    async def maybe_early(self) -> None:
        gate = self._gate
        if (not gate.enabled or self.early_done or gate.min_total <= 0
                or self.quality.total < gate.min_total):
            return
        self.early_done = True
        event = evaluate_teacher_gate(self.run_id, gate, self.quality, early=True)
        self.emit(event)
        if event.passed:
            self._record(event, proceed=True, overridden=False, by="auto")
            return
        self.open.clear()  # pause new requests while someone decides
        self.held.append((time.perf_counter(), None))
        try:
            proceed = await self._decide(event)
        finally:
            self.open.set()
            self.held[-1] = (self.held[-1][0], time.perf_counter())
        if not proceed and not self.cancel.is_set():
            self.stop("gate_failed", f"{describe_failure(event)} after the first "
                                     f"{self.quality.total} answers; stopped before paying "
                                     f"for the rest; {override_hint(TEACHER_EVAL, self.run_id)}")

    async def final(self) -> str | None:
        """The check after the stream: None to go on, else the message of a failed gate (or
        "" when the run was cancelled while the question was open)."""
        gate = self._gate
        if not gate.enabled:
            return None
        event = evaluate_teacher_gate(self.run_id, gate, self.quality)
        self.emit(event)
        if event.passed:
            self._record(event, proceed=True, overridden=False, by="auto")
            return None
        if await self._decide(event):
            return None
        if self.cancel.is_set():
            return ""
        return f"{describe_failure(event)}; {override_hint(TEACHER_EVAL, self.run_id)}"

    async def _decide(self, event: ev.GateEvaluated) -> bool:
        if event.gate in self.config.run.override_gates:
            proceed, overridden, by = True, True, "--override-gate"
        else:
            decision = await self._ask(event)
            if decision is None:
                self.log("warning", f"gate {event.gate}: stopped before anyone decided")
                return False
            proceed, overridden, by = decision.proceed, decision.proceed, decision.by
        self._record(event, proceed=proceed, overridden=overridden, by=by)
        return proceed

    def _record(self, event: ev.GateEvaluated, *, proceed: bool, overridden: bool,
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
        """The decider's answer, or None once cancel is set while the question is open."""
        if inspect.iscoroutinefunction(self.decide_gate):
            pending = asyncio.ensure_future(self.decide_gate(event))
        else:
            pending = asyncio.ensure_future(asyncio.to_thread(self.decide_gate, event))
        while not pending.done():
            if self.cancel.is_set():
                pending.cancel()
                return None
            await asyncio.wait({pending}, timeout=DECISION_POLL_S)
        answer = pending.result()
        return answer if isinstance(answer, GateDecision) else GateDecision(bool(answer), "user")
