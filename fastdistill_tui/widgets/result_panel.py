"""A finished run: how it ended, what it produced and where the files are."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from ..run_state import DONE, RunState, status_word
from .format import clock, in_app
from .panel import Panel

#: What a run directory holds, as the user looks for it.
ARTIFACTS = (("data", "mlx/train.jsonl, mlx/valid.jsonl"), ("reports", "reports/"),
             ("manifests", "manifests/run.manifest.json"), ("events", "events.jsonl"))


class ResultPanel(Panel):
    def __init__(self, *, resumes_here: bool = False, id: str | None = None) -> None:
        """resumes_here: r on the screen showing the panel resumes the run (format.in_app)."""
        super().__init__(id=id)
        self.resumes_here = resumes_here

    def key(self, state: RunState) -> tuple:
        return state.finished, state.failure

    def draw(self, state: RunState) -> tuple[Table, int]:
        finished = state.finished
        self.display = finished is not None or bool(state.failure)
        table = Table(box=None, show_header=False, show_edge=False, padding=(0, 1),
                      expand=True)
        table.add_column(style="dim", width=10, no_wrap=True)
        table.add_column(ratio=1)
        if state.failure:
            table.add_row("failed", Text(in_app(state.failure, self.resumes_here),
                                         style="bold red"))
            if state.run_id:
                table.add_row("resume", Text(f"r on its row in Runs (or `fastdistill --resume "
                                             f"{state.run_id}`)"))
        if finished is not None:
            ok = finished.status == "completed"
            head = Text(f"{status_word(finished.status)} · work {clock(state.elapsed(0))}",
                        style="bold green" if ok else "bold")
            if state.waited_s >= 1:
                head.append(f" · waited for a decision {clock(state.waited_s)}")
            if state.resumes:
                head.append(f" (this part; resumed {state.resumes}×)")
            head.append(f" · exit {finished.exit_code}")
            selected = state.stages.get("select")
            if ok and selected is not None:
                head.append(f" · {selected.kept} of {state.total} samples selected",
                            style="")
            table.add_row("result", head)
            if not ok and finished.message:
                table.add_row("next", Text(in_app(finished.message, self.resumes_here)))
        run_dir = (finished.run_dir if finished else "") or state.run_dir
        if run_dir:
            table.add_row("run dir", Text(run_dir))
            exported = state.stages.get("export")
            for label, rel in ARTIFACTS:
                if label != "data" or (exported is not None and exported.state == DONE):
                    table.add_row(label, rel)
        return table, table.row_count
