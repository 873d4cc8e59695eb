"""A trial of a teacher answer for the repair round and the k candidates: clean, rules,
execution and comparison, as the pipeline will judge it, on a scratch item that counts nothing;
and an order of trials from worst to best. (The final judgement of the kept answer is the
pipeline's own, after these stages.)"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ..sql.evaluator import Evaluator
from ..sql.rule_pool import RuleOutcome
from ..types import Answer, Completion
from . import execeval
from .base import WorkItem
from .clean import clean
from .rules import apply_rule_outcome

RuleCheck = Callable[[str], Awaitable[RuleOutcome]]


async def trial(item: WorkItem, answer: Answer, evaluator: Evaluator,
                check_rules: RuleCheck) -> WorkItem:
    """`answer` to `item`'s question judged on a scratch copy (the stage counters see nothing)."""
    judged = WorkItem(item.example, gold_ok=item.gold_ok, gold_empty=item.gold_empty)
    judged.answer = answer
    if not isinstance(answer, Completion):
        judged.reject("teacher", f"teacher_{answer.reason}", answer.detail)
        return judged
    clean(judged)
    if judged.alive:
        apply_rule_outcome(judged, await check_rules(judged.sql or ""))
    if judged.alive:
        await execeval.evaluate(judged, evaluator)
    return judged


def rank(judged: WorkItem) -> int:
    """Worst 0 … best 4: no answer, no SQL or rejected by the rules, fails to execute, runs
    but differs from gold, matches gold."""
    outcome = judged.outcome
    if outcome is not None and outcome.gold_match:
        return 4
    if outcome is not None and outcome.exec_ok:
        return 3 if not outcome.pred_empty else 2
    if judged.rejected_at == "execeval":
        return 1
    return 0


def verified(judged: WorkItem) -> bool:
    return rank(judged) == 4


def keep(item: WorkItem, answer: Answer, key: str) -> None:
    item.answer, item.cache_key = answer, key
