"""What the app knows about a run: the engine's events folded into plain state that the widgets
draw. No Textual here, so a replayed events.jsonl and a live run build the same picture."""

from __future__ import annotations

from dataclasses import dataclass, field

from .core import events as ev

#: The words a stage row shows; they read without colour (NO_COLOR).
WAITING, RUNNING, DONE, STOPPED = "waiting", "running", "done", "stopped"


@dataclass
class StageRow:
    name: str
    state: str = WAITING
    done: int = 0
    total: int = 0
    kept: int = 0
    rejected: int = 0
    rate_per_s: float = 0.0
    eta_s: float | None = None
    planned: int = 0  # the total progress last promised; a stopped run ends short of it


@dataclass
class RunState:
    run_id: str = ""
    dataset: str = ""
    teacher: str = ""
    total: int = 0
    run_dir: str = ""
    resumed: bool = False
    started_ts: float = 0.0
    last_ts: float = 0.0
    stages: dict[str, StageRow] = field(default_factory=dict)
    requests: ev.RequestStats | None = None
    timings: dict[str, dict[str, float]] = field(default_factory=dict)
    gates: list[ev.GateEvaluated] = field(default_factory=list)
    decisions: list[ev.GateDecided] = field(default_factory=list)
    train: ev.TrainProgress | None = None
    losses: list[float] = field(default_factory=list)
    student: dict[str, ev.StudentMetrics] = field(default_factory=dict)  # "pre" / "post"
    finished: ev.RunFinished | None = None
    failure: str = ""  # an engine error's message, when the run died rather than ended
    stopping: bool = False  # stop asked; the engine is draining

    def apply(self, event: ev.Event) -> None:
        self.last_ts = max(self.last_ts, event.ts)
        if isinstance(event, ev.RunStarted):
            self.run_id, self.dataset, self.teacher = event.run_id, event.dataset, event.teacher
            self.total, self.run_dir, self.resumed = event.total, event.run_dir, event.resumed
            self.started_ts = event.ts
            for name in event.stages:
                self.row(name)
        elif isinstance(event, ev.StageStarted):
            self.row(event.stage).state = RUNNING
        elif isinstance(event, ev.StageProgress):
            row = self.row(event.stage)
            if row.state != DONE:
                row.state = RUNNING
                row.done, row.total = event.done, event.total
                row.kept, row.rejected = event.kept, event.rejected
                row.rate_per_s, row.eta_s = event.rate_per_s, event.eta_s
        elif isinstance(event, ev.StageFinished):
            row = self.row(event.stage)
            row.planned = row.total
            row.state, row.done, row.total = DONE, event.total, event.total
            row.kept, row.rejected = event.kept, event.rejected
            row.eta_s = None
        elif isinstance(event, ev.RequestStats):
            self.requests = event
        elif isinstance(event, ev.TimingUpdated):
            self.timings = event.stages
        elif isinstance(event, ev.GateEvaluated):
            self.gates.append(event)
        elif isinstance(event, ev.GateDecided):
            self.decisions.append(event)
        elif isinstance(event, ev.TrainProgress):
            self._train(event)
        elif isinstance(event, ev.StudentMetrics):
            self.student[event.phase] = event
        elif isinstance(event, ev.RunFinished):
            self.finished = event
            self.stopping = False
            for row in self.stages.values():
                short = row.state == DONE and row.done < row.planned
                if row.state == RUNNING or (short and event.status != "completed"):
                    row.state, row.total = STOPPED, max(row.total, row.planned)

    def _train(self, event: ev.TrainProgress) -> None:
        """Progress is coalesced on its way here: the curve holds the points that arrived."""
        self.train = event
        if event.loss is not None:
            self.losses.append(event.loss)

    def row(self, name: str) -> StageRow:
        """A stage's row, added at the end the first time an unknown stage is named."""
        if name not in self.stages:
            self.stages[name] = StageRow(name)
        return self.stages[name]

    @property
    def running(self) -> bool:
        return bool(self.run_id) and self.finished is None and not self.failure

    def elapsed(self, now: float) -> float:
        if self.finished is not None:
            return self.finished.seconds
        return max(now - self.started_ts, 0.0) if self.started_ts else 0.0

    def eta_s(self) -> float | None:
        """The slowest running stage's ETA: when the streaming part should be done."""
        etas = [r.eta_s for r in self.stages.values() if r.state == RUNNING and r.eta_s]
        return max(etas) if etas else None
