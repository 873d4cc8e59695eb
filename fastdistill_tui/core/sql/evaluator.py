"""Execution-based evaluation of one predicted query against its gold query (DESIGN §5)."""

from __future__ import annotations

import asyncio
import functools
import time
from dataclasses import dataclass

from ..config import EvalConfig, cache_dir
from .compare import compare_results, gold_is_ordered
from .execute import ExecResult, SqlExecutor
from .gold_cache import GoldCache
from .test_suite import SuiteCache, TestSuite


@dataclass(frozen=True)
class EvalOutcome:
    """`reason` is None on a gold match; otherwise a code from compare.CompareResult, or
    "empty_sql" (no prediction), "gold_error" (the gold query itself fails), "gold_empty"
    (the prediction also returns no rows: an empty gold result cannot tell a right query from
    a wrong one, so it is never a gold match) or "empty_result" (the prediction returns no
    rows where the gold has some: often a literal in the wrong case or spelling)."""

    exec_ok: bool
    gold_match: bool
    reason: str | None
    detail: str = ""
    gold_ok: bool = True
    gold_empty: bool = False  # the gold result has no rows: a match proves little
    pred_empty: bool = False  # the prediction ran and returned no rows
    pred_truncated: bool = False
    seconds: float = 0.0


def _says_nothing(result: ExecResult) -> bool:
    """No rows, or one row of NULLs only."""
    return not result.rows or (len(result.rows) == 1 and all(v is None for v in result.rows[0]))


class Evaluator:
    """Owns the SQL sandbox and the gold cache. Call `close()` when done."""

    def __init__(self, config: EvalConfig) -> None:
        self.config = config
        self._executor = SqlExecutor(config.timeout_s, config.row_cap, config.workers)
        self._gold_cache = (GoldCache(config.max_cached_gold)
                            if config.cache_gold_results and config.max_cached_gold > 0 else None)
        # Parsing is the slowest step for a cached gold; many samples share one gold query.
        self._gold_is_ordered = functools.lru_cache(maxsize=4096)(gold_is_ordered)
        self.suite = (TestSuite(SuiteCache(cache_dir() / "test_suite"))
                      if config.test_suite != "off" else None)
        # Gold results on test-suite copies: their own cache, so that they never evict the
        # dataset's (a copy's result is needed by the samples of one query family only).
        self._copy_gold_cache = (GoldCache(config.max_cached_gold)
                                 if self._gold_cache is not None else None)

    async def check_gold(self, db_path: str, gold_sql: str) -> ExecResult:
        """The gold result, from the cache when possible. Timeouts are not cached: they depend
        on load, the others are properties of the query and the database."""
        cached = self._cached_gold(db_path, gold_sql, self._gold_cache)
        return (cached if cached is not None
                else await self._run_gold(db_path, gold_sql, self._gold_cache))

    @staticmethod
    def _cached_gold(db_path: str, gold_sql: str, cache: GoldCache | None) -> ExecResult | None:
        return None if cache is None else cache.get(db_path, gold_sql)

    async def _run_gold(self, db_path: str, gold_sql: str,
                        cache: GoldCache | None) -> ExecResult:
        result = await self._executor.aexecute(db_path, gold_sql)
        if cache is not None and result.error != "timeout":
            cache.put(db_path, gold_sql, result)
        return result

    async def evaluate(self, db_path: str, gold_sql: str, pred_sql: str | None, *,
                       on_copy: bool = False) -> EvalOutcome:
        """`on_copy`: db_path is a test-suite copy. Its gold results are cached apart, and two
        results count as equal there that the database itself (compared as eval.duplicates
        says) would tell apart: no rows and one row of NULLs (both say "nothing"), and rows
        that differ only in how often they repeat (the copies duplicate rows and make up
        values that repeat, so a query that drops repeats and one that keeps them part ways
        on a copy where the database gave them none to differ on)."""
        started = time.monotonic()
        cache = self._copy_gold_cache if on_copy else self._gold_cache
        if not pred_sql or not pred_sql.strip():
            return EvalOutcome(False, False, "empty_sql", "no SQL in the answer",
                               seconds=time.monotonic() - started)
        if not gold_sql:
            pred = await self._executor.aexecute(db_path, pred_sql)
            return EvalOutcome(pred.ok, False, None if pred.ok else pred.error,
                               "" if pred.ok else pred.detail, pred_empty=pred.ok and not pred.rows,
                               pred_truncated=pred.truncated, seconds=time.monotonic() - started)
        gold = self._cached_gold(db_path, gold_sql, cache)
        if gold is None:  # both at once; usually the gold check before the teacher cached it
            gold, pred = await asyncio.gather(self._run_gold(db_path, gold_sql, cache),
                                              self._executor.aexecute(db_path, pred_sql))
        else:
            pred = await self._executor.aexecute(db_path, pred_sql)
        seconds = time.monotonic() - started
        if not gold.ok:
            # The prediction still ran, so exec_ok says truthfully whether it executes.
            return EvalOutcome(pred.ok, False, "gold_error", f"{gold.error}: {gold.detail}",
                               gold_ok=False, pred_truncated=pred.truncated, seconds=seconds)
        if not pred.ok:
            return EvalOutcome(False, False, pred.error, pred.detail, gold_empty=not gold.rows,
                               seconds=seconds)
        compared = compare_results(pred, gold, ordered=self._gold_is_ordered(gold_sql),
                                   float_tol=self.config.float_tol,
                                   column_order=self.config.column_order,
                                   duplicates="set" if on_copy else self.config.duplicates)
        if on_copy and not compared.match and _says_nothing(pred) and _says_nothing(gold):
            # SUM over no rows is one row of NULL where a plain SELECT has none: on a copy
            # that dropped the one matching row, both say "nothing"
            return EvalOutcome(True, False, "gold_empty", "no rows against a row of NULLs",
                               gold_empty=True, seconds=seconds)
        if compared.match and not gold.rows:
            return EvalOutcome(True, False, "gold_empty", "both results are empty: the gold "
                               "result cannot tell a right answer from a wrong one",
                               gold_empty=True, seconds=seconds)
        if not compared.match and not pred.rows and gold.rows:
            return EvalOutcome(True, False, "empty_result", f"no rows; the gold result has "
                               f"{len(gold.rows)}{'+' if gold.truncated else ''}",
                               pred_empty=True, seconds=seconds)
        return EvalOutcome(True, compared.match, compared.reason, gold_empty=not gold.rows,
                           pred_empty=not pred.rows, pred_truncated=pred.truncated,
                           seconds=seconds)

    async def lookup(self, db_path: str, sql: str) -> ExecResult:
        """A helper query of the engine's own (e.g. a repair prompt's stored values), in the
        same sandbox: read-only, timed, row-capped."""
        return await self._executor.aexecute(db_path, sql)

    def gold_cache_stats(self) -> dict[str, float]:
        cache = self._gold_cache
        if cache is None:
            return {"hits": 0, "misses": 0, "hit_ratio": 0.0}
        return {"hits": cache.hits, "misses": cache.misses, "hit_ratio": cache.hit_ratio}

    def suite_stats(self) -> dict[str, object]:
        """What test-suite checking did in this process (a resumed run counts its own part)."""
        suite = self.suite
        if suite is None:
            return {"enabled": False}
        return {"enabled": True, "mode": self.config.test_suite, "checked": suite.checked,
                "unavailable": suite.unavailable, "copies_built": suite.cache.built}

    def close(self) -> None:
        self._executor.close()
