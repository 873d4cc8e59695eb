"""What test-suite checking costs beside execution-based evaluation.

For every row of a dataset split, evaluates the gold query against itself (every row is then a
gold match, so every row is suite-checked: the worst case), then runs the test-suite check on
the copies. Three passes: the evaluation alone, the suite check with an empty copy cache (the
copies are built), and with the copies cached (a later run). Prints one markdown table row per
pass with wall seconds and the ratio to the evaluation.

    python benchmarks/suite_cost.py [--dataset SPEC] [--split NAME] [--workers N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from fastdistill_tui.core.config import EvalConfig  # noqa: E402
from fastdistill_tui.core.datasets.registry import open_dataset  # noqa: E402
from fastdistill_tui.core.sql.evaluator import Evaluator  # noqa: E402
from fastdistill_tui.core.sql.test_suite import SuiteCache, TestSuite  # noqa: E402


async def timed_gather(make, rows, concurrency: int) -> tuple[float, list]:
    gate = asyncio.Semaphore(concurrency)

    async def one(row):
        async with gate:
            return await make(row)

    started = time.perf_counter()
    results = await asyncio.gather(*(one(r) for r in rows))
    return time.perf_counter() - started, results


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="bundled", help="dataset spec (default: bundled)")
    parser.add_argument("--split", default="", help="split (default: the dataset's)")
    parser.add_argument("--workers", type=int, default=EvalConfig.workers)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="suite-cost-"))
    dataset = open_dataset(args.dataset, cache_dir=work / "datasets")
    split = args.split or dataset.default_split
    rows = [(ex.db_path, ex.gold_sql) for ex in dataset.iter_examples(split)]
    evaluator = Evaluator(EvalConfig(workers=args.workers, test_suite="off"))
    suite = TestSuite(SuiteCache(work / "copies"))
    print(f"# {args.dataset} {split}: {len(rows)} gold queries vs themselves, {args.workers} "
          f"SQL workers; load average {os.getloadavg()[0]:.2f}\n")
    print("| pass | rows | suite-checked | rejected | copies built | wall s | × evaluation |")
    print("|---|---|---|---|---|---|---|")
    try:
        await timed_gather(lambda r: evaluator.evaluate(r[0], r[1], r[1]), rows, args.workers)
        wall, outcomes = await timed_gather(lambda r: evaluator.evaluate(r[0], r[1], r[1]),
                                            rows, args.workers)
        print(f"| evaluation (gold cache warm) | {len(rows)} | | | | {wall:.2f} | 1.00 |")
        matched = [r for r, o in zip(rows, outcomes) if o.gold_match]
        for name in ("suite, copies built", "suite, copies cached"):
            before = suite.cache.built
            spent, verdicts = await timed_gather(
                lambda r: suite.check(evaluator, r[0], r[1], r[1]), matched, args.workers)
            rejected = sum(v is not None and not v.agreed for v in verdicts)
            print(f"| {name} | {len(rows)} | {len(matched)} | {rejected} "
                  f"| {suite.cache.built - before} | {spent:.2f} | {spent / wall:.2f} |")
    finally:
        evaluator.close()


if __name__ == "__main__":
    asyncio.run(main())
