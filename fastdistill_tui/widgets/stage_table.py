"""One row per stage: state (a word and a mark), done/total, kept, rejected, rate, ETA, bar.

Drawn as lines of text with fixed columns rather than a rich Table: it is redrawn on every
progress tick, and a Table of bars costs several times more to lay out."""

from __future__ import annotations

import dataclasses

from rich.text import Text

from ..run_state import DONE, NOT_RUN, RUNNING, STOPPED, WAITING, RunState, StageRow
from .format import bar_text, clock, rate
from .panel import Panel

MARKS = {DONE: ("✓", "green"), RUNNING: ("▶", "bold cyan"), STOPPED: ("■", "yellow"),
         WAITING: ("·", "dim"), NOT_RUN: ("–", "dim")}
NAME = 18  # student_eval_post
HEADER = (f"{'stage':<{NAME}}{'state':<10}{'done/total':>10}{'kept':>6}{'rej':>5}{'rate/s':>7}"
          f"{'ETA':>6} ")


class StageTable(Panel):
    def key(self, state: RunState) -> tuple:
        return self.width, tuple(dataclasses.astuple(row) for row in state.stages.values())

    def draw(self, state: RunState) -> tuple[Text, int]:
        bar_width = max(self.width - len(HEADER), 4)
        lines = [Text(HEADER, style="bold")]
        lines += [self._line(row, bar_width) for row in state.stages.values()]
        return Text("\n").join(lines), len(lines)

    @staticmethod
    def _line(row: StageRow, bar_width: int) -> Text:
        mark, style = MARKS[row.state]
        idle = row.state in (WAITING, NOT_RUN)
        line = Text(f"{row.name:<{NAME}}", style="dim" if idle else "")
        line.append(f"{mark} {row.state:<8}", style=style)
        if idle:
            return line
        running = row.state == RUNNING
        done = f"{row.done}/{row.total}" if row.total else str(row.done)
        speed = rate(row.rate_per_s) if running and row.rate_per_s else "—"
        line.append(f"{done:>10}{row.kept:>6}{row.rejected:>5}{speed:>7}"
                    f"{clock(row.eta_s) if running else '—':>6} ")
        fraction = row.done / row.total if row.total else float(row.state == DONE)
        line.append_text(bar_text(fraction, bar_width, "green" if row.state == DONE else "cyan"))
        return line
