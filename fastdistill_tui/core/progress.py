"""Per-stage progress of a run: counters, stage totals, and the events that report them
(StageStarted / StageProgress / StageFinished, RequestStats, TimingUpdated).

A stage's total is what the validation pass counted for the first stages, else what its
upstream stage (stages/registry.upstream) passes on: exact once that stage has finished.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import artifacts, events as ev
from .stages.registry import stage, stage_names, timed_stages, upstream

if TYPE_CHECKING:
    from .stages.teacher import TeacherStage

RECENT_TIMINGS = 2000  # own-work seconds kept per stage for the live p50 bars


@dataclass(frozen=True)
class SplitPlan:
    """What the validation pass counted: rows the producer will read (up to --limit) and the
    samples left after dedup and --limit, so progress has totals from the first event."""

    rows_read: int
    samples: int
    no_gold: int = 0  # of the samples, those without gold SQL


@dataclass
class StageCounter:
    done: int = 0
    kept: int = 0
    rejected: int = 0
    started: float = 0.0
    finished: bool = False


class StageTracker:
    """Counts each stage's verdicts and reports them through `emit`."""

    def __init__(self, run_id: str, emit: Callable[[ev.Event], None]) -> None:
        self.run_id = run_id
        self.emit = emit
        self.plan = SplitPlan(0, 0)
        self.counters = {name: StageCounter() for name in stage_names()}
        self.ready_ahead = 0  # gold-checked samples waiting for a teacher slot
        self._recent: dict[str, deque[float]] = {}

    # -- counting ---------------------------------------------------------------------------
    def start(self, name: str) -> None:
        counter = self.counters[name]
        if not counter.started:
            counter.started = time.monotonic()
            self.emit(ev.StageStarted(self.run_id, stage=name))

    def count(self, name: str, kept: bool) -> None:
        counter = self.counters[name]
        counter.done += 1
        if kept:
            counter.kept += 1
        else:
            counter.rejected += 1

    def count_many(self, name: str, *, kept: int, rejected: int) -> None:
        counter = self.counters[name]
        counter.done += kept + rejected
        counter.kept += kept
        counter.rejected += rejected

    def finish(self, name: str) -> None:
        counter = self.counters[name]
        if counter.finished or not counter.started:
            return
        counter.finished = True
        self.emit(ev.StageFinished(self.run_id, stage=name, total=counter.done,
                                   kept=counter.kept, rejected=counter.rejected,
                                   seconds=time.monotonic() - counter.started,
                                   expected=self.total(name)))

    def remember_timings(self, own: dict[str, float]) -> None:
        """Keep the latest own-work seconds per stage for live p50 bars (bounded memory)."""
        for name, seconds in own.items():
            recent = self._recent.get(name)
            if recent is None:
                recent = self._recent[name] = deque(maxlen=RECENT_TIMINGS)
            recent.append(seconds)

    # -- totals -----------------------------------------------------------------------------
    def total(self, name: str) -> int:
        """What the stage will see in all: from the validation pass for the first stages, else
        what its upstream stage passes on (exact once the upstream stage has finished)."""
        kind = stage(name).kind
        if kind == "ingest":
            return self.plan.rows_read
        if kind == "gold":
            return self.plan.samples
        if kind == "student":
            return 0
        source = upstream(name)
        return max(self.total(source) - self.counters[source].rejected, 0)

    # -- events -----------------------------------------------------------------------------
    def emit_progress(self, teacher: TeacherStage, *, judge_requests: int = 0,
                      judge_cost: float = 0.0) -> None:
        now = time.monotonic()
        for name, c in self.counters.items():
            if not c.started or c.finished:
                continue
            rate = c.done / max(now - c.started, 1e-6)
            total = self.total(name)
            eta = (total - c.done) / rate if total and rate > 0 else None
            self.emit(ev.StageProgress(self.run_id, stage=name, done=c.done, total=total,
                                       kept=c.kept, rejected=c.rejected, rate_per_s=rate,
                                       eta_s=eta))
        self._emit_request_stats(teacher, now, judge_requests, judge_cost)
        self._emit_timings()

    def _emit_request_stats(self, teacher: TeacherStage, now: float, judge_requests: int,
                            judge_cost: float) -> None:
        expected = self.total("teacher")
        rc = teacher.counter
        answered = rc.cached + rc.fresh + rc.earlier
        remaining = max(expected - answered, 0) if expected else 0
        fresh_rate = rc.fresh / max(now - rc.started, 1e-6)
        provider = teacher.answers.provider
        self.emit(ev.RequestStats(
            self.run_id, cached=rc.cached, fresh=rc.fresh, failed=rc.failed,
            in_flight=rc.in_flight, ready_ahead=self.ready_ahead, tokens_in=rc.tokens_in,
            tokens_out=rc.tokens_out, cost=rc.cost, requests_per_min=rc.per_minute(rc.fresh),
            tokens_per_min=rc.per_minute(rc.tokens_in + rc.tokens_out),
            projected_cost=rc.cost + (rc.cost / rc.fresh * remaining if rc.fresh else 0.0),
            eta_s=(remaining / fresh_rate) if remaining and fresh_rate > 0 else None,
            retries=rc.retries, earlier=rc.earlier, rate_limited=provider.rate_limited,
            paused_s=provider.paused_s(), judge_requests=judge_requests,
            judge_cost=judge_cost))

    def _emit_timings(self) -> None:
        if not self._recent:
            return
        sums = {k: sum(v) for k, v in self._recent.items()}
        grand = sum(sums.values())
        stages = {}
        for name in (*timed_stages(), "queue_wait"):
            if name in self._recent:
                values = sorted(self._recent[name])
                stages[name] = {"p50": artifacts.percentile(values, 50),
                                "p90": artifacts.percentile(values, 90),
                                "share": sums[name] / grand if grand > 0 else 0.0}
        self.emit(ev.TimingUpdated(self.run_id, stages=stages))
