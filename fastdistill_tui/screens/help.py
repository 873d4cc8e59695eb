"""`?` or F1: the keys of the screen it was opened on, as that screen has them now (what it
says, what each key does), and the keys that work on every screen."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Static

#: keys Textual's names spell long
KEY_NAMES = {"escape": "Esc", "enter": "Enter", "space": "Space", "slash": "/", "comma": ",",
             "question_mark": "?", "delete": "Del", "tab": "Tab", "up": "↑", "down": "↓",
             "pageup": "PgUp", "pagedown": "PgDn"}


def key_name(key: str) -> str:
    return "/".join(KEY_NAMES.get(k, k.replace("ctrl+", "^")) for k in key.split(","))


#: keys a list or form has without showing them in the footer, worth a line in the help
MOVES = {"up", "down", "pageup", "pagedown", "tab"}


def _own_keys(node: object) -> set[str]:
    """The keys bound by this project's classes (not Textual's defaults) of a screen or app."""
    keys: set[str] = set()
    for cls in type(node).__mro__:
        if cls.__module__.startswith("fastdistill_tui"):
            for binding in cls.__dict__.get("BINDINGS", []):
                keys |= set(binding.key.split(","))
    return keys


def screen_keys(screen: Screen) -> list[tuple[str, str]]:
    """(keys, what they do) for `screen`'s keys, then the app's, then moving around; the
    screen's keys the footer has no room for are here too. A key of the screen that does not
    apply now (nothing marked yet) says so; an app key that does not apply here (Stop with no
    run going) is left out."""
    app = screen.app
    groups: dict[str, dict[tuple, list[str]]] = {"screen": {}, "app": {}, "moves": {}}
    seen: set[str] = set()
    # Textual keeps the chain of bindings (focused widget → screen → app) private; the
    # footer reads it the same way
    for namespace, bindings in screen._modal_binding_chain:
        own = _own_keys(namespace)
        for key, binding in bindings:
            if key in seen or not binding.description or binding.system:
                continue
            if not (binding.show or key in own or key in MOVES):
                continue
            state = app._check_action_state(binding.action, namespace)
            if state is False and namespace is app:
                continue
            seen.add(key)
            group = ("app" if namespace is app else "moves" if key in MOVES or key not in own
                     else "screen")
            what = binding.description + ("" if state else "  (not now)")
            groups[group].setdefault((binding.action, what), []).append(key_name(key))
    return [("/".join(keys), what) for group in groups.values()
            for (_, what), keys in group.items()]


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,f1,q", "close", "Close")]

    def __init__(self, title: str, about: str, keys: list[tuple[str, str]]) -> None:
        super().__init__()
        self.title_text, self.about, self.keys = title, about, keys

    def compose(self) -> ComposeResult:
        table = Table(box=None, show_header=False, padding=(0, 2, 0, 0))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        for key, what in self.keys:
            table.add_row(key, what)
        with VerticalScroll(id="help-dialog") as dialog:
            dialog.border_title = f"Keys · {self.title_text}"
            if self.about:
                yield Static(Text(self.about), id="help-about")
            yield Static(table, id="help-keys")
        yield Footer()

    def action_close(self) -> None:
        self.dismiss(None)
