"""A stored run opened from home: the dashboard redrawn from its events.jsonl (the same panels
as live), Resume for a run that did not finish, and its samples — kept and rejected, and why."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from ..core.run_index import RunSummary, SampleOutcome
from ..core.events import read_events
from ..run_state import RunState
from .run import RunScreen


class RecordedRunScreen(RunScreen):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("d", "samples", "Samples"),
        Binding("r", "resume", "Resume"),
    ]

    def __init__(self, run: RunSummary, events_path: Path,
                 samples: Callable[[], list[SampleOutcome]],
                 resume: Callable[[RunSummary], None]) -> None:
        super().__init__()
        self.run = run
        self.events_path = events_path
        self.samples = samples
        self.resume = resume
        self.state = RunState()

    def on_mount(self) -> None:
        if self.events_path.exists():
            for event in read_events(self.events_path):
                self.state.apply(event)
                self.log_event(event)
        else:
            self.log_line(self.run.created_at, f"no recorded events at {self.events_path}",
                          "warning")
        if not self.state.run_id:  # nothing recorded: the header still names the run
            self.state.run_id, self.state.dataset = self.run.run_id, self.run.dataset
            self.state.teacher = self.run.teacher
        if self.run.unfinished:
            self.log_line(self.state.last_ts or self.run.created_at,
                          f"run {self.run.status}: r resumes it", "warning")
        self.show(self.state, self.state.last_ts)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "resume":
            return self.run.unfinished
        return True

    def action_samples(self) -> None:
        self.app.push_screen(SamplesScreen(self.run, self.samples()))

    def action_resume(self) -> None:
        if self.run.unfinished:
            self.resume(self.run)


class SamplesScreen(Screen):
    """A run's samples: question, teacher SQL, result match, score; the rejected ones with the
    stage and reason that dropped them. Type to filter; Tab switches kept / rejected / all."""

    VIEWS = ("kept", "rejected", "all")
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("tab", "next_view", "Kept / rejected / all", priority=True),
    ]

    def __init__(self, run: RunSummary, samples: list[SampleOutcome]) -> None:
        super().__init__()
        self.run = run
        self.samples = samples
        self.view = "kept"
        self.shown: list[SampleOutcome] = []

    def compose(self) -> ComposeResult:
        yield Static(id="samples-title")
        yield Input(placeholder="type to filter: question, SQL, reason …", id="samples-filter")
        yield DataTable(id="samples", cursor_type="row", zebra_stripes=True)
        yield Static(id="sample-detail")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for header in ("question", "teacher SQL", "match", "score", "why rejected"):
            table.add_column(header, key=header)
        self.refill()
        self.query_one(Input).focus()

    def matching(self) -> list[SampleOutcome]:
        words = self.query_one(Input).value.lower().split()
        wanted = {"kept": lambda s: s.kept, "rejected": lambda s: not s.kept,
                  "all": lambda s: True}[self.view]
        return [s for s in self.samples if wanted(s)
                and all(w in f"{s.question} {s.sql or ''} {s.why()}".lower() for w in words)]

    def refill(self) -> None:
        table = self.query_one(DataTable)
        table.clear()
        self.shown = self.matching()
        table.add_rows([[_clip(s.question, 40), _clip(s.sql or "—", 36),
                         "match" if s.gold_match else ("exec ok" if s.exec_ok else "no"),
                         f"{s.score:.2f}", _clip(s.why(), 40)] for s in self.shown])
        kept = sum(s.kept for s in self.samples)
        self.query_one("#samples-title", Static).update(
            f"run {self.run.run_id} · samples: {kept} kept, {len(self.samples) - kept} rejected"
            f" · showing {self.view} ({len(self.shown)})")
        self._detail()

    def _detail(self) -> None:
        row = self.query_one(DataTable).cursor_row
        box = self.query_one("#sample-detail", Static)
        if not 0 <= row < len(self.shown):
            box.update("")
            return
        s = self.shown[row]
        lines = [f"Q: {s.question}", f"teacher: {s.sql or '—'}", f"gold:    {s.gold_sql}"]
        if not s.kept:
            lines.append(f"rejected at {s.why()}")
        box.update("\n".join(lines))

    def on_input_changed(self, event: Input.Changed) -> None:
        self.refill()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._detail()

    def action_next_view(self) -> None:
        self.view = self.VIEWS[(self.VIEWS.index(self.view) + 1) % len(self.VIEWS)]
        self.refill()


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
