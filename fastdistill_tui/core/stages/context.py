"""What a stage may use besides its sample: the contract of an answer stage and of a barrier
stage. Kept apart from base.WorkItem so that the stage modules, which build on WorkItem, sit
below the run's parts named here (the scorer, the answer rounds)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .base import WorkItem

if TYPE_CHECKING:
    from pathlib import Path

    from ..config import Config
    from ..sql.evaluator import Evaluator
    from ..sql.rule_pool import RuleChecker
    from ..store import Store
    from .answer_rounds import Rounds
    from .scorer import Scorer


@dataclass(frozen=True)
class StepContext:
    """What an answer stage may use: the run's sandboxed evaluator, its scorer (rule score or
    LLM judge) and its rule checker (worker processes or inline)."""

    evaluator: Evaluator
    scorer: Scorer
    rules: RuleChecker
    #: the teacher and settings the answer rounds ask with (candidates, repair); None for the
    #: student's answers and for a run without rounds
    rounds: Rounds | None = None


#: An answer stage: `await step(item, ctx)` looks at the sample (its answer, sql, outcome) and
#: may reject it with `item.reject(<stage name>, reason, detail)`. It returns None, or the
#: seconds of its own work when the wall time around the call would overstate it (a check
#: done in another process). It may raise: the chain rejects that sample only.
AnswerStep = Callable[[WorkItem, StepContext], Awaitable[float | None]]


@dataclass(frozen=True)
class BarrierContext:
    """What a barrier stage may use; `scored` is how many samples the score stage passed on."""

    config: Config
    store: Store
    run_id: str
    run_dir: Path
    scored: int
    log: Callable[[str, str], None]


#: A barrier stage: runs once over the stored results after the stream and its gate, and
#: returns (kept, rejected) for its counter.
BarrierStep = Callable[[BarrierContext], tuple[int, int]]
