"""What every child process of the engine does first."""

from __future__ import annotations

import signal
import sys

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent() -> None:
    """On Linux, have the kernel SIGKILL this process when the thread that started it ends, so
    no child outlives an engine that was killed (kill -9 included). Elsewhere a no-op: the
    children there end when their pipe to the parent closes."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
