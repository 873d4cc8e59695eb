"""The base of the dashboard's panels: redrawn only when what they show has changed, and laid
out again only when their height has (a layout pass costs more than the drawing)."""

from __future__ import annotations

from typing import Any

from rich.console import RenderableType
from textual.widgets import Static

from ..run_state import RunState


def titled(widget: Any, title: str) -> Any:
    """The widget with its border title set (for use inside compose)."""
    widget.border_title = title
    return widget


class Panel(Static):
    _shown: Any = object()
    _lines = -1
    _state: RunState | None = None

    def on_resize(self) -> None:
        """Widths are computed from the panel's size: draw again at the new one."""
        if self._state is not None:
            self._shown = object()
            self.show(self._state)

    @property
    def width(self) -> int:
        """Columns inside borders and padding (before the first layout: a guess)."""
        return self.content_size.width or 60

    def show(self, state: RunState) -> None:
        self._state = state
        key = self.key(state)
        if key == self._shown:
            return
        self._shown = key
        renderable, lines = self.draw(state)
        self.update(renderable, layout=lines != self._lines)
        self._lines = lines

    def key(self, state: RunState) -> Any:
        """What the panel shows, compared with the last time (equal: no redraw)."""
        raise NotImplementedError

    def draw(self, state: RunState) -> tuple[RenderableType, int]:
        """The panel's content and its height in lines."""
        raise NotImplementedError
