"""What the app knows about a run: the engine's events folded into plain state that the widgets
draw. No Textual here, so a replayed events.jsonl and a live run build the same picture."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from .core import events as ev

#: one ETA model for every figure that shows one (stage rows, header): the rate over the
#: progress of the last RATE_WINDOW_S seconds, so a resume's burst of stored answers or a
#: pause at the gate stops counting once it is out of the window
RATE_WINDOW_S = 10.0

#: The words a stage row shows; they read without colour (NO_COLOR).
WAITING, RUNNING, DONE, STOPPED = "waiting", "running", "done", "stopped"
NOT_RUN = "not run"  # the run ended before the stage started

#: A run's stored status as the app says it: one word for a stop everywhere ("stopped",
#: as the stage rows say), spaces for underscores. The store and the command line keep theirs.
STATUS_WORDS = {"cancelled": STOPPED}


def status_word(status: str) -> str:
    return STATUS_WORDS.get(status, status.replace("_", " "))


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
    waited_s: float = 0.0  # time a failed gate waited for a person's decision
    waiting_since: float | None = None  # a failed gate waits for a decision since then
    #: stage → reason code → samples, read from the run store (run_index.reject_reasons;
    #: the events carry only counts); None where there is no store to read (a replay)
    reasons: dict[str, dict[str, int]] | None = None
    parts: int = 0  # RunStarted events seen: a recorded run resumed twice has three
    _progress: dict[str, deque[tuple[float, int]]] = field(default_factory=dict, repr=False)

    def apply(self, event: ev.Event) -> None:
        self.last_ts = max(self.last_ts, event.ts)
        if isinstance(event, ev.RunStarted):
            self.run_id, self.dataset, self.teacher = event.run_id, event.dataset, event.teacher
            self.total, self.run_dir, self.resumed = event.total, event.run_dir, event.resumed
            self.started_ts = event.ts
            self.parts += 1
            self.finished = None  # a recorded run's later part
            self.waiting_since = None
            for name in event.stages:
                self.row(name)
            for row in self.stages.values():
                if row.state == NOT_RUN:  # an earlier part ended before it; this one may not
                    row.state = WAITING
        elif isinstance(event, ev.StageStarted):
            self.row(event.stage).state = RUNNING
        elif isinstance(event, ev.StageProgress):
            row = self.row(event.stage)
            if row.state != DONE:
                row.state = RUNNING
                row.done, row.total = event.done, event.total
                row.kept, row.rejected = event.kept, event.rejected
                row.rate_per_s, row.eta_s = self._rate(row, event.ts)
        elif isinstance(event, ev.StageFinished):
            row = self.row(event.stage)
            row.planned = max(row.total, event.expected)
            # a stop ends stages short of their total: that is stopped, never done (a failed
            # gate's short stages are marked when the run ends, below)
            short = self.stopping and event.total < row.planned
            row.state, row.done = (STOPPED if short else DONE), event.total
            row.total = row.planned if short else event.total
            row.kept, row.rejected = event.kept, event.rejected
            row.eta_s = None
        elif isinstance(event, ev.RequestStats):
            self.requests = event
        elif isinstance(event, ev.TimingUpdated):
            self.timings = event.stages
        elif isinstance(event, ev.GateEvaluated):
            self.gates.append(event)
            if not event.passed:
                self.waiting_since = event.ts
        elif isinstance(event, ev.GateDecided):
            self.decisions.append(event)
            self._stop_waiting(event.ts)
        elif isinstance(event, ev.TrainProgress):
            self._train(event)
        elif isinstance(event, ev.StudentMetrics):
            self.student[event.phase] = event
        elif isinstance(event, ev.RunFinished):
            self._stop_waiting(event.ts)
            self.finished = event
            self.stopping = False
            for row in self.stages.values():
                short = row.state == DONE and row.done < row.planned
                if row.state == RUNNING or (short and event.status != "completed"):
                    row.state, row.total = STOPPED, max(row.total, row.planned)
                elif row.state == WAITING:
                    row.state = NOT_RUN

    def _rate(self, row: StageRow, ts: float) -> tuple[float, float | None]:
        """The row's rate over the last RATE_WINDOW_S of its progress, and its ETA at it."""
        window = self._progress.setdefault(row.name, deque())
        if self.waiting_since is not None or (window and ts - window[-1][0] > RATE_WINDOW_S):
            window.clear()  # a pause (the gate, a stall): the rate starts again after it
        window.append((ts, row.done))
        while ts - window[0][0] > RATE_WINDOW_S:
            window.popleft()
        (t0, d0), (t1, d1) = window[0], window[-1]
        if t1 <= t0 or d1 <= d0:
            return 0.0, None
        per_s = (d1 - d0) / (t1 - t0)
        return per_s, max(row.total - row.done, 0) / per_s

    def _stop_waiting(self, ts: float) -> None:
        if self.waiting_since is not None:
            self.waited_s += max(ts - self.waiting_since, 0.0)
            self.waiting_since = None

    def _train(self, event: ev.TrainProgress) -> None:
        """Progress is coalesced on its way here: the curve holds the points that arrived."""
        self.train = event
        if event.loss is not None and not event.step:  # a step repeats the last loss
            self.losses.append(event.loss)

    @property
    def resumes(self) -> int:
        """How often the run was resumed, as far as its events tell (`resumed` on the first
        start seen counts: the earlier parts were in another session)."""
        first_resumed = 1 if self.resumed and self.parts == 1 else 0
        return max(self.parts - 1, 0) + first_resumed

    def row(self, name: str) -> StageRow:
        """A stage's row, added at the end the first time an unknown stage is named."""
        if name not in self.stages:
            self.stages[name] = StageRow(name)
        return self.stages[name]

    @property
    def running(self) -> bool:
        return bool(self.run_id) and self.finished is None and not self.failure

    @property
    def waiting(self) -> bool:
        """A failed gate waits for a person (the prompt is open)."""
        return self.running and self.waiting_since is not None

    def waited(self, now: float) -> float:
        """Time spent waiting for a person at a gate, the current wait included."""
        current = now - self.waiting_since if self.waiting and self.waiting_since else 0.0
        return self.waited_s + max(current, 0.0)

    def elapsed(self, now: float) -> float:
        """Work time: since the start (of this part, for a resumed run), less the time a
        gate waited for a decision."""
        total = self.finished.seconds if self.finished is not None else (
            max(now - self.started_ts, 0.0) if self.started_ts else 0.0)
        return max(total - self.waited(now), 0.0)

    def eta_s(self) -> float | None:
        """The slowest running stage's ETA: when the streaming part should be done."""
        etas = [r.eta_s for r in self.stages.values() if r.state == RUNNING and r.eta_s]
        return max(etas) if etas else None
