"""One row per stage: state (a word and a mark), done/total, kept, rejected, rate, ETA, bar."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from ..run_state import DONE, RUNNING, STOPPED, RunState, StageRow
from .format import Bar, clock, rate

MARKS = {DONE: ("✓", "green"), RUNNING: ("▶", "bold $accent"), STOPPED: ("■", "yellow")}


class StageTable(Static):
    def show(self, state: RunState) -> None:
        table = Table(box=None, expand=True, padding=(0, 1, 0, 0), header_style="bold",
                      show_edge=False)
        table.add_column("stage", width=12, no_wrap=True)
        table.add_column("state", width=9, no_wrap=True)
        table.add_column("done/total", width=11, justify="right", no_wrap=True)
        table.add_column("kept", width=6, justify="right", no_wrap=True)
        table.add_column("rej", width=5, justify="right", no_wrap=True)
        table.add_column("rate/s", width=6, justify="right", no_wrap=True)
        table.add_column("ETA", width=5, justify="right", no_wrap=True)
        table.add_column("", ratio=1, min_width=6, no_wrap=True)
        for row in state.stages.values():
            table.add_row(*self._cells(row))
        self.update(table)

    def _cells(self, row: StageRow) -> list[Text | str | Bar]:
        mark, style = MARKS.get(row.state, ("·", "dim"))
        style = style.replace("$accent", "cyan")
        state = Text(f"{mark} {row.state}", style=style)
        if row.state == "waiting":
            return [Text(row.name, style="dim"), state, "", "", "", "", "", ""]
        done = f"{row.done}/{row.total}" if row.total else str(row.done)
        fraction = row.done / row.total if row.total else 0.0
        running = row.state == RUNNING
        return [Text(row.name), state, done, str(row.kept), str(row.rejected),
                rate(row.rate_per_s) if running and row.rate_per_s else "—",
                clock(row.eta_s) if running else "—",
                Bar(fraction if row.total else (1.0 if row.state == DONE else 0.0),
                    style="green" if row.state == DONE else "cyan")]
