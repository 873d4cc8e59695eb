"""The top line: which run, on what, with which teacher, how long so far and how long to go.

One line at any width: what does not fit gives way, the least needed first (DROP_ORDER), and a
long dataset path is cut in the middle first; the run id and its status always show whole."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from ..run_state import RunState, status_word
from .format import clock

#: the parts that give way when the line is too wide, first to go first (teacher_label: the
#: word "teacher" before its name)
DROP_ORDER = ("samples", "app", "dataset", "teacher_label", "times", "teacher", "trail")


class RunHeader(Static):
    _last: tuple[RunState, float, str] | None = None

    def on_resize(self) -> None:
        """What fits depends on the width: draw again at the new one."""
        if self._last is not None:
            self.show(*self._last)

    def show(self, state: RunState, now: float, trail: str = "") -> None:
        """trail: the screens before this one (`Runs`), shown as `Runs › run id`."""
        self._last = (state, now, trail)
        self.update(header_line(state, now, trail, self.size.width), layout=False)


def header_line(state: RunState, now: float, trail: str, width: int) -> Text:
    """The header's text fitted to `width` columns (0: not laid out yet, everything)."""
    def fitted(dropped: list[str]) -> Text | None:
        return _fit(_parts(state, now, trail, set(dropped)), width)

    dropped: list[str] = []
    line = fitted(dropped)
    for name in DROP_ORDER:
        if line is not None:
            break
        dropped.append(name)
        line = fitted(dropped)
    if line is None:  # the run id and status alone are wider: the CSS cuts the end
        return _join(_parts(state, now, trail, set(dropped)))
    for name in reversed(dropped[:-1]):  # a part dropped on the way may fit again
        fewer = [d for d in dropped if d != name]
        again = fitted(fewer)
        if again is not None:
            dropped, line = fewer, again
    return line


def _parts(state: RunState, now: float, trail: str,
           dropped: set[str]) -> list[tuple[str, str, str]]:
    """(name, text, style) in the order they show, less the dropped ones; a separator leads
    the part it belongs to, so it goes with it."""
    parts = [("app", " FastDistill ", "bold reverse"), ("lead", " ", "dim")]
    if trail:
        parts.append(("trail", f"{trail} › ", "dim"))
    if not state.run_id:
        parts.append(("id", "reading and validating the dataset…", ""))
    else:
        parts += [("id", state.run_id, "bold"), ("gap", "  ", ""),
                  ("status", f" {_status(state)} ", "bold reverse"),
                  ("clock", f" {clock(state.elapsed(now))}", "")]
        times = ""
        if state.waited(now) >= 1:
            times += f" · waited {clock(state.waited(now))}"
        if state.running and not state.waiting:
            times += f" · ETA {clock(state.eta_s())}"
        label = "" if "teacher_label" in dropped else "teacher "
        parts += [("times", times, ""), ("teacher", f"  {label}{state.teacher}", "dim")]
        if "teacher" not in dropped:  # the dataset and the count follow the teacher
            parts += [("dataset", f" · {state.dataset}", "dim"),
                      ("samples", f" · {state.total} samples", "dim")]
    return [p for p in parts if p[0] not in dropped]


def _fit(parts: list[tuple[str, str, str]], width: int) -> Text | None:
    """The parts as one line no wider than `width`, the dataset cut in the middle if that is
    enough; None if they do not fit."""
    line = _join(parts)
    excess = line.cell_len - width
    if width <= 0 or excess <= 0:
        return line
    dataset = next((p for p in parts if p[0] == "dataset"), None)
    if dataset is None:
        return None
    name, text, style = dataset
    cut = middle_cut(text[len(" · "):], len(text) - len(" · ") - excess)
    if cut is None:
        return None
    return _join([(name, f" · {cut}", style) if p is dataset else p for p in parts])


def _join(parts: list[tuple[str, str, str]]) -> Text:
    text = Text()
    for _, part, style in parts:
        text.append(part, style=style)
    return text


def middle_cut(spec: str, width: int) -> str | None:
    """`spider:…/spider-de-dev [dev]`: a dataset's kind and the end of its path, which tell
    the most, around a `…`, in at most `width` columns; None where the path's last part
    alone is wider."""
    if len(spec) <= width:
        return spec
    kind, colon, _ = spec.partition(":")
    head = f"{kind}:" if colon and kind.isalpha() else ""
    tail = spec[len(head):][-(width - len(head) - 1):] if width > len(head) + 1 else ""
    slash = tail.find("/")
    return f"{head}…{tail[slash:]}" if slash >= 0 else None


def _status(state: RunState) -> str:
    if state.failure:
        return "failed"
    if state.finished is not None:
        return status_word(state.finished.status)
    if state.waiting:
        return "waiting for you"
    return "stopping" if state.stopping else "running"
