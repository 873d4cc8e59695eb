"""Where the time goes: each stage's own work per sample (p50, p90) and its share of all timed
work, plus the time samples waited in the queue for a worker."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from ..run_state import RunState
from .format import Bar, duration

LABELS = {"queue_wait": "queue wait"}


class TimingBars(Static):
    def show(self, state: RunState) -> None:
        if not state.timings:
            self.update(Text("no sample has been through the stages yet", style="dim"))
            return
        table = Table(box=None, expand=True, padding=(0, 1), show_header=False,
                      show_edge=False)
        table.add_column(width=12, no_wrap=True)
        table.add_column(width=13, no_wrap=True)
        table.add_column(width=13, no_wrap=True)
        table.add_column(ratio=1, no_wrap=True)
        table.add_column(width=7, justify="right", no_wrap=True)
        top = max(t["share"] for t in state.timings.values()) or 1.0
        for name, t in state.timings.items():
            waiting = name == "queue_wait"
            table.add_row(Text(LABELS.get(name, name), style="dim" if waiting else ""),
                          f"p50 {duration(t['p50'])}", Text(f"p90 {duration(t['p90'])}",
                                                            style="dim"),
                          Bar(t["share"] / top, style="yellow" if waiting else "magenta",
                              empty_style=""),
                          f"{t['share'] * 100:.1f} %")
        self.update(table)
