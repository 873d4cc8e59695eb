"""Real runs in a real store for the home, open and compare screens: the bundled offline job
through the engine, with fixed run ids and times so that snapshots draw the same every time."""

from __future__ import annotations

import asyncio
import threading

from fastdistill_tui.cli import headless_gate_policy, store_path
from fastdistill_tui.core import config as cfg
from fastdistill_tui.core.engine import Engine
from fastdistill_tui.core.store import Store

#: (run id, samples, min_total of the gate, judge min score, created at)
RUNS = [
    ("20261101-090000-aaaaaa", 60, 50, 1.0, 1_793_523_600.0),
    ("20261102-090000-bbbbbb", 80, 50, 0.5, 1_793_610_000.0),
    ("20261103-090000-cccccc", 30, 50, 1.0, 1_793_696_400.0),  # too few answers: gate fails
]


def make_run(run_id: str, limit: int, min_total: int, min_score: float,
             created_at: float) -> None:
    config = cfg.load_config()
    config.dataset.limit = limit
    config.gates.teacher_eval.min_total = min_total
    config.select.min_score = min_score
    config.student.enabled = False  # training takes minutes; these tests are about the list
    store = Store(store_path(config))
    try:
        engine = Engine(config, store, run_id=run_id)
        asyncio.run(engine.run(lambda event: None, headless_gate_policy, threading.Event()))
        store.query("UPDATE runs SET created_at = ?, finished_at = ? WHERE run_id = ?",
                    (created_at, created_at + 75.0, run_id))
    finally:
        store.close()


def make_runs() -> cfg.Config:
    for run in RUNS:
        make_run(*run)
    return cfg.load_config()
