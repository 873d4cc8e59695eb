"""The run's scorer: the rule score by default (1.0 gold match, or for a question without gold
SQL kept by agreement; 0.5 executes, 0.0 otherwise: a
summary of the execution verdict, not a judge); optionally an LLM judge through any configured
provider, asked only about SQL that passed the rules and executed (a rejected answer's score is
already decided, and a judge costs money). A judge answer without a usable score keeps the
rule score and is counted as unusable."""

from __future__ import annotations

from ..prompt import compact_schema
from ..providers.base import Provider
from ..sql.judge import llm_judge_score, rule_score
from ..types import GenParams
from .base import WorkItem


class Scorer:
    def __init__(self, judge: Provider | None = None, params: GenParams | None = None) -> None:
        self.judge = judge
        self.params = params or GenParams(temperature=0.0, max_tokens=16)
        self.judged = 0  # answers the judge was asked about
        self.unusable = 0  # of those, answers with no usable score

    async def score(self, item: WorkItem) -> None:
        exec_ok = bool(item.outcome and item.outcome.exec_ok)
        item.score = rule_score(exec_ok, item.verified)
        if self.judge is not None and item.sql and item.alive:
            ex = item.example
            judged = await llm_judge_score(self.judge, ex.question, compact_schema(ex.schema),
                                           item.sql, self.params)
            self.judged += 1
            if judged is None:
                self.unusable += 1
            else:
                item.score = judged
