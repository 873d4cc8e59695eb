"""Every spider-de-dev gold query evaluated against itself: exactly the executing ones match.

The data set's README (measured): 978 of 1,030 gold queries execute; 52 fail because the
translation broke an identifier. Those must come back as "gold_error", never as a match.
"""

import asyncio
import json
import time
from pathlib import Path

import pytest

from fastdistill_tui.core.config import EvalConfig
from fastdistill_tui.core.sql.evaluator import Evaluator

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "spider-de-dev"


def load_rows():
    if not (DATA / "dev.json").exists():
        pytest.skip(f"spider-de-dev not found at {DATA} (it lives only in ../shared/data)")
    rows = json.loads((DATA / "dev.json").read_text(encoding="utf-8"))
    return [(str(DATA / "database" / r["db_id"] / f"{r['db_id']}.sqlite"), r["query"])
            for r in rows]


async def test_gold_against_itself():
    rows = load_rows()
    evaluator = Evaluator(EvalConfig())
    try:
        started = time.monotonic()
        golds = await asyncio.gather(*(evaluator.check_gold(db, sql) for db, sql in rows))
        checked = time.monotonic()
        outcomes = await asyncio.gather(*(evaluator.evaluate(db, sql, sql) for db, sql in rows))
        finished = time.monotonic()
    finally:
        evaluator.close()

    executes = sum(gold.ok for gold in golds)
    empty = sum(gold.ok and not gold.rows for gold in golds)
    matches = sum(outcome.gold_match for outcome in outcomes)
    print(f"\nspider-de-dev gold vs itself: {len(rows)} rows, {executes} execute, "
          f"{matches} match, {empty} empty, {len(rows) - executes} gold errors; wall time per "
          f"query: check_gold (cold) {1000 * (checked - started) / len(rows):.2f} ms, "
          f"evaluate (gold cached) {1000 * (finished - checked) / len(rows):.2f} ms")
    assert len(rows) == 1030
    assert executes == 978
    assert (matches, empty) == (889, 89)  # an empty gold result is never a gold match
    for gold, outcome, (_, sql) in zip(golds, outcomes, rows):
        assert outcome.gold_match == (gold.ok and bool(gold.rows)), sql
        if not gold.ok:
            assert (outcome.reason, outcome.gold_ok) == ("gold_error", False), sql
        elif not gold.rows:
            assert (outcome.reason, outcome.exec_ok, outcome.gold_empty) == (
                "gold_empty", True, True), sql
        else:
            assert (outcome.reason, outcome.exec_ok) == (None, True), sql
    assert evaluator.gold_cache_stats()["hits"] >= len(rows)  # evaluate reuses check_gold
