"""One process at a time per run: an advisory lock on runs/<run_id>/.lock. The OS releases it
when the process ends however it ends (SIGKILL included), so a lock is never stale."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
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


def is_locked(run_dir: Path) -> bool:
    """True while another process holds the run."""
    if not (run_dir / LOCK_NAME).exists():
        return False
    with open(run_dir / LOCK_NAME, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False
