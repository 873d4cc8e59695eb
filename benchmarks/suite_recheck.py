"""Test-suite checking, run again on every gold match of stored runs with the code as it is now,
against a hand audit of what it removed before (docs/SUITE-AUDIT.md): which audited rows it
still removes, and any row it removes now that nobody has checked yet (those are printed in
full, for a person to judge).

    python benchmarks/suite_recheck.py --audit docs/suite-audit.json \
        --run RUN_ID=PATH/fastdistill.sqlite [--run ...] [--json OUT]

The audit file: [{"run", "sample_id", "verdict": right|wrong|unclear, "reason"}, ...]. Stores
are opened read-only; the copies are built in a fresh temporary cache.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fastdistill_tui.core.config import EvalConfig  # noqa: E402
from fastdistill_tui.core.sql.evaluator import Evaluator  # noqa: E402
from fastdistill_tui.core.sql.test_suite import SuiteCache, TestSuite  # noqa: E402

GOLD_MATCHES = ("SELECT r.sample_id, s.gold_sql, r.sql, s.db_path FROM results r"
                " JOIN samples s USING (run_id, sample_id) WHERE r.run_id = ?"
                " AND r.gold_match = 1 AND (r.rejected_at IS NULL"
                " OR r.rejected_at = 'suite_check')")


async def recheck(runs: dict[str, Path], audit: dict[tuple[str, str], dict]) -> list[dict]:
    evaluator = Evaluator(EvalConfig(test_suite="off"))
    suite = TestSuite(SuiteCache(Path(tempfile.mkdtemp(prefix="suite-recheck-"))))
    found = []
    try:
        for run, store in runs.items():
            conn = sqlite3.connect(f"file:{store}?immutable=1", uri=True)
            rows = conn.execute(GOLD_MATCHES, (run,)).fetchall()
            conn.close()
            for sample_id, gold, sql, db_path in rows:
                verdict = await suite.check(evaluator, db_path, gold, sql)
                removed = verdict is not None and not verdict.agreed
                audited = audit.get((run, sample_id))
                if removed or audited:
                    found.append({"run": run, "sample_id": sample_id, "db": Path(db_path).stem,
                                  "removed": removed, "detail": verdict.detail if removed else "",
                                  "verdict": audited["verdict"] if audited else "not audited",
                                  "gold": gold, "sql": sql})
    finally:
        evaluator.close()
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--audit", type=Path, required=True)
    parser.add_argument("--run", action="append", required=True, metavar="RUN_ID=STORE")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    runs = {run: Path(store) for run, store in (spec.split("=", 1) for spec in args.run)}
    audit = {(a["run"], a["sample_id"]): a for a in json.loads(args.audit.read_text())}
    found = asyncio.run(recheck(runs, audit))
    print("| run | audited removals | still removed: right / wrong / unclear | new |")
    print("|---|---:|---:|---:|")
    for run in runs:
        mine = [f for f in found if f["run"] == run]
        still = Counter(f["verdict"] for f in mine if f["removed"])
        audited = sum(1 for key in audit if key[0] == run)
        print(f"| {run} | {audited} | {still['right']} / {still['wrong']} / {still['unclear']} "
              f"| {still['not audited']} |")
    for f in found:
        if f["removed"] and f["verdict"] == "not audited":
            print(f"\nnew removal {f['run']} {f['sample_id'][:10]} ({f['db']}): {f['detail']}\n"
                  f"  gold: {f['gold']}\n  answer: {f['sql']}")
    if args.json:
        args.json.write_text(json.dumps(found, indent=1, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
