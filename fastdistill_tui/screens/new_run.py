"""New run: the options of `fastdistill run` as a form. Start checks them exactly as the command
line does (the same parser and config checks, so the same message) and opens the dashboard.
The teacher's key is read from the environment when the run starts: the form neither shows
nor saves it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Label, Select, Static

from ..core.config import MAX_CONCURRENCY
from ..core.errors import FastDistillError
from ..widgets.format import in_app, plural

DATASET_KINDS = ("bundled", "wikisql", "spider", "jsonl")
#: (field, label, placeholder): the form's text fields, each a `fastdistill run` option
FIELDS = [
    ("dataset_path", "dataset path", "DIR or FILE (not for bundled)"),
    ("limit", "limit", "N samples across the databases; 0 = all"),
    ("teacher", "teacher", "builtin, openai:M, ollama:M, mlx:DIR, …"),
    ("base_url", "base URL", "openai/ollama server (empty: provider's)"),
    ("concurrency", "concurrency", "teacher requests in flight"),
    ("student", "student", "smollm2, a dir, an HF id, or none"),
]
GATE_FIELDS = ("min_total", "exec_pass_rate", "gold_match_rate", "judge_mean")
TEACHER_KINDS = ("builtin", "openai:", "openrouter:", "ollama:", "mlx:")


def _whole(text: str, low: int, high: int | None = None) -> str:
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < low or (high is not None and value > high):
        return (f"must be a whole number from {low} to {high}" if high is not None
                else f"must be a whole number, {low} or more")
    return ""


def _fraction(text: str) -> str:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    return "" if 0.0 <= value <= 1.0 else "must be a number from 0 to 1"


def field_error(field: str, text: str, kind: str) -> str:
    """What is wrong with one field of the form ("" when nothing), in one wording: what it
    must be. Empty optional fields take the config's value."""
    if field == "dataset_path":
        if kind == "bundled":
            return "" if not text else "the bundled set has no path: leave it empty"
        if not text:
            return f"a {kind} dataset needs its path"
        return "" if Path(text).expanduser().exists() else f"no such file or directory: {text}"
    if not text:
        return ""
    if field in ("limit", "gate-min_total"):
        return _whole(text, 0)
    if field == "concurrency":
        return _whole(text, 1, MAX_CONCURRENCY)
    if field.startswith("gate-"):
        return _fraction(text)
    if field == "base_url" and not text.startswith(("http://", "https://")):
        return "must start with http:// or https://"
    if field == "teacher" and not (text == "builtin" or text.startswith(TEACHER_KINDS[1:])):
        return "must be builtin, openai:MODEL, openrouter:MODEL, ollama:MODEL or mlx:PATH"
    return ""


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
                yield Static("", id=f"{field}-error", classes="field-error")
            for gate in GATE_FIELDS:
                with Horizontal(classes="setting"):
                    yield Label(f"gate {gate}", classes="setting-name")
                    yield Input(placeholder="from the config", id=f"gate-{gate}",
                                classes="setting-value")
                yield Static("", id=f"gate-{gate}-error", classes="field-error")
        yield Static("", id="new-run-status")
        with Horizontal(id="new-run-buttons"):
            yield Button("Start", id="start", variant="primary", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#dataset_kind").focus()  # Tab then walks the fields in order

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
        return f"The form has {plural(len(typed), 'field')} filled in." if typed else ""

    def gates(self) -> dict[str, str]:
        return {g: self._text(f"gate-{g}") for g in GATE_FIELDS if self._text(f"gate-{g}")}

    def _text(self, field: str) -> str:
        return self.query_one(f"#{field}", Input).value.strip()

    def field_names(self) -> list[str]:
        return [f for f, _, _ in FIELDS] + [f"gate-{g}" for g in GATE_FIELDS]

    def check(self, only: str | None = None) -> int:
        """Mark each field's problem beside it; the number of fields with one."""
        kind = str(self.query_one("#dataset_kind", Select).value)
        bad = 0
        for field in self.field_names():
            if only is not None and field != only:
                continue
            error = field_error(field, self._text(field), kind)
            box = self.query_one(f"#{field}-error", Static)
            box.update(f"↑ {error}" if error else "")
            box.display = bool(error)
            bad += bool(error)
        return bad

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id:
            self.check(event.input.id)

    def on_select_changed(self, event: Select.Changed) -> None:
        self.check("dataset_path")

    def action_start(self) -> None:
        status = self.query_one("#new-run-status", Static)
        status.set_class(True, "-error")
        bad = self.check()
        if bad:
            marks = "the mark under it" if bad == 1 else "the marks under them"
            status.update(f"{plural(bad, 'field')} to fix: see {marks}")
            return
        try:
            self.start(self.argv(), self.gates())
        except FastDistillError as exc:
            status.update(f"error: {in_app(str(exc))}")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "start":
            self.action_start()
