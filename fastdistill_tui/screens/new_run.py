"""New run: the options of `fastdistill run` as a form. Start checks them exactly as the command
line does (the same parser and config checks, so the same message) and opens the dashboard.
The teacher's key is read from the environment when the run starts: the form neither shows
nor saves it."""

from __future__ import annotations

from collections.abc import Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Label, Select, Static

from ..core.errors import FastDistillError

DATASET_KINDS = ("bundled", "wikisql", "spider", "jsonl")
#: (field, label, placeholder): the form's text fields, each a `fastdistill run` option
FIELDS = [
    ("dataset_path", "dataset path", "DIR or FILE (not for bundled)"),
    ("limit", "limit", "first N samples (empty: all)"),
    ("teacher", "teacher", "builtin | openai:MODEL | openrouter:MODEL | ollama:MODEL | mlx:PATH"),
    ("base_url", "base URL", "server URL for openai/ollama (empty: the provider's)"),
    ("concurrency", "concurrency", "teacher requests in flight"),
    ("student", "student", "smollm2 | model dir | HF id; none: no student (empty: config)"),
]
GATE_FIELDS = ("min_total", "exec_pass_rate", "gold_match_rate", "judge_mean")


class NewRunScreen(Screen):
    NAME = "New run"
    HELP = ("The options of `fastdistill run` as a form; Tab moves between fields, Ctrl+S "
            "starts. Empty fields take the config file's value.")
    BINDINGS = [
        Binding("ctrl+s", "start", "Start", priority=True),
    ]

    def __init__(self, start: Callable[[list[str], dict[str, str]], None]) -> None:
        """start(argv, gate thresholds) raises FastDistillError for input it refuses."""
        super().__init__()
        self.start = start

    def compose(self) -> ComposeResult:
        yield Static("Runs › New run · the key comes from the environment (never shown or "
                     "saved)", id="new-run-title")
        with VerticalScroll(id="new-run-form"):
            with Horizontal(classes="setting -select"):
                yield Label("dataset kind", classes="setting-name")
                yield Select([(k, k) for k in DATASET_KINDS], value="bundled",
                             allow_blank=False, id="dataset_kind", classes="setting-value")
            for field, label, placeholder in FIELDS:
                with Horizontal(classes="setting"):
                    yield Label(label, classes="setting-name")
                    yield Input(placeholder=placeholder, id=field, classes="setting-value")
            for gate in GATE_FIELDS:
                with Horizontal(classes="setting"):
                    yield Label(f"gate {gate}", classes="setting-name")
                    yield Input(placeholder="from the config", id=f"gate-{gate}",
                                classes="setting-value")
        yield Static("", id="new-run-status")
        with Horizontal(id="new-run-buttons"):
            yield Button("Start", id="start", variant="primary")
        yield Footer()

    def argv(self) -> list[str]:
        """The form as `fastdistill run` options."""
        kind = self.query_one("#dataset_kind", Select).value
        path = self._text("dataset_path")
        argv = ["--dataset", "bundled" if kind == "bundled" else f"{kind}:{path}"]
        for field, option in (("limit", "--limit"), ("teacher", "--teacher"),
                              ("base_url", "--base-url"), ("concurrency", "--concurrency")):
            if self._text(field):
                argv += [option, self._text(field)]
        student = self._text("student")
        if student.lower() == "none":
            argv.append("--no-student")
        elif student:
            argv += ["--student", student]
        return argv

    def would_lose(self) -> str:
        """What Esc would drop: the fields typed in."""
        typed = [f for f, _, _ in FIELDS if self._text(f)] + [
            g for g in GATE_FIELDS if self._text(f"gate-{g}")]
        return f"The form has {len(typed)} field(s) filled in." if typed else ""

    def gates(self) -> dict[str, str]:
        return {g: self._text(f"gate-{g}") for g in GATE_FIELDS if self._text(f"gate-{g}")}

    def _text(self, field: str) -> str:
        return self.query_one(f"#{field}", Input).value.strip()

    def action_start(self) -> None:
        status = self.query_one("#new-run-status", Static)
        try:
            self.start(self.argv(), self.gates())
        except FastDistillError as exc:
            status.update(f"error: {exc}")
            status.set_class(True, "-error")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "start":
            self.action_start()
