"""Why a stored run's samples were dropped, one line a stage and reason, most first: Enter
opens the samples that stage rejected for that reason (the dashboard's panel shows the top
three a stage; this lists them all). Dismissed with (stage, reason code), or None on Esc."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, OptionList
from textual.widgets.option_list import Option

from ..widgets.reject_panel import in_words


class ReasonsScreen(ModalScreen[tuple[str, str] | None]):
    NAME = "Why samples are dropped"
    HELP = "Each stage's reasons for dropping samples; Enter lists those samples."
    BINDINGS = [Binding("escape", "close", "Close")]

    def __init__(self, reasons: dict[str, dict[str, int]]) -> None:
        """reasons: stage → reason code → samples (run_index.reject_reasons), not empty: the
        stored run offers w only where a sample was dropped."""
        super().__init__()
        self.choices = [(stage, code, count) for stage, codes in reasons.items()
                        for code, count in codes.items()]

    def compose(self) -> ComposeResult:
        with Vertical(id="reasons-dialog") as dialog:
            dialog.border_title = "Why samples are dropped · Enter lists them"
            yield OptionList(*(Option(f"{stage:<12} {count:>6}  {in_words(code)} ({code})")
                               for stage, code, count in self.choices), id="reasons")
        yield Footer()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        stage, code, _ = self.choices[event.option_index]
        self.dismiss((stage, code))

    def action_close(self) -> None:
        self.dismiss(None)
