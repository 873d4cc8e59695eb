"""The run dashboard: stages side by side with the teacher's requests, the quality gate and the
student; where the time goes; the result once the run ends; the log."""

from __future__ import annotations

import time

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, RichLog

from ..core import events as ev
from ..run_state import RunState, status_word
from ..widgets.format import in_app, threshold
from ..widgets.panel import titled
from ..widgets.quality_panel import QualityPanel
from ..widgets.reject_panel import RejectPanel
from ..widgets.request_panel import RequestPanel
from ..widgets.result_panel import ResultPanel
from ..widgets.run_header import RunHeader
from ..widgets.stage_table import StageTable
from ..widgets.student_panel import StudentPanel
from ..widgets.timing_bars import TimingBars

LEVEL_STYLES = {"info": "", "warning": "yellow", "error": "bold red"}


class RunScreen(Screen):
    NAME = "Run"
    HELP = ("A run, live: every stage's progress, the teacher's requests, the quality gate, "
            "where the time goes and the log. s stops it (drains what is in flight, saves, "
            "stays resumable); Ctrl+C twice leaves at once, resumable too.")
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    #: True where r on the screen resumes its run (a stored run's): the engine's hints to the
    #: command line then name the key alone (format.in_app)
    RESUMES_HERE = False

    def __init__(self, trail: str = "") -> None:
        """trail: where the run was opened from (the header shows `Runs › run id`)."""
        super().__init__()
        self.trail = trail
        # A run's first events and the clock's tick can arrive before the panels are composed
        # (a busy machine) or after they are torn down (leaving the app): what arrives then is
        # kept and drawn once the panels exist, never looked up in a screen without them.
        self._drawn: tuple[RunState, float] | None = None
        self._early_lines: list[Text] | None = []

    def compose(self) -> ComposeResult:
        yield RunHeader(id="run-header")
        with VerticalScroll(id="body"):
            with Horizontal(id="top"):
                yield titled(StageTable(id="stages"), "Stages")
                with Vertical(id="side"):
                    yield titled(RequestPanel(id="requests"), "Teacher requests")
                    yield titled(QualityPanel(id="quality"), "Quality gate")
            with Horizontal(id="middle"):
                yield titled(TimingBars(id="timings"),
                              "Where the time goes · own work per sample: p50, p90, share")
                with Vertical(id="student-side"):
                    yield titled(StudentPanel(id="student"), "Student")
                    yield titled(RejectPanel(id="rejects"), "Why samples are dropped")
            yield titled(ResultPanel(id="result", resumes_here=self.RESUMES_HERE), "Result")
            yield titled(RichLog(id="log", markup=False, wrap=True, auto_scroll=True), "Log")
        yield Footer(show_command_palette=False)  # the keys of a run need the room

    def on_mount(self) -> None:
        """Draw what arrived before the panels existed."""
        lines, self._early_lines = self._early_lines or [], None
        for line in lines:
            self.query_one(RichLog).write(line)
        if self._drawn is not None:
            self.show(*self._drawn)

    @property
    def _panels_ready(self) -> bool:
        """Composed, and not being torn down (Textual removes the panels before the screen)."""
        return self._early_lines is None and not (self._pruning or self._closing)

    def show(self, state: RunState, now: float) -> None:
        """Redraw every panel from the state (called by the app's message handlers)."""
        self._drawn = (state, now)
        if not self._panels_ready:
            return
        self.show_header(state, now)
        for panel in (StageTable, RequestPanel, QualityPanel, StudentPanel, TimingBars,
                      ResultPanel, RejectPanel):
            self.query_one(panel).show(state)
        side = self.query_one("#student-side")  # nothing to show there yet: timings get the row
        side.display = any(child.display for child in side.children)

    def show_header(self, state: RunState, now: float) -> None:
        """The top line alone (the clock's tick)."""
        if self._panels_ready:
            self.query_one(RunHeader).show(state, now, self.trail)

    def log_line(self, ts: float, text: str, level: str = "info") -> None:
        line = Text(time.strftime("%H:%M:%S", time.localtime(ts)) + "  ", style="dim")
        if level != "info":
            line.append(f"{level}: ", style=LEVEL_STYLES[level])
        line.append(text, style=LEVEL_STYLES.get(level, ""))
        if self._panels_ready:
            self.query_one(RichLog).write(line)
        elif self._early_lines is not None:
            self._early_lines.append(line)

    def log_event(self, event: ev.Event, stopping: bool = False) -> None:
        """The events worth a line in the log (stopping: a stage's end is a stop's)."""
        text, level = describe(event, stopping, self.RESUMES_HERE)
        if text:
            self.log_line(event.ts, text, level)


def describe(event: ev.Event, stopping: bool = False,
             resumes_here: bool = False) -> tuple[str, str]:
    if isinstance(event, ev.Log):
        return in_app(event.message, resumes_here), event.level
    if isinstance(event, ev.StageFinished):
        verb = "stopped" if stopping else "done"
        return (f"{event.stage} {verb}: {event.kept} kept, {event.rejected} rejected in "
                f"{event.seconds:.1f} s"), "info"
    if isinstance(event, ev.GateEvaluated):
        figures = ", ".join(f"{name} {m['value']:.2f} {'≥' if m['passed'] else '<'} "
                            f"{threshold(m['threshold'])}" for name, m in event.metrics.items()
                            if name != "min_total")
        answers = event.answers
        when = "early check" if event.early else "final"
        verdict = "passed" if event.passed else "FAILED"
        return (f"gate {event.gate} ({when}, {answers} answers): {figures} — {verdict}",
                "info" if event.passed else "warning")
    if isinstance(event, ev.GateDecided) and event.by != "auto":
        verb = "overridden" if event.proceed else "not overridden: stopping"
        return f"gate {event.gate} {verb} (by {event.by})", "info"
    if isinstance(event, ev.RunFinished):
        level = "info" if event.status == "completed" else "warning"
        return f"run {status_word(event.status)}: {in_app(event.message, resumes_here)}", level
    return "", "info"
