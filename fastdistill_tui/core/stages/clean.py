"""clean: pull one SQL statement out of the teacher's text (fences, prose, thinking blocks)."""

from __future__ import annotations

from ..sql.clean import clean_output
from .base import WorkItem
from .context import StepContext


def clean(item: WorkItem) -> None:
    result = clean_output(item.answer.text)
    if result.sql is None:
        item.reject("clean", result.reason or "no_sql_found")
    else:
        item.sql = result.sql


async def step(item: WorkItem, ctx: StepContext) -> None:
    clean(item)
