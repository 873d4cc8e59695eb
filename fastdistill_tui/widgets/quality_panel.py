"""The teacher's quality at the last gate check: each metric against its threshold, and the
gate's verdict in words: short under the panel (it must fit a 46-column border), who decided
on a failed gate in the body."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from ..run_state import RunState
from .format import Bar, threshold
from .panel import Panel

METRICS = {"exec_pass_rate": "exec-pass", "gold_match_rate": "gold-match",
           "agreement_rate": "agreement", "judge_mean": "judge mean"}


class QualityPanel(Panel):
    def key(self, state: RunState) -> tuple[int, int]:
        return len(state.gates), len(state.decisions)

    def draw(self, state: RunState) -> tuple[Group | Text, int]:
        if not state.gates:
            return Text("the teacher-eval gate is checked after the first answers",
                        style="dim"), 1
        gate = state.gates[-1]
        table = Table(box=None, show_header=False, show_edge=False, padding=(0, 1),
                      expand=True)
        table.add_column(width=10, no_wrap=True)
        table.add_column(width=4, justify="right", no_wrap=True)
        table.add_column(ratio=1, no_wrap=True)
        table.add_column(width=8, no_wrap=True)
        for key, label in METRICS.items():
            m = gate.metrics.get(key)
            if m is None:
                continue
            ok = m["passed"]
            table.add_row(label, f"{m['value']:.2f}",
                          Bar(m["value"], style="green" if ok else "red"),
                          Text(f"≥{threshold(m['threshold'])} {'✓' if ok else '✗'}",
                               style="" if ok else "bold red"))
        rows = [table]
        decided = next((d for d in reversed(state.decisions) if d.gate == gate.gate), None)
        if decided is not None and not gate.passed:
            verb = "overridden" if decided.proceed else "stopped"
            rows.append(Text(f" {verb} by {decided.by}",  # indented as the rows above
                             style="" if decided.proceed else "bold"))
        self.border_title = f"Quality gate {gate.gate}"
        self.border_subtitle = (f"{'passed' if gate.passed else 'FAILED'} · "
                                f"{'early' if gate.early else 'final'} check · "
                                f"{gate.answers} answers")
        return Group(*rows), table.row_count + len(rows) - 1
