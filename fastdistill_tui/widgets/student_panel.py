"""The student: training loss (and val loss) as it trains, then the before/after table with
deltas, the teacher's rate on the same questions, and a bar per metric."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Sparkline, Static

from ..run_state import RunState
from .format import Bar, clock

METRICS = (("exec_pass_rate", "exec-pass"), ("gold_match_rate", "gold-match"))


class StudentPanel(Vertical):
    def compose(self) -> ComposeResult:
        yield Static(id="train-line")
        yield Sparkline([], id="loss-curve")
        yield Static(id="before-after")

    _shown: tuple = (None, 0)

    def show(self, state: RunState) -> None:
        if (state.train, len(state.student)) == self._shown:
            return
        self._shown = (state.train, len(state.student))
        self.display = True
        line = self.query_one("#train-line", Static)
        t = state.train
        if t is None:
            line.update(Text("training: no progress reported", style="dim"))
        else:
            text = Text(f"iter {t.iteration}/{t.total_iterations}")
            if t.loss is not None:
                text.append(f"  loss {t.loss:.3f}")
            if t.val_loss is not None:
                text.append(f"  val {t.val_loss:.3f}")
            if t.step:  # loading or validating: no iteration ends for a while
                text.append(f"\n{t.step}", style="dim")
            else:
                text.append(f"\n{t.tokens_per_s:.0f} tok/s", style="dim")
                if t.iteration < t.total_iterations:
                    text.append(f"  ETA {clock(t.eta_s)}")
            line.update(text)
        curve = self.query_one("#loss-curve", Sparkline)
        curve.data = state.losses
        curve.display = len(state.losses) > 1
        self.query_one("#before-after", Static).update(self._table(state))

    @staticmethod
    def _table(state: RunState) -> Table | Text:
        pre, post = state.student.get("pre"), state.student.get("post")
        teacher = state.student.get("teacher")  # its rates on the same eval questions
        if pre is None and post is None:
            return Text("before/after: evaluated after training", style="dim")
        table = Table(box=None, show_edge=False, padding=(0, 1), expand=True,
                      header_style="bold")
        table.add_column("", width=10, no_wrap=True)
        table.add_column("before", width=6, justify="right")
        table.add_column("after", width=6, justify="right")
        table.add_column("Δ", width=6, justify="right")
        table.add_column("", ratio=1, no_wrap=True)
        for key, label in METRICS:
            before = getattr(pre, key) if pre else None
            after = getattr(post, key) if post else None
            delta = after - before if before is not None and after is not None else None
            table.add_row(
                label, "—" if before is None else f"{before:.2f}",
                "—" if after is None else f"{after:.2f}",
                Text("—" if delta is None else f"{delta:+.2f}",
                     style="green" if delta and delta > 0 else ("red" if delta else "")),
                Bar(after if after is not None else before or 0.0, style="green"))
        on = (post or pre).total
        table.caption = f"on {on} held-out questions" + (
            "" if teacher is None else f"\nteacher on them: exec-pass "
            f"{teacher.exec_pass_rate:.2f}, gold-match {teacher.gold_match_rate:.2f}")
        return table
