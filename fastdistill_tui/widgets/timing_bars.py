"""Where the time goes: each stage's own work per sample (p50, p90) and its share of all timed
work, plus the time samples waited in the queue for a worker. Text rows, like the stage table:
redrawn on every tick."""

from __future__ import annotations

from rich.text import Text

from ..run_state import RunState
from .format import bar_text, duration
from .panel import Panel

LABELS = {"queue_wait": "queue wait"}
FIXED = 13 + 14 + 14 + 9  # name, p50, p90, share


class TimingBars(Panel):
    def key(self, state: RunState) -> tuple[int, int, bool]:
        # a new timings dict with every TimingUpdated
        return self.width, id(state.timings), state.finished is not None

    def draw(self, state: RunState) -> tuple[Text, int]:
        if not state.timings:
            if state.finished is not None and state.resumed:
                return Text("no sample went through the stages in this part: they were done "
                            "before the resume", style="dim"), 1
            return Text("no sample has been through the stages yet", style="dim"), 1
        bar_width = max(self.width - FIXED, 4)
        top = max(t["share"] for t in state.timings.values()) or 1.0
        lines = []
        for name, t in state.timings.items():
            waiting = name == "queue_wait"
            line = Text(f"{LABELS.get(name, name):<13}", style="dim" if waiting else "")
            line.append(f"{'p50 ' + duration(t['p50']):<14}")
            line.append(f"{'p90 ' + duration(t['p90']):<14}", style="dim")
            line.append_text(bar_text(t["share"] / top, bar_width,
                                      "yellow" if waiting else "magenta", ""))
            line.append(f"{t['share'] * 100:>7.1f} %")
            lines.append(line)
        return Text("\n").join(lines), len(lines)
