"""Home: every stored run, newest first. `/` filters (every key then goes to the filter, Esc
leaves it), s and S sort from the keyboard (or click a column), Enter opens a run, r resumes an
unfinished one, Space marks runs and c compares the two marked, y copies a run's directory,
Del deletes a run after asking. The list reloads when the screen is shown again and every few
seconds while a run it lists is live."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from ..core.run_index import RunSummary
from ..run_state import status_word
from .confirm import ConfirmScreen

NONE = "—"


def _rate_pair(run: RunSummary) -> str:
    """exec/gold; gold is — for a run whose questions have no gold SQL."""
    if run.exec_rate is None:
        return NONE
    gold = NONE if run.gold_rate is None else f"{run.gold_rate:.2f}"
    return f"{run.exec_rate:.2f}/{gold}"


def _student_rates(run: RunSummary) -> str:
    """Gold-match before → after training; a phase not (yet) evaluated shows as —."""
    if run.student_pre is None and run.student_post is None:
        return NONE
    pre = NONE if run.student_pre is None else f"{run.student_pre:.2f}"
    post = NONE if run.student_post is None else f"{run.student_post:.2f}"
    return f"{pre}→{post}"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


Column = tuple[str, Callable[[RunSummary], str], Callable[[RunSummary], Any]]

#: (header, what the cell shows, what the column sorts by); sized so that every column shows
#: at 120 columns, with the full names on the run's own screen
COLUMNS: list[Column] = [
    ("date", lambda r: time.strftime("%m-%d %H:%M", time.localtime(r.created_at)),
     lambda r: r.created_at),
    ("status", lambda r: _clip(status_word(r.status), 11), lambda r: status_word(r.status)),
    ("dataset", lambda r: _clip(r.dataset, 14), lambda r: r.dataset),
    ("teacher", lambda r: _clip(r.teacher, 14), lambda r: r.teacher),
    ("student", lambda r: _clip(r.student or NONE, 10), lambda r: r.student),
    ("kept/samples", lambda r: f"{r.kept}/{r.samples}", lambda r: (r.samples, r.kept)),
    ("exec/gold", _rate_pair, lambda r: (r.exec_rate or 0.0, r.gold_rate or 0.0)),
    ("pre→post", _student_rates, lambda r: (r.student_post or 0.0, r.student_pre or 0.0)),
    ("cost", lambda r: f"${r.cost:.4f}", lambda r: r.cost),
]
#: what fits 80 columns
NARROW = ("date", "status", "dataset", "teacher", "kept/samples", "cost")
WIDE_FROM = 110


class RunsTable(DataTable):
    """The runs; Enter opens the highlighted one (and says so in the footer)."""

    BINDINGS = [Binding("enter", "select_cursor", "Open")]


class HomeScreen(Screen):
    NAME = "Runs"
    HELP = ("The runs in the store, newest first. Filter with /, then type: every key goes to "
            "the filter until Esc or Enter. Mark two runs with Space and press c to compare.")
    BINDINGS = [
        Binding("r", "resume", "Resume"),
        Binding("slash", "filter", "Filter"),
        Binding("s", "sort", "Sort"),
        Binding("S", "reverse", "Reverse the order", show=False),
        Binding("space", "mark", "Mark"),
        Binding("c", "compare", "Compare"),
        Binding("n", "app.new_run", "New run"),
        # in the help (?), not the footer: 80 columns hold the keys above
        Binding("y", "copy_path", "Copy the run's directory", show=False),
        Binding("delete,x", "delete", "Delete the run (asks first)", show=False),
        Binding("comma", "app.settings", "Settings", show=False),
        Binding("escape", "leave_filter", "Leave filter", show=False),
        Binding("q", "app.quit_when_done", "Quit"),
    ]
    REFRESH_S = 2.0  # while a run it lists is live

    def __init__(self, load: Callable[[], list[RunSummary]], *,
                 open_run: Callable[[RunSummary], None],
                 compare: Callable[[RunSummary, RunSummary], None],
                 resume: Callable[[RunSummary], None],
                 delete: Callable[[RunSummary], None],
                 run_dir: Callable[[RunSummary], str],
                 live_run: Callable[[], str | None] = lambda: None,
                 started_here: Callable[[], str | None] = lambda: None) -> None:
        """live_run: the run going in this app; started_here: the last run it started (the
        cursor goes to it when it first shows in the list)."""
        super().__init__()
        self.load = load
        self.runs = load()
        self.open_run, self.compare, self.resume = open_run, compare, resume
        self.delete, self.run_dir, self.live_run = delete, run_dir, live_run
        self.started_here = started_here
        self.sort_column = 0
        self.sort_reverse = True  # newest first
        self.marked: list[str] = []
        self.shown: list[RunSummary] = []
        self._was_live = False

    def compose(self) -> ComposeResult:
        yield Static(id="home-title")
        yield Input(placeholder="/ filters: status, dataset, teacher, run id …",
                    id="home-filter", select_on_focus=False)
        yield RunsTable(id="runs", cursor_type="row", zebra_stripes=True)
        yield Static(id="home-empty")
        yield Footer(compact=True)

    @property
    def columns(self) -> list[Column]:
        """The columns that fit the screen's width."""
        if self.size.width and self.size.width < WIDE_FROM:
            return [c for c in COLUMNS if c[0] in NARROW]
        return COLUMNS

    def _set_columns(self) -> None:
        table = self.query_one(DataTable)
        names = [c[0] for c in self.columns]
        if [str(c.label) for c in table.ordered_columns[1:]] == names:
            return
        table.clear(columns=True)
        table.add_column(" ", key="mark", width=1)
        for name in names:
            table.add_column(name, key=name)

    def on_resize(self) -> None:
        self._set_columns()
        self.refill()

    def on_mount(self) -> None:
        self._set_columns()
        self.refill()
        self.query_one(DataTable).focus()
        self.set_interval(self.REFRESH_S, self._refresh_while_live)

    def on_screen_resume(self) -> None:
        self.reload()

    def _refresh_while_live(self) -> None:
        """Every REFRESH_S while a run goes, and once more after it ended (its final
        status)."""
        live = self.live_run()
        if self.is_current and (live is not None or self._was_live):
            self.reload()
        self._was_live = live is not None

    def reload(self) -> None:
        """Read the store again, keeping the cursor on the same run, or on a run started
        since (the one going)."""
        current = self.highlighted()
        before = {r.run_id for r in self.runs}
        self.runs = self.load()
        ids = {r.run_id for r in self.runs}
        self.marked = [m for m in self.marked if m in ids]
        self.refill()
        started = self.started_here()
        target = started if started in ids - before else (
            current.run_id if current is not None else None)
        if target is not None:
            row = next((i for i, r in enumerate(self.shown) if r.run_id == target), 0)
            self.query_one(DataTable).move_cursor(row=row)

    # -- the list ---------------------------------------------------------------------------
    def matching(self) -> list[RunSummary]:
        words = self.query_one(Input).value.lower().split()
        runs = [r for r in self.runs
                if all(w in f"{r.run_id} {r.status} {status_word(r.status)} {r.dataset} "
                            f"{r.teacher}".lower()
                       for w in words)]
        sort_key = COLUMNS[self.sort_column][2]  # sorting by a column not shown stays
        return sorted(runs, key=sort_key, reverse=self.sort_reverse)

    def refill(self) -> None:
        table = self.query_one(DataTable)
        row = table.cursor_row
        table.clear()
        self.shown = self.matching()
        columns = self.columns
        table.add_rows([["*" if r.run_id in self.marked else " ",
                         *(cell(r) for _, cell, _ in columns)] for r in self.shown])
        if self.shown:
            table.move_cursor(row=min(row, len(self.shown) - 1))
        arrow = "↓" if self.sort_reverse else "↑"
        marked = f" · marked {len(self.marked)}/2" if self.marked else ""
        self.query_one("#home-title", Static).update(
            f"Runs · {len(self.shown)} of {len(self.runs)} · sorted by "
            f"{COLUMNS[self.sort_column][0]} {arrow}{marked}")
        filtered = self.query_one(Input).value.strip()
        empty = self.query_one("#home-empty", Static)
        empty.update(f"no run matches “{filtered}” — Esc clears the filter"
                     if filtered and not self.shown else "")
        empty.display = bool(filtered and not self.shown)
        self.refresh_bindings()

    def highlighted(self) -> RunSummary | None:
        row = self.query_one(DataTable).cursor_row
        return self.shown[row] if 0 <= row < len(self.shown) else None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The footer offers a run's keys only where a run is highlighted and they apply."""
        run = self.highlighted()
        if action in ("open", "mark", "copy_path", "delete"):
            return run is not None
        if action == "resume":
            return run is not None and run.unfinished and run.run_id != self.live_run()
        if action == "compare":
            return len(self.marked) == 2
        return True

    # -- events -----------------------------------------------------------------------------
    def on_input_changed(self, event: Input.Changed) -> None:
        self.refill()
        self.refresh_bindings()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_one(DataTable).focus()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        index = event.column_index - 1  # the mark column first
        if index >= 0:
            self.sort_by(COLUMNS.index(self.columns[index]))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.refresh_bindings()

    def sort_by(self, index: int) -> None:
        """A column's first choice sorts it ascending, the same column again reverses."""
        if index == self.sort_column:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_column, self.sort_reverse = index, False
        self.refill()

    # -- actions ----------------------------------------------------------------------------
    def action_open(self) -> None:
        run = self.highlighted()
        if run is not None:
            self.open_run(run)

    def action_resume(self) -> None:
        run = self.highlighted()
        if run is not None and run.unfinished:
            self.resume(run)

    def action_sort(self) -> None:
        """The next column, ascending (s); S reverses the order."""
        self.sort_column = (self.sort_column + 1) % len(COLUMNS)
        self.sort_reverse = False
        self.refill()

    def action_reverse(self) -> None:
        self.sort_reverse = not self.sort_reverse
        self.refill()

    def action_mark(self) -> None:
        run = self.highlighted()
        if run is None:
            return
        if run.run_id in self.marked:
            self.marked.remove(run.run_id)
        elif len(self.marked) == 2:
            self.notify(f"two runs are marked already: Space on {self.marked[0]} or "
                        f"{self.marked[1]} unmarks it", timeout=4)
            return
        else:
            self.marked.append(run.run_id)
        self.refill()
        self.refresh_bindings()

    def action_compare(self) -> None:
        if len(self.marked) != 2:
            self.notify("mark two runs with Space, then c compares them", timeout=3)
            return
        by_id = {r.run_id: r for r in self.runs}
        self.compare(by_id[self.marked[0]], by_id[self.marked[1]])

    def action_copy_path(self) -> None:
        run = self.highlighted()
        if run is None:
            return
        path = self.run_dir(run)
        self.app.copy_to_clipboard(path)
        self.notify(f"copied: {path}", timeout=4)

    def action_delete(self) -> None:
        run = self.highlighted()
        if run is None:
            return
        if run.run_id == self.live_run():
            self.notify("this run is in progress: stop it first", severity="warning", timeout=4)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.delete(run)
                self.notify(f"deleted run {run.run_id}", timeout=3)
                self.reload()

        self.app.push_screen(ConfirmScreen(
            f"Delete run {run.run_id} ({status_word(run.status)}, {run.samples} samples, "
            f"{run.kept} kept)?\n"
            f"Its results and its directory go: {self.run_dir(run)}\n"
            "Teacher answers stay cached for other runs.", "Delete run"), answered)

    def action_filter(self) -> None:
        self.query_one(Input).focus()

    def action_leave_filter(self) -> None:
        """Esc: out of the filter box first, which keeps a filter that matches runs and clears
        one that matches none (as the line under it says); on the list, clears the filter."""
        box = self.query_one(Input)
        if self.focused is box:
            if box.value and not self.shown:
                box.value = ""
            self.query_one(DataTable).focus()
        elif box.value:
            box.value = ""
