"""Engine overhead per sample and peak memory, with an instant in-process teacher.

    python benchmarks/engine_overhead.py                     # 10,000 and 100,000 samples
    python benchmarks/engine_overhead.py --samples 2000 --rss-samples 20000

Each run is a child process on a generated JSONL dataset over real SQLite files: every sample
goes through canonicalize, hash, dedup, gold check, teacher (an answer returned at once, no I/O),
clean, rules, sandboxed execution, comparison, score, the store, select and export. So the
figure is the whole pipeline's own cost per sample, everything but the teacher's latency.
A second row ("orchestration only") replaces the SQL work — cleaning, the sqlglot rule check
and fingerprint, sandboxed execution and comparison — by pass-throughs, to separate the engine's
own cost (streaming, hashing, dedup, the store, events, reports, export) from the evaluation
contract's. Peak RSS is the child's ru_maxrss; runs of ≥ 500 samples also start a rule-check
worker process (core/sql/rule_pool.py), so the next column is the peak of the two processes'
summed PSS (Linux; 0 elsewhere), sampled every 0.2 s. Prints a markdown table.

Each per-sample row is the median of --repeats runs (fresh data dirs) with its range, and the
load average read before and after them: on a busy machine the figures rise with the load.
The large run measures memory (which load does not change) and runs once.

    python benchmarks/engine_overhead.py --profile 25 --samples 10000   # cProfile, top 25

`--profile N` runs the full pipeline once under cProfile and prints its top N entries by own
time (cProfile slows the run: read the shares, not the seconds).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TABLES = 20


def make_dataset(root: Path, n: int) -> Path:
    """n distinct questions over TABLES small tables in one DB; gold SQL in the answer file."""
    root.mkdir(parents=True, exist_ok=True)
    db = root / "bench.sqlite"
    with sqlite3.connect(db) as conn:
        for t in range(TABLES):
            conn.execute(f"CREATE TABLE t{t} (name TEXT, kind TEXT, value REAL)")
            conn.executemany(f"INSERT INTO t{t} VALUES (?, ?, ?)",
                             [(f"item{i}", f"k{i % 5}", float(i * 7 % 101)) for i in range(50)])
    path = root / "questions.jsonl"
    with open(path, "w", encoding="utf-8") as out:
        for i in range(n):
            t, v = i % TABLES, i // TABLES
            sql = f"SELECT count(*) FROM t{t} WHERE value > {v}"
            out.write(json.dumps({"question": f"How many rows of t{t} have value above {v}?",
                                  "sql": sql, "db": "bench.sqlite"}) + "\n")
    return path


def skip_sql_evaluation() -> None:
    """Pass-throughs for the SQL stages: every answer is taken as clean, valid and matching."""
    from fastdistill_tui.core.sql.evaluator import EvalOutcome
    from fastdistill_tui.core.sql.rule_pool import RuleChecker, RuleOutcome

    def clean(item):
        item.sql = item.answer.text

    async def check_gold(item, evaluator):
        item.gold_ok = True

    async def evaluate(item, evaluator):
        item.outcome = EvalOutcome(exec_ok=True, gold_match=True, reason=None)

    async def check_rules(self, sql):
        return RuleOutcome(None, "", "", 0.0)

    from fastdistill_tui.core.stages import clean as clean_stage, execeval

    clean_stage.clean, RuleChecker.check = clean, check_rules
    execeval.check_gold, execeval.evaluate = check_gold, evaluate


def child(dataset: Path, data_dir: Path, orchestration_only: bool, profile: int = 0) -> None:
    from fastdistill_tui.core.config import Config
    from fastdistill_tui.core.engine import Engine
    from fastdistill_tui.core.providers.base import Provider
    from fastdistill_tui.core.store import Store
    from fastdistill_tui.core.types import Completion

    class InstantTeacher(Provider):
        """Answers at once with the right SQL, read back from the question's wording."""
        name, model, local = "instant", "bench", True

        async def complete(self, messages, params):
            question = messages[-1]["content"].rsplit("Question: ", 1)[1]
            words = question.rstrip("?").split()
            return Completion(text=f"SELECT count(*) FROM {words[4]} WHERE value > {words[-1]}",
                              tokens_in=100, tokens_out=12)

    if orchestration_only:
        skip_sql_evaluation()
    config = Config()
    config.student.enabled = False  # the teacher half only
    config.run.data_dir = str(data_dir)
    config.dataset.spec = f"jsonl:{dataset}"
    config.gates.teacher_eval.enabled = False
    store = Store(data_dir / "fastdistill.sqlite")
    engine = Engine(config, store, provider=InstantTeacher())
    start = time.perf_counter()
    if profile:
        import cProfile
        import pstats
        profiler = cProfile.Profile()
        outcome = profiler.runcall(asyncio.run, engine.run(lambda e: None, lambda e: False))
        stats = pstats.Stats(profiler, stream=sys.stderr)
        stats.sort_stats("tottime").print_stats(profile)
        stats.sort_stats("cumulative").print_stats("fastdistill_tui", profile)  # by stage
    else:
        outcome = asyncio.run(engine.run(lambda e: None, lambda e: False))
    seconds = time.perf_counter() - start
    exported = sum(1 for split in ("train", "valid")
                   for _ in open(outcome.run_dir / "mlx" / f"{split}.jsonl"))
    store.close()
    print(json.dumps({"status": outcome.status, "seconds": seconds, "exported": exported}))


