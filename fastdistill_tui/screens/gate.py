"""The gate prompt: a failed gate's metrics against their thresholds, the samples they were
computed on, what has been paid so far; Override (o) or Abort (a / Esc). Dismissed with True
to go on."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Static

from ..core import events as ev
from ..widgets.format import money, threshold

LABELS = {"min_total": "answers", "exec_pass_rate": "exec-pass",
          "gold_match_rate": "gold-match", "agreement_rate": "agreement (no gold)",
          "judge_mean": "judge mean"}


class GateScreen(ModalScreen[bool]):
    BINDINGS = [Binding("o", "override", "Override and continue"),
                Binding("a", "abort", "Abort (resumable)"),
                Binding("escape", "abort", "Abort", show=False),
                Binding("s", "app.stop", "Stop (drain + save)", show=False)]  # no decision

    def __init__(self, event: ev.GateEvaluated, total: int,
                 requests: ev.RequestStats | None,
                 overridden: ev.GateEvaluated | None = None) -> None:
        """overridden: this gate's earlier check that the user overrode in this run; the
        prompt then says what changed since that decision."""
        super().__init__()
        self.event, self.total, self.requests = event, total, requests
        self.overridden = overridden

    def compose(self) -> ComposeResult:
        event = self.event
        answers = event.answers
        when = "early" if event.early else "final"
        with Vertical(id="gate-dialog") as dialog:
            dialog.border_title = (f"Gate {event.gate} failed · {when} check · {answers} of "
                                   f"{self.total} answers")
            if self.overridden is not None:
                yield Static(self._since(), id="gate-since")
            yield Static(self._metrics(answers), id="gate-metrics")
            yield Static(self._cost(), id="gate-cost")
            with Horizontal(id="gate-buttons"):
                yield Button("o  Override and continue", id="override", variant="warning")
                yield Button("a  Abort (resumable)", id="abort", variant="error")
        yield Footer()

    def _since(self) -> Text:
        """What changed since the override at the earlier check."""
        before = self.overridden
        assert before is not None
        changes = []
        for name, m in self.event.metrics.items():
            if name == "min_total" or name not in before.metrics:
                continue
            was = before.metrics[name]["value"]
            changes.append(f"{LABELS.get(name, name)} {was:.2f} → {m['value']:.2f}")
        text = Text(f"You overrode this gate at the early check on {before.answers} answers. "
                    f"Now on {self.event.answers}: " + ", ".join(changes) + ".",
                    style="bold")
        return text

    def _metrics(self, answers: int) -> Table:
        table = Table(box=None, show_edge=False, padding=(0, 2), header_style="bold")
        table.add_column("metric")
        table.add_column("value", justify="right")
        table.add_column("threshold", justify="right")
        table.add_column("on", justify="right")
        table.add_column("")
        for name, m in self.event.metrics.items():
            ok = m["passed"]
            value = f"{m['value']:.0f}" if name == "min_total" else f"{m['value']:.2f}"
            limit = f"{m['threshold']:.0f}" if name == "min_total" else threshold(m['threshold'])
            table.add_row(Text(LABELS.get(name, name)), value, f"≥ {limit}", str(answers),
                          Text("✓ pass" if ok else "✗ FAIL",
                               style="green" if ok else "bold red"))
        return table

    def _cost(self) -> Text:
        r = self.requests
        text = Text()
        if r is not None:
            text.append(f"So far: {r.fresh} fresh requests ({r.cached} cached), "
                        f"{money(r.cost)}.")
            if self.event.early:
                text.append(f" The rest would cost ≈ {money(r.projected_cost - r.cost)}.")
        text.append("\nOverride continues past the gate; Abort stops here and keeps every "
                    "answer; r on its row in Runs resumes it later.", style="dim")
        return text

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "override")

    def action_override(self) -> None:
        self.dismiss(True)

    def action_abort(self) -> None:
        self.dismiss(False)
