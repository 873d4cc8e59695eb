"""rules: cheap checks before execution (empty, length, one statement, SELECT only, parses)."""

from __future__ import annotations

from ..sql.rule_pool import RuleOutcome, rule_outcome
from .base import WorkItem
from .context import StepContext


def apply_rules(item: WorkItem) -> None:
    """The rule check on this thread (the engine sends its answers to a RuleChecker)."""
    apply_rule_outcome(item, rule_outcome(item.sql or ""))


def apply_rule_outcome(item: WorkItem, outcome: RuleOutcome) -> None:
    if outcome.reason is not None:
        item.reject("rules", outcome.reason, outcome.detail)
    else:
        item.sql_fingerprint = outcome.fingerprint


async def step(item: WorkItem, ctx: StepContext) -> float:
    """The check in the run's rule worker; its seconds are the worker's, not the wait."""
    outcome = await ctx.rules.check(item.sql or "")
    apply_rule_outcome(item, outcome)
    return outcome.seconds
