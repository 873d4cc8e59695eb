"""The unit of work that flows through the per-sample stages, and the contract of a stage that
works on the teacher's (or the student's) answer."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..sql.evaluator import EvalOutcome
from ..types import Answer, Example

if TYPE_CHECKING:
    from pathlib import Path

    from ..config import Config
    from ..sql.evaluator import Evaluator
    from ..sql.rule_pool import RuleChecker
    from ..store import Store
    from .answer_rounds import Rounds
    from .score import Scorer


MAX_DETAIL = 500  # characters of a failure's detail kept per sample


@dataclass
class WorkItem:
    example: Example
    seq: int = 0
    queued_at: float = 0.0  # perf_counter() when queued for the workers (queue wait timing)
    canonical_input: str = ""
    schema_hash: str = ""
    sample_id: str = ""
    marks: dict[str, float] = field(default_factory=dict)
    messages: list[dict[str, str]] | None = None
    prompt_tokens: int = 0
    cache_key: str | None = None
    answer: Answer | None = None
    gold_ok: bool = True
    gold_empty: bool = False
    sql: str | None = None
    sql_fingerprint: str | None = None
    outcome: EvalOutcome | None = None
    score: float = 0.0
    lf_match: bool | None = None  # WikiSQL logical-form accuracy; None without a logical form
    lf_exec_match: bool | None = None  # WikiSQL official execution accuracy
    stage: str = ""  # the stage working on the sample now (names where an exception struck)
    rejected_at: str | None = None  # the stage that rejected the sample
    reason: str | None = None  # its reason code
    detail: str = ""
    rounds: dict[str, Any] = field(default_factory=dict)  # candidates / repair asked (JSON)
    trial: WorkItem | None = None  # the kept answer's trial by the candidates stage

    def mark(self, label: str) -> None:
        self.marks[label] = time.time()

    def reject(self, stage: str, reason: str, detail: str = "") -> None:
        self.rejected_at = stage
        self.note(reason, detail)

    def note(self, reason: str | None, detail: str = "") -> None:
        """A reason code for the sample's outcome; the detail is cut to MAX_DETAIL chars."""
        self.reason, self.detail = reason, detail[:MAX_DETAIL]

    @property
    def alive(self) -> bool:
        return self.rejected_at is None


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
