"""score: WikiSQL's official metrics where a sample has a logical form, then its score from the
run's Scorer (stages/scorer.py: the rule score, or an LLM judge)."""

from __future__ import annotations

from .base import WorkItem
from .context import StepContext
from .execeval import wikisql_metrics


async def step(item: WorkItem, ctx: StepContext) -> None:
    """WikiSQL's official metrics where the sample has a logical form, then the score."""
    await wikisql_metrics(item)
    await ctx.scorer.score(item)
