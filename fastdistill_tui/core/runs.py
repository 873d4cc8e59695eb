"""What a run is, in one place: its id, its directory, its statuses and how to resume it.

Every list of statuses (the exit codes, what a rerun continues, what the app offers to resume)
reads `RunStatus`; every message that tells a user how to continue uses `resume_command`.
"""

from __future__ import annotations

import secrets
import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import Config


class RunStatus(StrEnum):
    """A run's status as stored and as `RunFinished.status`; the value is the stored word."""

    RUNNING = "running"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    GATE_FAILED = "gate_failed"
    TEACHER_UNREACHABLE = "teacher_unreachable"
    DATASET_INVALID = "dataset_invalid"
    JUDGE_UNUSABLE = "judge_unusable"
    FAILED = "failed"
    STUDENT_FAILED = "student_failed"
    INCOMPLETE = "incomplete"  # finished, but samples got no teacher answer (unanswered.py)

    @property
    def exit_code(self) -> int:
        return _EXIT_CODES[self]

    @property
    def resumable(self) -> bool:
        """A rerun of the config (or Resume) continues a run in this status. Not
        dataset_invalid: a fixed dataset must not inherit its gold failures; not
        judge_unusable: the judge's settings are part of the config."""
        return self in _RESUMABLE

    @property
    def words(self) -> str:
        return _WORDS[self]


_EXIT_CODES = {RunStatus.RUNNING: 1, RunStatus.COMPLETED: 0, RunStatus.CANCELLED: 130,
               RunStatus.GATE_FAILED: 3, RunStatus.TEACHER_UNREACHABLE: 2,
               RunStatus.DATASET_INVALID: 2, RunStatus.JUDGE_UNUSABLE: 2, RunStatus.FAILED: 1,
               RunStatus.STUDENT_FAILED: 1, RunStatus.INCOMPLETE: 4}
_RESUMABLE = frozenset({RunStatus.RUNNING, RunStatus.CANCELLED, RunStatus.TEACHER_UNREACHABLE,
                        RunStatus.FAILED, RunStatus.GATE_FAILED, RunStatus.STUDENT_FAILED,
                        RunStatus.INCOMPLETE})
_WORDS = {RunStatus.RUNNING: "running", RunStatus.COMPLETED: "completed",
          RunStatus.CANCELLED: "stopped", RunStatus.GATE_FAILED: "gate failed",
          RunStatus.TEACHER_UNREACHABLE: "teacher unreachable",
          RunStatus.DATASET_INVALID: "dataset invalid",
          RunStatus.JUDGE_UNUSABLE: "judge unusable", RunStatus.FAILED: "failed",
          RunStatus.STUDENT_FAILED: "student failed",
          RunStatus.INCOMPLETE: "incomplete"}

#: Stored words of the statuses a rerun or Resume continues (each one's message says how).
RESUMABLE_STATUSES: tuple[str, ...] = tuple(s.value for s in RunStatus if s.resumable)


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


def run_dir_for(config: Config, run_id: str) -> Path:
    return config.runs_dir / run_id


def resume_command(run_id: str) -> str:
    """The command line that continues a run, as messages quote it."""
    return f"fastdistill run --headless --resume {run_id}"
