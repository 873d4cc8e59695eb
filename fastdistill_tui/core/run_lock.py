"""One process at a time per run (runs/<run_id>/.lock) and per config (locks/<config hash>.lock
in the data dir, so two processes started on one config do not both pay for every answer): advisory
locks that the OS releases when the process ends however it ends (SIGKILL included), so a lock
is never stale."""

from __future__ import annotations

import fcntl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import InputError

LOCK_NAME = ".lock"


@contextmanager
def hold_run_lock(run_dir: Path) -> Iterator[None]:
    run_dir.mkdir(parents=True, exist_ok=True)
    handle = open(run_dir / LOCK_NAME, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise InputError(f"run {run_dir.name} is in use by another fastdistill process",
                         field="--resume", hint="wait for it to finish or stop it") from None
    try:
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


@contextmanager
def hold_config_lock(locks: Path, config_hash: str,
                     running_run: Callable[[], str | None]) -> Iterator[None]:
    """Refuse a second process on the same config; `running_run` names the run it holds."""
    locks.mkdir(parents=True, exist_ok=True)
    handle = open(locks / f"{config_hash}.lock", "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        run_id = running_run() or "a run"
        raise InputError(f"run {run_id} of this config is in use by another fastdistill "
                         f"process; two processes on one config would pay twice for every "
                         f"answer", hint="wait for it to finish (a rerun then reuses its "
                                         "answers), or stop it") from None
    try:
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()
