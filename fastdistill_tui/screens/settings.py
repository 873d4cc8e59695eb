"""Settings: the config file as a form, one group a section (`[teacher]`, `[eval]`, …), each
key with what it means beside it; a switch for a yes/no key, a choice for a key with a fixed
set of values, text for the rest. Ctrl+S saves what changed (core/settings_file.py, keeping the
file's comments); a bad value is refused with the key's name, as `fastdistill run` would refuse
it. Esc asks before dropping unsaved changes.

The descriptions are the comments beside each field in core/config.py, read from its source, so
they are written once."""

from __future__ import annotations

import inspect
import re
from functools import cache
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Label, Select, Static, Switch

from ..core import config as cfg
from ..core.errors import FastDistillError
from ..core.settings_file import current_values, save_settings, setting_types
from ..widgets.format import in_app, plural

FIELD_COMMENT = re.compile(r"^\s+(\w+): [^#]*?#\s*(.+)$")
CHOICE = re.compile(r"^\w+$")


@cache
def descriptions() -> dict[str, str]:
    """field name in its dataclass → the comment beside it in core/config.py."""
    found: dict[str, str] = {}
    for _, cls in inspect.getmembers(cfg, inspect.isclass):
        if cls.__module__ != cfg.__name__ or not hasattr(cls, "__dataclass_fields__"):
            continue
        for line in inspect.getsource(cls).splitlines():
            match = FIELD_COMMENT.match(line)
            if match:
                found[f"{cls.__name__}.{match.group(1)}"] = match.group(2).strip()
    return found


@cache
def owners() -> dict[str, str]:
    """dotted setting name → "ClassName.field" (where its comment lives)."""
    out: dict[str, str] = {}

    def walk(obj: object, prefix: str) -> None:
        for name, value in vars(obj).items():
            if hasattr(value, "__dataclass_fields__"):
                walk(value, f"{prefix}{name}.")
            else:
                out[f"{prefix}{name}"] = f"{type(obj).__name__}.{name}"

    walk(cfg.Config(), "")
    return out


#: what the keys that have no comment in core/config.py mean
MEANINGS = {
    "run.override_gates": "gates to continue past when they fail (e.g. teacher_eval)",
    "teacher.concurrency": f"requests in flight (1 to {cfg.MAX_CONCURRENCY})",
    "teacher.timeout_s": "seconds before a request is given up and retried",
    "teacher.max_retries": "retries of a failed request (429, 5xx, timeouts)",
    "teacher.temperature": "sampling temperature; 0 = deterministic",
    "teacher.max_tokens": "answer length cap in tokens",
    "teacher.disable_thinking": "ask reasoning models to skip their thinking",
    "teacher.price_out_per_m": "USD per 1M answer tokens; 0 = provider-reported cost",
    "eval.row_cap": "rows read per query result",
    "eval.float_tol": "tolerance when comparing numbers in results",
    "eval.cache_gold_results": "keep each gold query's result in memory",
    "eval.max_cached_gold": "gold results kept in memory",
    "gates.teacher_eval.enabled": "check the teacher's answers before paying for them all",
    "gates.teacher_eval.min_total": "answers the early check waits for",
    "gates.teacher_eval.exec_pass_rate": "share of answers that must run (0 to 1)",
    "gates.teacher_eval.gold_match_rate": "share that must match the gold result (0 to 1)",
    "gates.teacher_eval.judge_mean": "mean judge score needed (0 to 1)",
    "select.valid_fraction": "share of the kept samples held out for validation",
    "student.enabled": "train and evaluate a student after the export",
    "student.iters": "training iterations; 0 = the profile's",
    "student.batch_size": "training batch; 0 = the profile's",
    "student.learning_rate": "0 = the profile's",
    "student.lora_rank": "LoRA rank; 0 = the profile's",
    "student.max_seq_length": "tokens per training example; 0 = the profile's",
    "student.steps_per_eval": "iterations between validation losses; 0 = the profile's",
    "student.save_every": "iterations between checkpoints; 0 = the profile's",
}


def describe(name: str) -> str:
    return descriptions().get(owners().get(name, ""), "") or MEANINGS.get(name, "")


def choices(name: str) -> list[str]:
    """The fixed values of a key whose comment lists them as `a | b | c` (else none)."""
    text = describe(name)
    if "|" not in text:
        return []
    options = [re.sub(r"\s*\(.*", "", part).strip() for part in text.split("|")]
    return options if all(CHOICE.match(o) for o in options) else []


class SettingsScreen(Screen):
    NAME = "Settings"
    HELP = ("The config file as a form, one group a section: Tab moves between settings, "
            "Space flips a switch, Enter opens a choice, Ctrl+S saves what changed (the "
            "file's comments stay). A bad value is refused with the key's name.")
    BINDINGS = [
        Binding("ctrl+s", "save", "Save", priority=True),
    ]
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.saved = current_values(path)
        self.types = setting_types()

    def compose(self) -> ComposeResult:
        yield Static(f"Runs › Settings · {self.path}", id="settings-title")
        with VerticalScroll(id="settings-form"):
            section = None
            for name, value in self.saved.items():
                group, _, key = name.rpartition(".")
                if group != section:
                    section = group
                    yield Static(f"[{group}]", classes="settings-section", markup=False)
                with Horizontal(classes="setting"):
                    yield Label(key, classes="setting-name")
                    yield self._widget(name, value)
                    if self.types[name] is bool:  # NO_COLOR draws a switch blank: say it
                        yield Label(_on_off(value == "true"), id=f"{_input_id(name)}-state",
                                    classes="switch-state")
                    yield Label(describe(name), classes="setting-about")
        yield Static("", id="settings-status")
        with Horizontal(id="settings-buttons"):
            yield Button("Save", id="save", variant="primary", compact=True)
        yield Footer()

    def _widget(self, name: str, value: str) -> Input | Switch | Select:
        if self.types[name] is bool:
            return Switch(value == "true", id=_input_id(name), classes="setting-value")
        options = choices(name)
        if options and value in options:
            return Select([(o, o) for o in options], value=value, allow_blank=False,
                          id=_input_id(name), classes="setting-value", compact=True)
        return Input(value, id=_input_id(name), classes="setting-value")

    def values(self) -> dict[str, str]:
        out = {}
        for name in self.saved:
            widget = self.query_one(f"#{_input_id(name)}")
            if isinstance(widget, Switch):
                out[name] = "true" if widget.value else "false"
            else:
                out[name] = str(widget.value)
        return out

    def on_switch_changed(self, event: Switch.Changed) -> None:
        self.query_one(f"#{event.switch.id}-state", Label).update(_on_off(event.value))

    def would_lose(self) -> str:
        changed = [k for k, v in self.values().items() if v != self.saved[k]]
        return f"{plural(len(changed), 'setting')} changed and not saved." if changed else ""

    def action_save(self) -> None:
        changed = {k: v for k, v in self.values().items() if v != self.saved[k]}
        status = self.query_one("#settings-status", Static)
        try:
            save_settings(self.path, changed)
        except FastDistillError as exc:
            status.update(f"error: {in_app(str(exc))}")
            status.set_class(True, "-error")
            return
        self.saved = current_values(self.path)
        status.set_class(False, "-error")
        status.update(f"saved {plural(len(changed), 'setting')} to {self.path}")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self.action_save()


def _on_off(value: bool) -> str:
    return "on" if value else "off"


def _input_id(name: str) -> str:
    return "set-" + name.replace(".", "--")


