"""Two marked runs side by side: what differs in their configs, every quality metric and p50
timing with the change from the first to the second, and the samples one kept and the other
dropped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from ..core.stages.registry import stage_names
from ..core.report import read_reports
from ..core.run_index import RunSummary
from ..run_state import status_word
from ..widgets.panel import titled

METRICS = ("kept", "p_keep", "exec_pass_rate", "gold_match_rate")
RATES = {"p_keep", "exec_pass_rate", "gold_match_rate"}  # shown with DECIMALS, counts whole
DECIMALS = 3
#: the reports' names as a reader says them
LABELS = {"kept": "kept", "p_keep": "keep rate", "exec_pass_rate": "exec-pass",
          "gold_match_rate": "gold-match"}


def transition(name: str) -> str:
    """"raw__to__canonical" → "raw → canonical"."""
    return name.replace("__to__", " → ")


def load_reports(run_dir: Path) -> tuple[dict[str, dict], dict[str, dict]]:
    """A run's quality reports by stage and its timing transitions (empty where absent)."""
    quality, timing = read_reports(run_dir)
    return quality, (timing or {}).get("durations", {})


def _setting(value: Any) -> str:
    """A config value as the config file writes it: true, 0.5, "", ["teacher_eval"]."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value or '""'
    return json.dumps(value, ensure_ascii=False)


def _figure(value: Any, decimals: int) -> str:
    """A report's figure with `decimals` decimals, 0 for a count and DECIMALS for a rate
    (1.000, 0.985), so that the figures of a column read alike; — where there is none."""
    if not isinstance(value, (int, float)):
        return "—"
    return f"{value:.{decimals}f}"


def _delta(a: Any, b: Any, scale: float = 1.0, decimals: int = DECIMALS,
           lower_is_better: bool = False) -> Text:
    """B − A as the figures are shown (`=` where they read the same), green where B is
    better (more kept, higher rates; less time), red where worse."""
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
        return Text("")
    d = round((b - a) * scale, decimals)
    if d == 0:
        return Text("=", style="dim")
    better = d < 0 if lower_is_better else d > 0
    return Text(f"{d:+.{decimals}f}", style="green" if better else "red")


class CompareScreen(Screen):
    NAME = "Compare"
    HELP = ("Two marked runs side by side: what differs in their configs, each stage's "
            "quality and timing with the change from A to B, and the samples one kept and "
            "the other dropped. ↑/↓ and PgUp/PgDn scroll.")

    def __init__(self, a: RunSummary, b: RunSummary, *, config_a: dict, config_b: dict,
                 dir_a: Path, dir_b: Path, differences: list[tuple[str, bool]],
                 shared: int) -> None:
        super().__init__()
        self.a, self.b = a, b
        self.config_a, self.config_b = config_a, config_b
        self.quality_a, self.timing_a = load_reports(dir_a)
        self.quality_b, self.timing_b = load_reports(dir_b)
        self.differences = differences
        self.shared = shared  # samples both runs have a result for

    def compose(self) -> ComposeResult:
        yield Static(f"Runs › Compare · A {self.a.run_id} ({status_word(self.a.status)}) · B "
                     f"{self.b.run_id} ({status_word(self.b.status)})", id="compare-title")
        with VerticalScroll(id="compare-body"):
            yield titled(Static(self._config_table(), id="compare-config"),
                          "Config differences")
            yield titled(Static(self._quality_table(), id="compare-quality"),
                          "Quality per stage · A → B (change), one figure where the same")
            yield titled(Static(self._timing_table(), id="compare-timing"),
                          "p50 per sample · A, B, change")
            yield titled(Static(self._student_table(), id="compare-student"), "Student")
            yield titled(Static(self._samples_table(), id="compare-samples"),
                          f"Kept by one, dropped by the other · {len(self.differences)} of "
                          f"the {self.shared} samples both runs have")
        yield Footer()

    def _config_table(self) -> Table | str:
        keys = sorted(set(self.config_a) | set(self.config_b))
        changed = [k for k in keys if self.config_a.get(k) != self.config_b.get(k)]
        if not changed:
            return "same config"
        table = Table("key", "A", "B", box=None, padding=(0, 2, 0, 0))
        for key in changed:
            table.add_row(key, _setting(self.config_a.get(key)),
                          _setting(self.config_b.get(key)))
        return table

    def _quality_table(self) -> Table:
        """A row a stage, a column a metric: A → B and the change, or the figure once and `=`
        where both runs read the same (a row of rates then fits 80 columns)."""
        qa, qb = self.quality_a, self.quality_b
        table = Table("stage", *(LABELS[m] for m in METRICS), box=None, padding=(0, 2, 0, 0),
                      pad_edge=False)  # no gap after the last column: 80 columns need it
        for stage in [s for s in stage_names() if s in qa or s in qb]:
            cells = []
            for metric in METRICS:
                va, vb = qa.get(stage, {}).get(metric), qb.get(stage, {}).get(metric)
                decimals = DECIMALS if metric in RATES else 0
                a, b = _figure(va, decimals), _figure(vb, decimals)
                cell = Text(a if a == b else f"{a}→{b}")
                if va is not None and vb is not None:
                    cell.append(" ").append_text(_delta(va, vb, decimals=decimals))
                cells.append(cell)
            table.add_row(stage, *cells)
        return table

    def _timing_table(self) -> Table:
        ta, tb = self.timing_a, self.timing_b
        table = Table("transition", "A ms", "B ms", "Δ ms", box=None, padding=(0, 2, 0, 0))
        for name in [n for n in ta] + [n for n in tb if n not in ta]:
            pa = ta.get(name, {}).get("p50")
            pb = tb.get(name, {}).get("p50")
            table.add_row(transition(name), "—" if pa is None else f"{pa * 1000:.2f}",
                          "—" if pb is None else f"{pb * 1000:.2f}",
                          _delta(pa, pb, 1000.0, decimals=2, lower_is_better=True))
        return table

    def _student_table(self) -> Table | str:
        """Gold-match of each run's student before and after training."""
        if not (self.a.student or self.b.student):
            return "neither run trained a student"
        table = Table("run", "student", "pre", "post", "post − pre", box=None,
                      padding=(0, 2, 0, 0))
        for name, run in (("A", self.a), ("B", self.b)):
            table.add_row(name, run.student or "—", _figure(run.student_pre, DECIMALS),
                          _figure(run.student_post, DECIMALS),
                          _delta(run.student_pre, run.student_post))
        return table

    def _samples_table(self) -> Table | str:
        if not self.shared:
            return ("the runs have no sample in common (another dataset, split or limit): "
                    "nothing to compare sample by sample")
        if not self.differences:
            return f"of the {self.shared} samples both runs have, each kept the same ones"
        table = Table("kept by", "question", box=None, padding=(0, 2, 0, 0))
        for question, kept_by_a in self.differences[:200]:
            table.add_row("A" if kept_by_a else "B", question)
        return table
