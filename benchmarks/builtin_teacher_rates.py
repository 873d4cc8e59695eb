"""Exec-pass and gold-match rates of the builtin rule-based teacher.

    python benchmarks/builtin_teacher_rates.py [--spider DIR] [--show-misses N]

Runs BuiltinTeacher through the Provider interface on the bundled eval split and on
spider-de-dev's dev split, and scores each answer with the project's Evaluator (sandboxed
execution, multiset comparison). Rows whose gold query fails are counted and left out of the
rates, as the engine does. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fastdistill_tui.core.config import EvalConfig  # noqa: E402
from fastdistill_tui.core.datasets.registry import open_dataset  # noqa: E402
from fastdistill_tui.core.prompt import render_messages  # noqa: E402
from fastdistill_tui.core.providers.builtin import BuiltinTeacher  # noqa: E402
from fastdistill_tui.core.sql.evaluator import Evaluator  # noqa: E402
from fastdistill_tui.core.types import GenParams  # noqa: E402

SPIDER_DE_DEV = ROOT.parent / "shared" / "data" / "spider-de-dev"


async def rates(spec: str, split: str | None, cache_dir: Path, show_misses: int) -> dict:
    dataset = open_dataset(spec, cache_dir=cache_dir)
    split = split or dataset.default_eval_split
    teacher = BuiltinTeacher()
    evaluator = Evaluator(EvalConfig())
    counts = {"total": 0, "gold_error": 0, "exec_ok": 0, "gold_match": 0, "teacher_s": 0.0}
    misses = []
    try:
        for example in dataset.iter_examples(split):
            messages = render_messages(example.schema, example.question, example.evidence)
            started = time.perf_counter()
            answer = await teacher.complete(messages, GenParams())
            counts["teacher_s"] += time.perf_counter() - started
            outcome = await evaluator.evaluate(example.db_path, example.gold_sql,
                                               answer.text if answer.ok else None)
            if not outcome.gold_ok:
                counts["gold_error"] += 1
                continue
            counts["total"] += 1
            counts["exec_ok"] += outcome.exec_ok
            counts["gold_match"] += outcome.gold_match
            if not outcome.gold_match and len(misses) < show_misses:
                misses.append((example.question, answer.text if answer.ok else answer,
                               example.gold_sql))
    finally:
        evaluator.close()
    for question, predicted, gold in misses:
        print(f"- {question}\n    pred: {predicted}\n    gold: {gold}")
    return {"dataset": f"{spec} ({split})", **counts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spider", type=Path, default=SPIDER_DE_DEV)
    parser.add_argument("--show-misses", type=int, default=0)
    args = parser.parse_args()
    specs = [("bundled", "eval")]
    if args.spider.is_dir():
        specs.append((f"spider:{args.spider}", "dev"))
    else:
        print(f"(spider-de-dev not found at {args.spider}; skipped)")
    with tempfile.TemporaryDirectory() as cache:
        results = [asyncio.run(rates(spec, split, Path(cache), args.show_misses))
                   for spec, split in specs]
    print("| dataset | scored | gold errors (excluded) | exec-pass | gold-match | "
          "teacher ms/question |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in results:
        n = r["total"]
        print(f"| {r['dataset']} | {n} | {r['gold_error']} | {r['exec_ok'] / n:.1%} | "
              f"{r['gold_match'] / n:.1%} | {1000 * r['teacher_s'] / (n + r['gold_error']):.2f} |")


if __name__ == "__main__":
    main()
