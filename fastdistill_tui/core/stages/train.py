"""train: fine-tune the student on the exported train.jsonl/valid.jsonl with mlx-lm's tuner, in
the student worker (a child process with its own BLAS environment; see student/worker.py).

The adapter lives under <data>/adapters/<key>, where the key hashes the base model, the training
settings and the exported files: a rerun of the same config finds it finished and reuses it, a
stopped run resumes from its last checkpoint (weights, optimizer state and the batch order's
position: it trains the same weights as a run that never stopped), and the run's own adapters/
directory gets a copy of the result.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..artifacts import file_sha256, write_json
from ..run_lock import hold_run_lock
from ..student.blas import Blas
from ..student.client import run_worker
from ..student.profiles import TrainPlan
from ..student.worker import ADAPTER_FILE, PROGRESS_FILE, read_progress

ADAPTER_FILES = (ADAPTER_FILE, "adapter_config.json")


@dataclass
class TrainOutcome:
    status: str  # "trained" | "reused" | "stopped"
    adapter_dir: Path
    key: str
    iteration: int
    total: int
    losses: list[list[float]] = field(default_factory=list)  # [iteration, train loss]
    val_losses: list[list[float]] = field(default_factory=list)
    seconds: float = 0.0
    tokens_per_s: float = 0.0  # mean over this session's reports
    resumed_from: int = 0


def adapter_key(model_key: str, plan: TrainPlan, data_dir: Path) -> str:
    blob = json.dumps([model_key, plan.training_fields(), file_sha256(data_dir / "train.jsonl"),
                       file_sha256(data_dir / "valid.jsonl")], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


async def train_student(plan: TrainPlan, model_path: Path, model_key: str, data_dir: Path, *,
                        adapters_root: Path, run_adapters: Path, blas: Blas,
                        cancel: threading.Event,
                        progress: Callable[[dict[str, Any]], None]) -> TrainOutcome:
    key = adapter_key(model_key, plan, data_dir)
    adapter_dir = adapters_root / key
    with hold_run_lock(adapter_dir):
        before = read_progress(adapter_dir)
        outcome = TrainOutcome("reused", adapter_dir, key, before["iteration"], plan.iters,
                               resumed_from=before["iteration"])
        if not before["finished"] and not cancel.is_set():
            started = time.monotonic()
            rates: list[float] = []

            def on_message(message: dict[str, Any]) -> None:
                if message["type"] == "train":
                    rates.append(message["tokens_per_s"])
                if message["type"] in ("loaded", "validating", "train", "val", "note"):
                    progress(message)

            job = {"cmd": "train", "model": str(model_path), "data_dir": str(data_dir),
                   "adapter_dir": str(adapter_dir), **plan.training_fields()}
            last = await run_worker(job, on_message, blas, cancel)
            outcome.status = "stopped" if last["type"] == "stopped" else "trained"
            outcome.seconds = time.monotonic() - started
            outcome.tokens_per_s = sum(rates) / len(rates) if rates else 0.0
        elif not before["finished"]:
            outcome.status = "stopped"
        after = read_progress(adapter_dir)
        outcome.iteration = after["iteration"]
        outcome.losses, outcome.val_losses = after["losses"], after["val_losses"]
        if after["iteration"]:
            run_adapters.mkdir(parents=True, exist_ok=True)
            for name in ADAPTER_FILES:
                shutil.copy2(adapter_dir / name, run_adapters / name)
            write_json(run_adapters / PROGRESS_FILE, after)
    return outcome
