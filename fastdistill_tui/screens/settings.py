"""Settings: the config file as a form. Ctrl+S saves what changed (core/settings_file.py); a
bad value is refused with the key's name, as `fastdistill run` would refuse it."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Label, Static

from ..core.errors import FastDistillError
from ..core.settings_file import current_values, save_settings


class SettingsScreen(Screen):
    NAME = "Settings"
    HELP = ("The config file as a form: Tab moves between settings, Ctrl+S saves what "
            "changed. A bad value is refused with the key's name.")
    BINDINGS = [
        Binding("ctrl+s", "save", "Save", priority=True),
    ]

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.saved = current_values(path)

    def compose(self) -> ComposeResult:
        yield Static(f"Runs › Settings · {self.path}", id="settings-title")
        with VerticalScroll(id="settings-form"):
            for name, value in self.saved.items():
                with Horizontal(classes="setting"):
                    yield Label(name, classes="setting-name")
                    yield Input(value, id=_input_id(name), classes="setting-value")
        yield Static("", id="settings-status")
        with Horizontal(id="settings-buttons"):
            yield Button("Save", id="save", variant="primary")
        yield Footer()

    def values(self) -> dict[str, str]:
        return {name: self.query_one(f"#{_input_id(name)}", Input).value for name in self.saved}

    def would_lose(self) -> str:
        changed = [k for k, v in self.values().items() if v != self.saved[k]]
        return f"{len(changed)} setting(s) changed and not saved." if changed else ""

    def action_save(self) -> None:
        changed = {k: v for k, v in self.values().items() if v != self.saved[k]}
        status = self.query_one("#settings-status", Static)
        try:
            save_settings(self.path, changed)
        except FastDistillError as exc:
            status.update(f"error: {exc}")
            status.set_class(True, "-error")
            return
        self.saved = current_values(self.path)
        status.set_class(False, "-error")
        status.update(f"saved {len(changed)} setting(s) to {self.path}")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self.action_save()


def _input_id(name: str) -> str:
    return "set-" + name.replace(".", "--")
