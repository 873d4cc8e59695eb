"""Questions without gold SQL, measured against the gold they had (not CI: a real teacher).

A copy of a Spider-format split is written with every gold query set to null (the databases
are linked, not copied), `fastdistill run --headless` distils it (so every question is checked
by agreement: [no_gold] candidates / min_agree), and each kept answer is then compared with the
hidden gold on the original database, and on its perturbed copies (test-suite checking):
precision = kept answers that match the gold / kept answers. The kept rows that do not match
are listed for a person to read (a gold can be wrong too).

    python benchmarks/unlabelled.py --dataset ../shared/data/spider-de-dev --limit 120 \
        --base-url http://127.0.0.1:8765/v1 --model teacher --work /work/unlabelled \
        [--candidates 3 --min-agree 3] [--concurrency 1] [--data-dir DIR] [--json FILE]

`--data-dir` shares a run store (and so its cached teacher answers) with earlier runs.
`--concurrency 1` suits a one-slot local server: a question's answers then reach it one after
another, so it reuses the prompt it has just read (llama.cpp keeps the last prompt's cache)
and each extra answer costs its decoding alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fastdistill_tui.core.config import EvalConfig  # noqa: E402
from fastdistill_tui.core.datasets.spider import SpiderDataset  # noqa: E402
from fastdistill_tui.core.sql.evaluator import Evaluator  # noqa: E402
from fastdistill_tui.core.stages.base import WorkItem  # noqa: E402
from fastdistill_tui.core.stages.canonicalize import assign_sample_id, canonicalize  # noqa: E402
from fastdistill_tui.core.store import Store  # noqa: E402


def hide_gold(source: Path, split: str, out: Path) -> None:
    """`out`: the split with every query null, tables.json copied, the databases linked."""
    out.mkdir(parents=True, exist_ok=True)
    rows = json.loads((source / f"{split}.json").read_text(encoding="utf-8"))
    for row in rows:
        for field in ("query", "SQL"):
            if field in row:
                row[field] = None
        row.pop("sql", None)  # Spider's parsed form would give the gold away
    (out / f"{split}.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    (out / "tables.json").write_bytes((source / "tables.json").read_bytes())
    link = out / "database"
    if not link.exists():
        link.symlink_to((source / "database").resolve(), target_is_directory=True)


def gold_by_sample(source: Path, split: str) -> dict[str, tuple[str, str, str]]:
    """sample_id -> (question, gold SQL, database file) of the labelled split."""
    golds = {}
    for example in SpiderDataset(source).iter_examples(split):
        item = WorkItem(example)
        canonicalize(item)
        assign_sample_id(item)
        golds[item.sample_id] = (example.question, example.gold_sql, example.db_path)
    return golds


async def compare(kept: list[tuple[str, str]], golds: dict) -> list[dict]:
    evaluator = Evaluator(EvalConfig(test_suite="on"))
    try:
        out = []
        for sample_id, sql in kept:
            question, gold, db_path = golds[sample_id]
            outcome = await evaluator.evaluate(db_path, gold, sql)
            suite = None
            if outcome.gold_match and evaluator.suite is not None:
                verdict = await evaluator.suite.check(evaluator, db_path, gold, sql)
                suite = None if verdict is None else verdict.agreed
            out.append({"sample_id": sample_id, "db": Path(db_path).stem, "question": question,
                        "sql": sql, "gold": gold, "gold_match": outcome.gold_match,
                        "reason": outcome.reason, "suite_agrees": suite})
        return out
    finally:
        evaluator.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--split", default="dev")
    parser.add_argument("--limit", type=int, default=120)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--model", default="teacher")
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--candidates", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=0, help="0: adaptive")
    parser.add_argument("--min-agree", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    work = args.work.resolve()
    hidden = work / "hidden"
    hide_gold(args.dataset.resolve(), args.split, hidden)
    data_dir = (args.data_dir or work / "data").resolve()
    config = work / "config.toml"
    config.write_text(
        f'[run]\ndata_dir = "{data_dir}"\noverride_gates = ["teacher_eval"]\n'
        f"[dataset]\nseed = {args.seed}\n"
        f"[teacher]\ntimeout_s = 300.0\nmax_tokens = {args.max_tokens}\n"
        + (f"concurrency = {args.concurrency}\nadaptive_concurrency = false\n"
           if args.concurrency else "")
        +
        f"[no_gold]\ncandidates = {args.candidates}\nmin_agree = {args.min_agree}\n",
        encoding="utf-8")
    command = [sys.executable, "-m", "fastdistill_tui", "run", "--headless", "--config",
               str(config), "--dataset", f"spider:{hidden}", "--split", args.split,
               "--limit", str(args.limit), "--teacher", f"openai:{args.model}",
               "--base-url", args.base_url, "--no-student"]
    started = time.monotonic()
    log = work / "run.log"
    with open(log, "w", encoding="utf-8") as handle:
        code = subprocess.run(command, stderr=handle, stdout=handle, cwd=ROOT,
                              env=dict(os.environ)).returncode
    wall = time.monotonic() - started
    last = log.read_text(encoding="utf-8").strip().splitlines()[-1]
    if code != 0:
        print(f"run failed ({code}): {last}", file=sys.stderr)
        return 1
    run_id = last.split()[1]
    store = Store(data_dir / "fastdistill.sqlite")
    try:
        rows = store.query("SELECT sample_id, sql, selected, agreed, reason, rounds FROM results"
                           " WHERE run_id = ?", (run_id,))
        requests = store.query("SELECT COUNT(*) FROM teacher_answers")[0][0]
    finally:
        store.close()
    kept = [(sample_id, sql) for sample_id, sql, selected, *_ in rows if selected]
    checked = asyncio.run(compare(kept, gold_by_sample(args.dataset.resolve(), args.split)))
    matched = sum(c["gold_match"] for c in checked)
    suite_ok = sum(bool(c["suite_agrees"]) for c in checked)
    asked = sum(len(json.loads(r[5])["agreement"]["candidates"]) for r in rows
                if r[5] and "agreement" in json.loads(r[5]))
    result = {"run_id": run_id, "questions": len(rows), "kept": len(kept),
              "precision_db": matched / len(kept) if kept else None,
              "precision_suite": suite_ok / len(kept) if kept else None,
              "answers_asked": asked, "store_answers": requests, "wall_s": round(wall, 1),
              "candidates": args.candidates, "min_agree": args.min_agree,
              "not_matching": [c for c in checked if not c["gold_match"]]}
    print(f"| k | m | questions | kept | precision (gold, database) | precision (gold, with "
          f"copies) | answers asked | wall |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n"
          f"| {args.candidates} | {args.min_agree} | {len(rows)} | {len(kept)} | "
          f"{result['precision_db']:.3f} ({matched}/{len(kept)}) | "
          f"{result['precision_suite']:.3f} | {asked} | {wall:.0f} s |")
    for c in result["not_matching"]:
        print(f"\n- {c['db']}: {c['question']}\n  kept: {c['sql']}\n  gold: {c['gold']}"
              f"\n  ({c['reason']})")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