class TreeMemory(threading.Thread):
    """Samples (Linux) the proportional set size of a process and its children every 0.2 s:
    the peak of their sum is the run's memory with its rule-check worker counted once for
    the pages they share (ru_maxrss would count the worker's pre-exec copy of the parent)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak_mb, self.done = pid, 0.0, threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.2):
            pids = [self.pid] + [int(c) for t in Path(f"/proc/{self.pid}/task").glob("*")
                                 for c in (t / "children").read_text().split()]
            self.peak_mb = max(self.peak_mb, sum(map(pss_mb, pids)))


def pss_mb(pid: int) -> float:
    try:
        for line in open(f"/proc/{pid}/smaps_rollup"):
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass  # it has just ended
    return 0.0


def measure(n: int, work: Path, orchestration_only: bool = False, repeat: int = 0
            ) -> dict[str, float]:
    dataset = work / f"data{n}" / "questions.jsonl"
    if not dataset.exists():
        make_dataset(dataset.parent, n)
    mode = "orchestration" if orchestration_only else "full"
    proc = subprocess.Popen([sys.executable, __file__, "--child", str(dataset),
                             str(work / f"run{n}-{mode}-{repeat}"), mode], stdout=subprocess.PIPE,
                            text=True)
    memory = TreeMemory(proc.pid)
    if Path("/proc/self/smaps_rollup").exists():
        memory.start()
    out = proc.stdout.read()
    memory.done.set()
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"child failed with status {status}")
    result = json.loads(out.strip().splitlines()[-1])
    rss_mb = usage.ru_maxrss / 1024 if sys.platform != "darwin" else usage.ru_maxrss / 2**20
    return {"n": n, "seconds": result["seconds"], "ms_per_sample": result["seconds"] * 1000 / n,
            "peak_rss_mb": rss_mb, "tree_pss_mb": memory.peak_mb,
            "exported": result["exported"], "status": result["status"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--rss-samples", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each per-sample row")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="profile one full run and print the top N entries")
    parser.add_argument("--child", nargs=3, metavar=("DATASET", "DATA_DIR", "MODE"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), Path(args.child[1]), args.child[2] == "orchestration",
              args.profile)
        return
    if args.profile:
        with tempfile.TemporaryDirectory() as tmp:
            dataset = make_dataset(Path(tmp) / "data", args.samples)
            subprocess.run([sys.executable, __file__, "--child", str(dataset),
                            str(Path(tmp) / "run"), "full", "--profile", str(args.profile)],
                           check=True)
        return
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, {time.strftime('%Y-%m-%d')}")
    print("| pipeline | samples | runs | median wall s | median ms/sample | ms/sample range | "
          "peak RSS MB | with its worker: peak PSS MB | exported | status | load (1 min) |")
    print("|---|---:|---:|---:|---:|---|---:|---:|---:|---|---|")
    runs = [(args.samples, False, args.repeats), (args.samples, True, args.repeats)]
    if args.rss_samples != args.samples:
        runs.append((args.rss_samples, False, 1))
    with tempfile.TemporaryDirectory() as tmp:
        for n, orchestration_only, repeats in runs:
            loads, results = [os.getloadavg()[0]], []
            for repeat in range(repeats):
                results.append(measure(n, Path(tmp), orchestration_only, repeat))
                loads.append(os.getloadavg()[0])
            ms = [r["ms_per_sample"] for r in results]
            label = "orchestration only" if orchestration_only else "full"
            print(f"| {label} | {n:,} | {repeats} | "
                  f"{statistics.median(r['seconds'] for r in results):.1f} | "
                  f"{statistics.median(ms):.3f} | {min(ms):.3f}–{max(ms):.3f} | "
                  f"{max(r['peak_rss_mb'] for r in results):.0f} | "
                  f"{max(r['tree_pss_mb'] for r in results):.0f} | {results[0]['exported']:,} | "
                  f"{', '.join(sorted({r['status'] for r in results}))} | "
                  f"{min(loads):.1f}–{max(loads):.1f} |", flush=True)


if __name__ == "__main__":
    main()
