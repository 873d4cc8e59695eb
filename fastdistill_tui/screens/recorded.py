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
from .reasons import ReasonsScreen
from .run import RunScreen


class RecordedRunScreen(RunScreen):
    NAME = "Stored run"
    HELP = ("A stored run, drawn from its recorded events. d lists its samples, kept and "
            "rejected, with the reason each was dropped; w lists the reasons, and Enter on one "
            "its samples; r resumes a run that did not finish.")
    BINDINGS = [
        Binding("d", "samples", "Samples"),
        Binding("w", "why", "Why dropped"),
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
        if action == "why":
            return bool(self.reasons)
        return True

    def action_samples(self) -> None:
        self.app.push_screen(SamplesScreen(self.run, self.samples()))

    def action_why(self) -> None:
        """The reasons, each stage's; Enter on one lists the samples it dropped."""
        def chosen(choice: tuple[str, str] | None) -> None:
            if choice is not None:
                stage, code = choice
                self.app.push_screen(SamplesScreen(self.run, self.samples(),
                                                   dropped_for=(stage, code)))

        if self.reasons:
            self.app.push_screen(ReasonsScreen(self.reasons), chosen)

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
    #: what v shows next, as the empty view says it
    NEXT_VIEW = {"kept": "the rejected ones", "rejected": "all of them"}
    COLUMNS = ("question", "teacher SQL", "match", "score", "why rejected")
    BINDINGS = [
        Binding("slash", "filter", "Filter"),
        Binding("v", "next_view", "Kept / rejected / all"),
        Binding("escape", "escape", "Back"),
    ]

    def __init__(self, run: RunSummary, samples: list[SampleOutcome],
                 dropped_for: tuple[str, str] | None = None) -> None:
        """dropped_for: (stage, reason code) to list only the samples that stage rejected
        for that reason (the rejected view)."""
        super().__init__()
        self.run = run
        self.dropped_for = dropped_for
        self.samples = samples if dropped_for is None else [
            s for s in samples if not s.kept and (s.dropped_at, s.reason_code) == dropped_for]
        self.view = "kept" if dropped_for is None else "rejected"
        self.shown: list[SampleOutcome] = []

    def compose(self) -> ComposeResult:
        yield Static(id="samples-title")
        yield Input(placeholder="/ filters: question, SQL, reason …", id="samples-filter")
        yield DataTable(id="samples", cursor_type="row", zebra_stripes=True)
        yield Static(id="sample-detail")
        yield Footer()

    def on_mount(self) -> None:
        self.refill()
        self.query_one(DataTable).focus()

    def matching(self) -> list[SampleOutcome]:
        words = self.query_one(Input).value.lower().split()
        wanted = {"kept": lambda s: s.kept, "rejected": lambda s: not s.kept,
                  "all": lambda s: True}[self.view]
        return [s for s in self.samples if wanted(s)
                and all(w in f"{s.question} {s.sql or ''} {s.why()} {_reason(s, True)}".lower()
                        for w in words)]

    def refill(self, row: int = 0) -> None:
        """The rows of the view at the screen's width, the cursor on `row`; the columns are
        made again too, as a cleared table keeps their widths (at 80 columns after 120, the
        last three were off the screen)."""
        table = self.query_one(DataTable)
        table.clear(columns=True)
        for header in self.COLUMNS:
            table.add_column(header, key=header)
        self.shown = self.matching()
        # 80 columns: every column shows, shorter; the detail below has it all
        q, sql = (40, 36) if self.size.width >= 110 or not self.size.width else (22, 18)
        room = self._room_for_reason(table, [q, sql, len("exec ok"), len("score")])
        words = all(len(_reason(s, True)) <= room for s in self.shown)
        table.add_rows([[_clip(s.question, q), _clip(s.sql or "—", sql),
                         _verdict(s),
                         f"{s.score:.2f}", _reason(s, words)] for s in self.shown])
        if self.shown:
            table.move_cursor(row=min(row, len(self.shown) - 1))
        self._title()
        self._detail()

    def _room_for_reason(self, table: DataTable, widths: list[int]) -> int:
        """Columns left for the reason: the screen's width less the other columns, each
        column's padding and the scrollbar (before the first layout: room for any)."""
        if not self.size.width:
            return 1_000
        pad = 2 * table.cell_padding
        used = sum(width + pad for width in widths) + pad + table.styles.scrollbar_size_vertical
        return self.size.width - used

    def _title(self) -> None:
        kept = sum(s.kept for s in self.samples)
        filtered = self.query_one(Input).value.strip()
        showing = f"{self.view} matching “{filtered}”" if filtered else self.view
        if self.dropped_for is not None:
            stage, code = self.dropped_for
            title = (f"{self.run.run_id} › Samples · dropped at {stage} for {code}: "
                     f"{len(self.samples)} · showing {showing}: {len(self.shown)}")
        else:
            title = (f"{self.run.run_id} › Samples · {len(self.samples)} stored, {kept} kept · "
                     f"showing {showing}: {len(self.shown)}")
        if not self.size.width or len(title) + len("Runs › ") <= self.size.width - 2:
            title = f"Runs › {title}"  # the trail, where it fits
        self.query_one("#samples-title", Static).update(title)

    def _detail(self) -> None:
        row = self.query_one(DataTable).cursor_row
        box = self.query_one("#sample-detail", Static)
        if not 0 <= row < len(self.shown):
            box.update(self._nothing_shown())
            return
        s = self.shown[row]
        gold = s.gold_sql or "— (none: checked by agreement of the teacher's answers)"
        lines = [f"Q: {s.question}", f"teacher: {s.sql or '—'}", f"gold:    {gold}"]
        if not s.kept:
            detail = f" — {s.detail}" if s.detail else ""
            lines.insert(0, f"rejected at {s.dropped_at}: {_reason(s, True)}{detail}")
        box.update("\n".join(lines))

    def _nothing_shown(self) -> str:
        """Why the list is empty, and the key that shows something."""
        if not self.samples:
            return "no sample stored"
        kind = "" if self.view == "all" else f"{self.view} "
        filtered = self.query_one(Input).value.strip()
        if filtered:
            return f"no {kind}sample matches “{filtered}”"
        return f"no {kind}sample — v shows {self.NEXT_VIEW[self.view]}"

    def on_input_changed(self, event: Input.Changed) -> None:
        self.refill()

    def on_resize(self) -> None:
        self.refill(self.query_one(DataTable).cursor_row)

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


def _verdict(sample: SampleOutcome) -> str:
    """The match column: the gold's verdict, or agreement's where there is no gold SQL (the
    column is `len("exec ok")` wide)."""
    if sample.gold_match:
        return "match"
    if sample.agreed:
        return "agreed"
    return "exec ok" if sample.exec_ok else "no"


def _reason(sample: SampleOutcome, words: bool) -> str:
    """Why a sample was dropped: its reason in words and code, or the code alone."""
    if sample.kept:
        return ""
    code = sample.reason_code
    said = "score below select.min_score" if code == "min_score" else in_words(code)
    return f"{said} ({code})" if words else code


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
