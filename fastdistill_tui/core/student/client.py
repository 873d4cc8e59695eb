"""The engine's side of the student worker: start it with its own environment, send the job, turn
its lines into callbacks, stop it on a cancel, and report a crash with its last words.

A cancel must end the stage within 2 s, and one step of the worker (a prefill chunk, a training
iteration) can take longer on a slow machine. A generating worker is killed at once: every
answer was sent as it finished, so only the batch under way is lost, and a resume generates it
again. A training worker gets SIGINT, which lets it checkpoint the iteration it is on (atomically,
student/worker.py), and is killed if it has not exited STOP_GRACE_S later."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from ..errors import FastDistillError
from .blas import Blas, child_env

Message = dict[str, Any]
STDERR_TAIL = 20  # lines of the worker's stderr kept for an error message
LINE_LIMIT = 64 * 1024 * 1024  # one generated answer a line; prompts can be long
STOP_GRACE_S = 1.0


class StudentError(FastDistillError):
    """The student worker crashed or could not start (the run itself stays intact)."""

    exit_code = 1


class TrainingDiverged(StudentError):
    """Training was stopped because the validation loss ran away (the worker's text says how
    far and what to change); resuming the same settings would diverge again."""


async def run_worker(job: dict[str, Any], on_message: Callable[[Message], None], blas: Blas,
                     cancel: threading.Event | None = None) -> Message:
    """Run one job; returns its last message ("done" or "stopped"). Raises StudentError for a
    crash, TrainingDiverged for a training run that made the model worse."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fastdistill_tui.core.student.worker",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=child_env(blas), limit=LINE_LIMIT)
    proc.stdin.write(json.dumps(job).encode() + b"\n")
    await proc.stdin.drain()
    proc.stdin.close()
    tail: deque[str] = deque(maxlen=STDERR_TAIL)
    last: Message = {}
    killed: list[bool] = []

    async def read_stderr() -> None:
        async for line in proc.stderr:
            tail.append(line.decode(errors="replace").rstrip())

    async def pass_cancel() -> None:
        while cancel is not None and proc.returncode is None:
            if cancel.is_set():
                if job["cmd"] == "train":
                    proc.send_signal(signal.SIGINT)
                    try:
                        await asyncio.wait_for(asyncio.shield(proc.wait()), STOP_GRACE_S)
                    except asyncio.TimeoutError:
                        pass
                if proc.returncode is None:
                    killed.append(True)
                    proc.kill()
                return
            await asyncio.sleep(0.1)

    helpers = [asyncio.create_task(read_stderr()), asyncio.create_task(pass_cancel())]
    try:
        async for line in proc.stdout:
            message = json.loads(line)
            last = message
            on_message(message)
        await proc.wait()
        await helpers[0]
    finally:
        for task in helpers:
            task.cancel()
        if proc.returncode is None:  # the engine itself is being torn down
            proc.kill()
            await proc.wait()
    if killed:
        return {"type": "stopped", "killed": True}
    if last.get("type") == "diverged" and proc.returncode == 0:
        raise TrainingDiverged(last["text"])
    if proc.returncode != 0 or last.get("type") not in ("done", "stopped"):
        said = " | ".join(line for line in tail if line.strip())[-1500:]
        raise StudentError(f"the student {job['cmd']} process exited with code "
                           f"{proc.returncode}: {said or 'no output'}")
    return last
