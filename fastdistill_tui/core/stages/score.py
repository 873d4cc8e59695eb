"""score: the judge. Default: the rule score (1.0 gold match, 0.5 executes, 0.0 otherwise);
optionally an LLM judge through any configured provider."""

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

    async def score(self, item: WorkItem) -> None:
        exec_ok = bool(item.outcome and item.outcome.exec_ok)
        gold_match = bool(item.outcome and item.outcome.gold_match)
        item.score = rule_score(exec_ok, gold_match)
        if self.judge is not None and item.sql:
            ex = item.example
            judged = await llm_judge_score(self.judge, ex.question, compact_schema(ex.schema),
                                           item.sql, self.params)
            if judged is not None:
                item.score = judged
