"""Throughput of execution-based evaluation on spider-de-dev.

Evaluates every gold query against itself with one Evaluator: first with a cold gold cache,
then warm (`--warm-passes` times). Prints one markdown table row per pass. A gold whose result
is empty never counts as a match (reason gold_empty): the "gold empty" column counts those.

    python benchmarks/eval_throughput.py [--data DIR] [--workers N] [--concurrency N]
                                         [--warm-passes N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sqlite3
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from fastdistill_tui.core.config import EvalConfig  # noqa: E402
from fastdistill_tui.core.sql.evaluator import EvalOutcome, Evaluator  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "spider-de-dev"


def load(data: Path) -> list[tuple[str, str]]:
    rows = json.loads((data / "dev.json").read_text(encoding="utf-8"))
    return [(str(data / "database" / r["db_id"] / f"{r['db_id']}.sqlite"), r["query"])
            for r in rows]


async def run_pass(evaluator: Evaluator, rows: list[tuple[str, str]],
                   concurrency: int) -> tuple[float, list[EvalOutcome]]:
    """Evaluate all rows with at most `concurrency` in flight; returns (wall s, outcomes)."""
    gate = asyncio.Semaphore(concurrency)

    async def one(db: str, sql: str) -> EvalOutcome:
        async with gate:
            return await evaluator.evaluate(db, sql, sql)

    started = time.perf_counter()
    outcomes = await asyncio.gather(*(one(db, sql) for db, sql in rows))
    return time.perf_counter() - started, outcomes


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="spider-format directory with dev.json and database/")
    parser.add_argument("--workers", type=int, default=EvalConfig.workers,
                        help="SQL execution threads (eval.workers)")
    parser.add_argument("--concurrency", type=int, default=0,
                        help="evaluations in flight (default: workers)")
    parser.add_argument("--warm-passes", type=int, default=1,
                        help="warm passes after the cold one (more: the process time is "
                             "mostly evaluation, for whole-process A/B timing)")
    args = parser.parse_args()
    if not (args.data / "dev.json").exists():
        sys.exit(f"no dev.json under {args.data}; pass --data DIR")
    rows = load(args.data)
    concurrency = args.concurrency or args.workers

    evaluator = Evaluator(EvalConfig(workers=args.workers))
    print(f"# {len(rows)} gold queries vs themselves, {args.workers} workers, "
          f"{concurrency} in flight; Python {platform.python_version()}, "
          f"SQLite {sqlite3.sqlite_version}\n")
    print("| pass | queries | matches | gold empty | wall s | queries/s | mean ms/query "
          "| p95 ms/query | gold-cache hit ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    try:
        for name in ["cold"] + ["warm"] * args.warm_passes:
            before = evaluator.gold_cache_stats()
            wall, outcomes = await run_pass(evaluator, rows, concurrency)
            after = evaluator.gold_cache_stats()
            hits = after["hits"] - before["hits"]
            lookups = hits + after["misses"] - before["misses"]
            latencies = sorted(1000 * o.seconds for o in outcomes)
            p95 = latencies[int(0.95 * (len(latencies) - 1))]
            empty = sum(o.reason == "gold_empty" for o in outcomes)
            print(f"| {name} | {len(rows)} | {sum(o.gold_match for o in outcomes)} | {empty} "
                  f"| {wall:.2f} | {len(rows) / wall:.0f} | {statistics.fmean(latencies):.2f} "
                  f"| {p95:.2f} | {hits / lookups if lookups else 0:.2f} |")
    finally:
        evaluator.close()


if __name__ == "__main__":
    asyncio.run(main())
