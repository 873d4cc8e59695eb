"""Two marked runs side by side: what differs in their configs, every quality metric and p50
timing with the change from the first to the second, and the samples one kept and the other
dropped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from ..core.stages.registry import stage_names
from ..core.report import read_reports
from ..core.run_index import RunSummary
from ..widgets.panel import titled

METRICS = ("kept", "p_keep", "exec_pass_rate", "gold_match_rate")


def load_reports(run_dir: Path) -> tuple[dict[str, dict], dict[str, dict]]:
    """A run's quality reports by stage and its timing transitions (empty where absent)."""
    quality, timing = read_reports(run_dir)
    return quality, (timing or {}).get("durations", {})


def _num(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.3f}"
    return str(int(value)) if isinstance(value, (int, float)) else str(value)


def _delta(a: Any, b: Any, scale: float = 1.0, unit: str = "") -> Text:
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
        return Text("")
    d = (b - a) * scale
    if abs(d) < 1e-12:
        return Text("=", style="dim")
    text = f"{d:+.3f}{unit}" if isinstance(d, float) and not float(d).is_integer() \
        else f"{int(d):+d}{unit}"
    return Text(text, style="green" if d > 0 else "red")


class CompareScreen(Screen):
    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    def __init__(self, a: RunSummary, b: RunSummary, *, config_a: dict, config_b: dict,
                 dir_a: Path, dir_b: Path, differences: list[tuple[str, bool]]) -> None:
        super().__init__()
        self.a, self.b = a, b
        self.config_a, self.config_b = config_a, config_b
        self.quality_a, self.timing_a = load_reports(dir_a)
        self.quality_b, self.timing_b = load_reports(dir_b)
        self.differences = differences

    def compose(self) -> ComposeResult:
        yield Static(f"compare A {self.a.run_id} ({self.a.status}) with B {self.b.run_id} "
                     f"({self.b.status})", id="compare-title")
        with VerticalScroll(id="compare-body"):
            yield titled(Static(self._config_table(), id="compare-config"),
                          "Config differences")
            yield titled(Static(self._quality_table(), id="compare-quality"),
                          "Quality per stage · A → B (change)")
            yield titled(Static(self._timing_table(), id="compare-timing"),
                          "p50 per sample · A, B, change")
            yield titled(Static(self._student_table(), id="compare-student"), "Student")
            yield titled(Static(self._samples_table(), id="compare-samples"),
                          f"Kept by one, dropped by the other ({len(self.differences)})")
        yield Footer()

    def _config_table(self) -> Table | str:
        keys = sorted(set(self.config_a) | set(self.config_b))
        changed = [k for k in keys if self.config_a.get(k) != self.config_b.get(k)]
        if not changed:
            return "same config"
        table = Table("key", "A", "B", box=None, padding=(0, 2, 0, 0))
        for key in changed:
            table.add_row(key, _num(self.config_a.get(key)), _num(self.config_b.get(key)))
        return table

    def _quality_table(self) -> Table:
        """A row a stage, a column a metric: A → B and the change."""
        qa, qb = self.quality_a, self.quality_b
        table = Table("stage", *METRICS, box=None, padding=(0, 2, 0, 0))
        for stage in [s for s in stage_names() if s in qa or s in qb]:
            cells = []
            for metric in METRICS:
                va, vb = qa.get(stage, {}).get(metric), qb.get(stage, {}).get(metric)
                cell = Text(f"{_num(va)}→{_num(vb)} ")
                cell.append_text(_delta(va, vb))
                cells.append(cell)
            table.add_row(stage, *cells)
        return table

    def _timing_table(self) -> Table:
        ta, tb = self.timing_a, self.timing_b
        table = Table("transition", "A ms", "B ms", "Δ ms", box=None, padding=(0, 2, 0, 0))
        for name in [n for n in ta] + [n for n in tb if n not in ta]:
            pa = ta.get(name, {}).get("p50")
            pb = tb.get(name, {}).get("p50")
            table.add_row(name, "—" if pa is None else f"{pa * 1000:.2f}",
                          "—" if pb is None else f"{pb * 1000:.2f}", _delta(pa, pb, 1000.0))
        return table

    def _student_table(self) -> Table | str:
        """Gold-match of each run's student before and after training."""
        if not (self.a.student or self.b.student):
            return "neither run trained a student"
        table = Table("run", "student", "pre", "post", "post − pre", box=None,
                      padding=(0, 2, 0, 0))
        for name, run in (("A", self.a), ("B", self.b)):
            table.add_row(name, run.student or "—", _num(run.student_pre),
                          _num(run.student_post), _delta(run.student_pre, run.student_post))
        return table

    def _samples_table(self) -> Table | str:
        if not self.differences:
            return "both runs kept the same samples"
        table = Table("kept by", "question", box=None, padding=(0, 2, 0, 0))
        for question, kept_by_a in self.differences[:200]:
            table.add_row("A" if kept_by_a else "B", question)
        return table
