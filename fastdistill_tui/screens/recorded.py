"""A stored run opened from home: the dashboard redrawn from its events.jsonl (the same panels
as live), Resume for a run that did not finish, and its samples — kept and rejected, and why."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from ..core.events import read_events
from ..core.run_index import RunSummary, SampleOutcome
from ..run_state import RunState, status_word
from ..widgets.reject_panel import in_words
from .run import RunScreen


class RecordedRunScreen(RunScreen):
    NAME = "Stored run"
    HELP = ("A stored run, drawn from its recorded events. d lists its samples, kept and "
            "rejected, with the reason each was dropped; r resumes a run that did not finish.")
    BINDINGS = [
        Binding("d", "samples", "Samples"),
        Binding("r", "resume", "Resume"),
    ]
    RESUMES_HERE = True

    def __init__(self, run: RunSummary, events_path: Path,
                 samples: Callable[[], list[SampleOutcome]],
                 resume: Callable[[RunSummary], None],
                 reasons: dict[str, dict[str, int]] | None = None) -> None:
        """reasons: why its samples were dropped (run_index.reject_reasons)."""
        super().__init__(trail="Runs")
        self.run = run
        self.events_path = events_path
        self.samples = samples
        self.resume = resume
        self.state = RunState()
        self.reasons = reasons

    def on_mount(self) -> None:
        if self.events_path.exists():
            for event in read_events(self.events_path):
                self.state.apply(event)
                self.log_event(event)
        else:
            self.log_line(self.run.created_at, f"no recorded events at {self.events_path}",
                          "warning")
        self.state.reasons = self.reasons
        if not self.state.run_id:  # nothing recorded: the header still names the run
            self.state.run_id, self.state.dataset = self.run.run_id, self.run.dataset
            self.state.teacher = self.run.teacher
        if self.run.unfinished:
            self.log_line(self.state.last_ts or self.run.created_at,
                          f"run {status_word(self.run.status)}: r resumes it", "warning")
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
    stage and reason that dropped them. `/` filters (Esc leaves the filter); v switches
    kept / rejected / all."""

    NAME = "Samples"
    HELP = ("A run's samples: the teacher's SQL, whether its result matched the gold query, "
            "its score, and for a rejected one the stage and reason that dropped it.")
    VIEWS = ("kept", "rejected", "all")
    BINDINGS = [
        Binding("slash", "filter", "Filter"),
        Binding("v", "next_view", "Kept / rejected / all"),
        Binding("escape", "escape", "Back"),
    ]

    def __init__(self, run: RunSummary, samples: list[SampleOutcome]) -> None:
        super().__init__()
        self.run = run
        self.samples = samples
        self.view = "kept"
        self.shown: list[SampleOutcome] = []

    def compose(self) -> ComposeResult:
        yield Static(id="samples-title")
        yield Input(placeholder="/ filters: question, SQL, reason …", id="samples-filter")
        yield DataTable(id="samples", cursor_type="row", zebra_stripes=True)
        yield Static(id="sample-detail")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for header in ("question", "teacher SQL", "match", "score", "why rejected"):
            table.add_column(header, key=header)
        self.refill()
        table.focus()

    def matching(self) -> list[SampleOutcome]:
        words = self.query_one(Input).value.lower().split()
        wanted = {"kept": lambda s: s.kept, "rejected": lambda s: not s.kept,
                  "all": lambda s: True}[self.view]
        return [s for s in self.samples if wanted(s)
                and all(w in f"{s.question} {s.sql or ''} {s.why()} {_reason(s, True)}".lower()
                        for w in words)]

    def refill(self) -> None:
        table = self.query_one(DataTable)
        table.clear()
        self.shown = self.matching()
        wide = self.size.width >= 110 or not self.size.width
        # 80 columns: every column shows, the reason as its code; the detail below has it all
        q, sql = (40, 36) if wide else (22, 18)
        table.add_rows([[_clip(s.question, q), _clip(s.sql or "—", sql),
                         "match" if s.gold_match else ("exec ok" if s.exec_ok else "no"),
                         f"{s.score:.2f}", _clip(_reason(s, wide), 44)] for s in self.shown])
        kept = sum(s.kept for s in self.samples)
        self.query_one("#samples-title", Static).update(
            f"Runs › {self.run.run_id} › Samples · {self.view} {len(self.shown)} of "
            f"{len(self.samples)} ({kept} kept)")
        self._detail()

    def _detail(self) -> None:
        row = self.query_one(DataTable).cursor_row
        box = self.query_one("#sample-detail", Static)
        if not 0 <= row < len(self.shown):
            box.update("no sample matches" if self.samples else "no sample stored")
            return
        s = self.shown[row]
        lines = [f"Q: {s.question}", f"teacher: {s.sql or '—'}", f"gold:    {s.gold_sql}"]
        if not s.kept:
            stage = s.rejected_at or "select"
            detail = f" — {s.detail}" if s.detail else ""
            lines.insert(0, f"rejected at {stage}: {_reason(s, True)}{detail}")
        box.update("\n".join(lines))

    def on_input_changed(self, event: Input.Changed) -> None:
        self.refill()

    def on_resize(self) -> None:
        self.refill()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_one(DataTable).focus()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._detail()

    def action_filter(self) -> None:
        self.query_one(Input).focus()

    def action_escape(self) -> None:
        """Out of the filter box first; from the list, back to the run."""
        if self.focused is self.query_one(Input):
            self.query_one(DataTable).focus()
        else:
            self.app.pop_screen()

    def action_next_view(self) -> None:
        self.view = self.VIEWS[(self.VIEWS.index(self.view) + 1) % len(self.VIEWS)]
        self.refill()


def _reason(sample: SampleOutcome, wide: bool) -> str:
    """Why a sample was dropped: its reason in words and code (wide), or the code alone."""
    if sample.kept:
        return ""
    code = sample.reason or "min_score"
    words = "score below select.min_score" if code == "min_score" else in_words(code)
    return f"{words} ({code})" if wide else code


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
