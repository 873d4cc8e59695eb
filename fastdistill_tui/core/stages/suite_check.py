"""suite_check: a gold match must also hold on perturbed copies of the sample's database
(test-suite checking, sql/test_suite.py), so that an answer right only by coincidence on the
dataset's rows (a count of 0, a condition every row happens to meet) is not kept.

Contract: it looks only at live samples whose answer matched gold (others pass untouched);
when gold and answer disagree on a copy it rejects the sample with reason "suite_mismatch"
and the copy's name and comparison reason as detail; gold_match stays as the original database
said, so gold-match rates stay comparable across runs. A database that cannot be copied leaves
the sample as it was (counted in TestSuite.unavailable).

eval.test_suite = "auto" (the default) leaves out WikiSQL-format samples (those with a logical
form): one table a question and each question its own literals make a literals copy a sample,
measured at ~4x the evaluation's time (docs/PERFORMANCE.md); "on" checks them too, "off" none.
"""

from __future__ import annotations

from ..sql.evaluator import Evaluator
from .base import WorkItem
from .context import StepContext


async def step(item: WorkItem, ctx: StepContext) -> None:
    await check(item, ctx.evaluator)


async def check(item: WorkItem, evaluator: Evaluator) -> None:
    suite = evaluator.suite
    if suite is None or not item.alive or not (item.outcome and item.outcome.gold_match):
        return
    ex = item.example
    if evaluator.config.test_suite == "auto" and ex.logical_form is not None:
        return
    verdict = await suite.check(evaluator, ex.db_path, ex.gold_sql, item.sql or "")
    if verdict is not None and not verdict.agreed:
        item.reject("suite_check", "suite_mismatch", verdict.detail)
