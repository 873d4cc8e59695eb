"""The top line: which run, on what, with which teacher, how long so far and how long to go."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from ..run_state import RunState, status_word
from .format import clock


NARROW = 110  # below it the name of the app and the dataset give way to the teacher's name


class RunHeader(Static):
    _last: tuple[RunState, float, str] | None = None

    def on_resize(self) -> None:
        """What fits depends on the width: draw again at the new one."""
        if self._last is not None:
            self.show(*self._last)

    def show(self, state: RunState, now: float, trail: str = "") -> None:
        """trail: the screens before this one (`Runs`), shown as `Runs › run id`."""
        self._last = (state, now, trail)
        text = Text()
        narrow = 0 < self.size.width < NARROW
        if not narrow:
            text.append(" FastDistill ", style="bold reverse")
        text.append(f" {trail} › " if trail else " ", style="dim")
        if not state.run_id:
            text.append("reading and validating the dataset…")
            self.update(text, layout=False)
            return
        text.append(state.run_id, style="bold")
        text.append("  ")
        text.append(f" {self._status(state)} ", style="bold reverse")
        text.append(f" {clock(state.elapsed(now))}")
        if state.waited(now) >= 1:
            text.append(f" · waited {clock(state.waited(now))}")
        if state.running and not state.waiting:
            text.append(f" · ETA {clock(state.eta_s())}")
        if narrow:  # the teacher's name alone
            text.append(f"  {state.teacher}", style="dim")
        else:
            text.append(f"  teacher {state.teacher} · {state.dataset} · {state.total} samples",
                        style="dim")
        text.no_wrap = True
        text.overflow = "ellipsis"
        self.update(text, layout=False)  # one line, always

    @staticmethod
    def _status(state: RunState) -> str:
        if state.failure:
            return "failed"
        if state.finished is not None:
            return status_word(state.finished.status)
        if state.waiting:
            return "waiting for you"
        return "stopping" if state.stopping else "running"
