"""How long the home screen takes to open on a store with many runs.

    python benchmarks/home_list.py                    # 1,000 runs of 200 samples, 5 rounds
    python benchmarks/home_list.py --runs 1000 --samples 200 --rounds 5

One real bundled run (builtin teacher, no student) is made, then its samples and results are
copied under new run ids until the store holds --runs runs (the rows of a real run, so the
grouped queries see realistic data; 1,000 × 200 = 200,000 results). Then, each round:
1. `run_summaries` alone: the SQL the list runs on (a fresh connection each round);
2. the app under Textual's pilot (headless, 120×40), from creating it to the home table holding
   every run: store opened, summaries read, 1,000 rows added and drawn once.
Prints a markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def build_store(runs: int, samples: int) -> None:
    from fastdistill_tui.cli import headless_gate_policy, store_path
    from fastdistill_tui.core import config as cfg
    from fastdistill_tui.core.engine import Engine
    from fastdistill_tui.core.store import Store

    config = cfg.load_config()
    config.dataset.limit = samples
    config.student.enabled = False
    store = Store(store_path(config))
    try:
        engine = Engine(config, store, run_id="seed")
        asyncio.run(engine.run(lambda event: None, headless_gate_policy, threading.Event()))
        with store.conn:
            store.conn.execute("BEGIN")
            for i in range(1, runs):
                run_id = f"copy-{i:05d}"
                store.conn.execute(
                    "INSERT INTO runs SELECT ?, created_at + ?, finished_at + ?, status,"
                    " config_hash, config_json, dataset, teacher, gate_decisions FROM runs"
                    " WHERE run_id = 'seed'", (run_id, i * 60.0, i * 60.0))
                for table in ("samples", "results"):
                    columns = [r[1] for r in store.conn.execute(f"PRAGMA table_info({table})")]
                    rest = ", ".join(columns[1:])
                    store.conn.execute(
                        f"INSERT INTO {table} (run_id, {rest}) SELECT ?, {rest} FROM {table}"
                        " WHERE run_id = 'seed'", (run_id,))
    finally:
        store.close()


async def open_home() -> tuple[float, int]:
    from textual.widgets import DataTable

    from fastdistill_tui.app import create_home_app
    from fastdistill_tui.core import config as cfg
    from fastdistill_tui.screens.home import HomeScreen

    started = time.perf_counter()
    app = create_home_app(cfg.load_config())
    assert app is not None
    async with app.run_test(size=(120, 40)) as pilot:
        while not (isinstance(app.screen, HomeScreen)
                   and app.screen.query_one(DataTable).row_count):
            await pilot.pause(0.001)
        await pilot.pause()  # one refresh: the rows are drawn
        elapsed = time.perf_counter() - started
        return elapsed, app.screen.query_one(DataTable).row_count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="fd-home-"))
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
        (base / name).mkdir()
        os.environ[name] = str(base / name)
    started = time.perf_counter()
    build_store(args.runs, args.samples)
    print(f"store: {args.runs} runs × {args.samples} samples built in "
          f"{time.perf_counter() - started:.1f} s; load {os.getloadavg()[0]:.1f}\n")

    from fastdistill_tui.cli import store_path
    from fastdistill_tui.core import config as cfg
    from fastdistill_tui.core.run_index import run_summaries
    from fastdistill_tui.core.store import Store

    query_s, app_s = [], []
    for _ in range(args.rounds):
        t = time.perf_counter()
        store = Store(store_path(cfg.load_config()))
        rows = run_summaries(store)
        store.close()
        query_s.append(time.perf_counter() - t)
        assert len(rows) == args.runs
        elapsed, shown = asyncio.run(open_home())
        assert shown == args.runs
        app_s.append(elapsed)
    print("| runs | results rows | step | rounds | median s | min–max s |")
    print("|---:|---:|---|---:|---:|---:|")
    for step, values in (("run_summaries (SQL)", query_s), ("home screen open", app_s)):
        print(f"| {args.runs:,} | {args.runs * args.samples:,} | {step} | {args.rounds} | "
              f"{statistics.median(values):.3f} | {min(values):.3f}–{max(values):.3f} |")


if __name__ == "__main__":
    main()
