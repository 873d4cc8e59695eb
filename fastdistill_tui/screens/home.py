"""Home: every stored run, newest first; type to filter, click a column to sort, Enter opens a
run, Space marks runs and c compares the two marked."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from ..core.run_index import RunSummary
from ..widgets.format import format_seconds

NONE = "—"


def _rate_pair(run: RunSummary) -> str:
    if run.exec_rate is None or run.gold_rate is None:
        return NONE
    return f"{run.exec_rate:.2f}/{run.gold_rate:.2f}"


def _student_rates(run: RunSummary) -> str:
    """Gold-match before → after training; a phase not (yet) evaluated shows as —."""
    if run.student_pre is None and run.student_post is None:
        return NONE
    pre = NONE if run.student_pre is None else f"{run.student_pre:.2f}"
    post = NONE if run.student_post is None else f"{run.student_post:.2f}"
    return f"{pre}→{post}"


def _wall(run: RunSummary) -> str:
    return NONE if run.wall_s is None else format_seconds(run.wall_s)


#: (header, what the cell shows, what the column sorts by)
COLUMNS: list[tuple[str, Callable[[RunSummary], str], Callable[[RunSummary], Any]]] = [
    ("date", lambda r: time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created_at)),
     lambda r: r.created_at),
    ("status", lambda r: r.status, lambda r: r.status),
    ("dataset", lambda r: r.dataset, lambda r: r.dataset),
    ("teacher", lambda r: r.teacher, lambda r: r.teacher),
    ("student", lambda r: r.student or NONE, lambda r: r.student),
    ("samples", lambda r: str(r.samples), lambda r: r.samples),
    ("kept", lambda r: str(r.kept), lambda r: r.kept),
    ("exec/gold", _rate_pair, lambda r: (r.exec_rate or 0.0, r.gold_rate or 0.0)),
    ("pre→post", _student_rates, lambda r: (r.student_post or 0.0, r.student_pre or 0.0)),
    ("wall", _wall, lambda r: r.wall_s or 0.0),
    ("cost", lambda r: f"${r.cost:.4f}", lambda r: r.cost),
]


class HomeScreen(Screen):
    KEYS = "cnq"  # the letters bound below, which typing on the list does not take
    BINDINGS = [
        Binding("enter", "open", "Open", show=True),
        Binding("space", "mark", "Mark"),
        Binding("c", "compare", "Compare marked"),
        Binding("slash", "filter", "Filter"),
        Binding("n", "app.new_run", "New run"),
        Binding("comma", "app.settings", "Settings"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, runs: list[RunSummary],
                 open_run: Callable[[RunSummary], None],
                 compare: Callable[[RunSummary, RunSummary], None]) -> None:
        super().__init__()
        self.runs = runs
        self.open_run = open_run
        self.compare = compare
        self.sort_column = 0
        self.sort_reverse = True  # newest first
        self.marked: list[str] = []
        self.shown: list[RunSummary] = []

    def compose(self) -> ComposeResult:
        yield Static(id="home-title")
        yield Input(placeholder="type to filter: status, dataset, teacher, run id …",
                    id="home-filter", select_on_focus=False)
        yield DataTable(id="runs", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_column(" ", key="mark", width=1)
        for header, _, _ in COLUMNS:
            table.add_column(header, key=header)
        self.refill()
        table.focus()

    # -- the list ---------------------------------------------------------------------------
    def matching(self) -> list[RunSummary]:
        words = self.query_one(Input).value.lower().split()
        runs = [r for r in self.runs
                if all(w in f"{r.run_id} {r.status} {r.dataset} {r.teacher}".lower()
                       for w in words)]
        sort_key = COLUMNS[self.sort_column][2]
        return sorted(runs, key=sort_key, reverse=self.sort_reverse)

    def refill(self) -> None:
        table = self.query_one(DataTable)
        table.clear()
        self.shown = self.matching()
        table.add_rows(
            [["*" if r.run_id in self.marked else " ", *(cell(r) for _, cell, _ in COLUMNS)]
             for r in self.shown])
        arrow = "↓" if self.sort_reverse else "↑"
        marked = f" · marked {len(self.marked)}/2" if self.marked else ""
        self.query_one("#home-title", Static).update(
            f"FastDistill · {len(self.shown)} of {len(self.runs)} runs · sorted by "
            f"{COLUMNS[self.sort_column][0]} {arrow}{marked}")

    def highlighted(self) -> RunSummary | None:
        row = self.query_one(DataTable).cursor_row
        return self.shown[row] if 0 <= row < len(self.shown) else None

    # -- events -----------------------------------------------------------------------------
    def on_input_changed(self, event: Input.Changed) -> None:
        self.refill()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_one(DataTable).focus()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        index = event.column_index - 1  # the mark column first
        if index < 0:
            return
        if index == self.sort_column:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_column, self.sort_reverse = index, False
        self.refill()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    def on_key(self, event: events.Key) -> None:
        """Typing on the list filters it: a letter or digit that is not a key of the list goes
        to the filter box."""
        table = self.query_one(DataTable)
        if (self.focused is table and event.is_printable and event.character
                and event.character.isalnum() and event.character not in self.KEYS):
            box = self.query_one(Input)
            box.focus()
            box.insert_text_at_cursor(event.character)
            event.stop()

    # -- actions ----------------------------------------------------------------------------
    def action_open(self) -> None:
        run = self.highlighted()
        if run is not None:
            self.open_run(run)

    def action_mark(self) -> None:
        run = self.highlighted()
        if run is None:
            return
        if run.run_id in self.marked:
            self.marked.remove(run.run_id)
        else:
            self.marked = (self.marked + [run.run_id])[-2:]
        row = self.query_one(DataTable).cursor_row
        self.refill()
        self.query_one(DataTable).move_cursor(row=row)

    def action_compare(self) -> None:
        if len(self.marked) != 2:
            self.notify("mark two runs with Space, then c compares them", timeout=3)
            return
        by_id = {r.run_id: r for r in self.runs}
        self.compare(by_id[self.marked[0]], by_id[self.marked[1]])

    def action_filter(self) -> None:
        self.query_one(Input).focus()

    def action_clear_filter(self) -> None:
        self.query_one(Input).value = ""
        self.query_one(DataTable).focus()
