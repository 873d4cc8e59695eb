"""The unit of work that flows through the per-sample stages (what a stage may use besides the
sample is in context.py)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ..sql.evaluator import EvalOutcome
from ..types import Answer, Example


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
    agreed: bool | None = None  # without gold SQL: kept by agreement (stages/agreement.py)
    lf_match: bool | None = None  # WikiSQL logical-form accuracy; None without a logical form
    lf_exec_match: bool | None = None  # WikiSQL official execution accuracy
    stage: str = ""  # the stage working on the sample now (names where an exception struck)
    rejected_at: str | None = None  # the stage that rejected the sample
    reason: str | None = None  # its reason code
    detail: str = ""
    rounds: dict[str, Any] = field(default_factory=dict)  # candidates / repair asked (JSON)
    trial: WorkItem | None = None  # the kept answer's trial by the candidates stage

    @property
    def verified(self) -> bool:
        """What the rule score gives 1.0: a gold match, or (without gold SQL) agreement."""
        return bool(self.outcome and self.outcome.gold_match) or bool(self.agreed)

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
