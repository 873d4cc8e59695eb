"""execeval: run gold (before paying the teacher) and the answer in the SQLite sandbox and
compare results (DESIGN §5)."""

from __future__ import annotations

from ..sql.evaluator import Evaluator
from .base import WorkItem


async def check_gold(item: WorkItem, evaluator: Evaluator) -> None:
    """Rows whose gold SQL does not execute are dataset defects: skipped with a reason."""
    result = await evaluator.check_gold(item.example.db_path, item.example.gold_sql)
    item.gold_ok = result.ok
    item.gold_empty = result.ok and not result.rows
    if not result.ok:
        item.reject("gold_check", "gold_error", f"{result.error}: {result.detail}"[:500])


async def evaluate(item: WorkItem, evaluator: Evaluator) -> None:
    outcome = await evaluator.evaluate(item.example.db_path, item.example.gold_sql, item.sql)
    item.outcome = outcome
    if not outcome.exec_ok:
        item.reject("execeval", outcome.reason or "exec_error", outcome.detail[:500])
    elif not outcome.gold_match:
        item.reason, item.detail = outcome.reason, outcome.detail[:500]
    item.mark("eval")
