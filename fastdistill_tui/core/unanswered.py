"""Samples the teacher gave no answer (a timeout, a dropped connection, a 5xx, a 429 after every
retry): a run with any ends `incomplete` (exit code 4, resumable) instead of `completed`, with one
message saying how many, why, and how to ask them again — the exported set lacks them, and a
script must be able to tell. A rerun or `--resume` asks exactly those again (stored answers are
reused); `length` failures are final (deterministic and billed) and do not count.
"""

from __future__ import annotations

from .stages.teacher import FINAL_FAILURES
from .store import Store

#: What to change before asking again, by failure reason (without the "teacher_" prefix).
HINTS = {
    "timeout": "give the server longer (e.g. FASTDISTILL_TEACHER_TIMEOUT_S=300) or fewer requests "
               "at once (--concurrency)",
    "rate_limited": "lower --concurrency or set teacher.rpm / teacher.tpm",
    "connection": "check that the server is up (--base-url)",
}
DEFAULT_HINT = "check the server's log"


def final_status(store: Store, run_id: str, status: str) -> tuple[str, str]:
    """(status, message): `completed` becomes `incomplete` when samples got no answer; any
    other status, or a run without such samples, is returned as it is with no message."""
    if status != "completed":
        return status, ""
    groups = store.unanswered(run_id, FINAL_FAILURES)
    if not groups:
        return status, ""
    total = sum(count for _, count, _ in groups)
    reasons = [reason.removeprefix("teacher_") for reason, _, _ in groups]
    why = "; ".join(f"{reason.removeprefix('teacher_')} {count}: {detail[:120]}"
                    for reason, count, detail in groups)
    hints = list(dict.fromkeys(HINTS.get(reason, DEFAULT_HINT) for reason in reasons))
    return "incomplete", (
        f"{total} sample{'s' if total != 1 else ''} got no answer from the teacher ({why}); "
        f"they are not in the exported set. To ask them again (answers already stored are "
        f"reused), {'; '.join(hints)}, then rerun the same command or "
        f"`fastdistill run --headless --resume {run_id}`")
