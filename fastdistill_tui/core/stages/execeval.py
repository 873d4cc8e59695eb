"""execeval: run gold (before paying the teacher) and the answer in the SQLite sandbox and
compare results (DESIGN §5)."""

from __future__ import annotations

import asyncio
import sqlite3

from ..sql.evaluator import Evaluator
from ..sql.wikisql import execution_match, logical_form_match, sql_to_logical_form
from .base import WorkItem
from .context import StepContext


async def check_gold(item: WorkItem, evaluator: Evaluator) -> None:
    """Rows whose gold SQL does not execute are dataset defects: skipped with a reason
    ("gold_timeout" apart: a timeout depends on load, so a resume tries it again). A sample
    without gold SQL has nothing to check here (stages/agreement.py checks its answer)."""
    if not item.example.has_gold:
        return
    result = await evaluator.check_gold(item.example.db_path, item.example.gold_sql)
    item.gold_ok = result.ok
    item.gold_empty = result.ok and not result.rows
    if not result.ok:
        reason = "gold_timeout" if result.error == "timeout" else "gold_error"
        item.reject("gold_check", reason, f"{result.error}: {result.detail}")


async def evaluate(item: WorkItem, evaluator: Evaluator) -> None:
    outcome = await evaluator.evaluate(item.example.db_path, item.example.gold_sql, item.sql)
    item.outcome = outcome
    if not outcome.exec_ok:
        item.reject("execeval", outcome.reason or "exec_error", outcome.detail)
    elif not outcome.gold_match:
        item.note(outcome.reason, outcome.detail)


async def wikisql_metrics(item: WorkItem) -> None:
    """WikiSQL's official logical-form and execution accuracy, for samples that carry a logical
    form: the answer is read back into one (an answer outside WikiSQL's grammar misses both)."""
    ex = item.example
    if ex.logical_form is None:
        return
    columns, table = ex.extra["columns"], ex.extra["table"]
    pred = sql_to_logical_form(item.sql, columns) if item.sql else None
    item.lf_match = pred is not None and logical_form_match(pred, ex.logical_form)
    item.lf_exec_match = False
    if pred is not None:
        try:
            item.lf_exec_match = await asyncio.to_thread(
                execution_match, ex.db_path, table, columns, pred, ex.logical_form)
        except (ValueError, IndexError, TypeError, sqlite3.Error):
            item.lf_exec_match = None  # the gold logical form itself does not execute


async def step(item: WorkItem, ctx: StepContext) -> None:
    await evaluate(item, ctx.evaluator)
