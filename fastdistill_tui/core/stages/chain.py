"""The answer chain: every declared "answer" stage in order (clean → rules → execeval → score
today), with one wrapper for timing, counting and the per-sample exception guard. The teacher
half and both student evaluations judge their answers with this one `AnswerChain.judge`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Protocol

from ..sql.judge import rule_score
from .base import WorkItem
from .context import StepContext
from .registry import StageInfo, stages


class StageCounts(Protocol):
    """Where a stage's progress goes (the engine's tracker; nothing for the student's judge)."""

    def start(self, name: str) -> None: ...

    def count(self, name: str, kept: bool) -> None: ...


def reject_internal(item: WorkItem, exc: Exception, counts: StageCounts | None = None, *,
                    rejects: bool = True) -> None:
    """Reject a sample whose processing raised, at the stage that raised (`item.stage`), with
    the exception type in the detail; the run goes on. In a stage that rejects nothing
    (`rejects=False`: the score), the rule score stands and the sample only gets the reason."""
    detail = f"{type(exc).__name__}: {str(exc)[:200]}"
    if not rejects:
        item.score = rule_score(bool(item.outcome and item.outcome.exec_ok), item.verified)
        item.note("internal_error", detail)
        return
    if item.stage == "gold_check":
        item.gold_ok = False
    item.reject(item.stage, "internal_error", detail)
    if counts is not None:
        counts.count(item.stage, False)
    item.outcome = None
    item.score = 0.0


class AnswerChain:
    """Runs the answer stages on one sample at a time. `counts` receives each stage's start and
    verdicts; `judge(item, own)` adds each stage's seconds of own work to `own`. With
    `marks=False` (the student's answers) the stages write no timing marks: those would put the
    teacher pipeline's transitions into the student's rows of the timing report."""

    def __init__(self, ctx: StepContext, counts: StageCounts | None = None, *,
                 marks: bool = True, chain: Sequence[StageInfo] | None = None) -> None:
        self.ctx = ctx
        self.counts = counts
        self.marks = marks
        self.stages = tuple(chain if chain is not None else stages("answer"))

    async def judge(self, item: WorkItem, own: dict[str, float] | None = None) -> None:
        own = {} if own is None else own
        for info in self.stages:
            if not (item.alive or info.on_rejected):
                if info.mark_skipped and self.marks:
                    for label in info.marks:
                        item.mark(label)
                continue
            item.stage = info.name
            if self.counts is not None:
                self.counts.start(info.name)
            started = time.perf_counter()
            try:
                seconds = await info.step(item, self.ctx)
            except Exception as exc:  # noqa: BLE001 - one sample's bug rejects that sample only
                reject_internal(item, exc, self.counts, rejects=not info.on_rejected)
                break
            own[info.name] = own.get(info.name, 0.0) + (
                seconds if seconds is not None else time.perf_counter() - started)
            for label in info.marks if self.marks else ():
                item.mark(label)
            if self.counts is not None and not info.on_rejected:  # those count as stored
                self.counts.count(info.name, item.alive)
