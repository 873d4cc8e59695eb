"""Every event the engine emits: frozen, versioned, JSON round-trippable (DESIGN §2).

`event_to_json(e)` / `event_from_json(d)` are exact inverses; `events.jsonl` holds one
`event_to_json` object a line, so a run can be replayed into the TUI.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO

SCHEMA_VERSION = 3  # 2: TimingUpdated keyed by stage, RunStarted.stages; 3: GateEvaluated.reasons


@dataclass(frozen=True)
class Event:
    run_id: str
    ts: float = field(default_factory=time.time, kw_only=True)

    #: StageProgress-like events can be coalesced: only the latest per key matters.
    coalesce_key: Any = dataclasses.field(default=None, init=False, repr=False, compare=False)


@dataclass(frozen=True)
class RunStarted(Event):
    config_hash: str
    dataset: str
    teacher: str
    total: int  # samples the run will process (after dedup and --limit); 0 when unknown
    resumed: bool = False
    run_dir: str = ""
    stages: list[str] = field(default_factory=list)  # the run's stages, in pipeline order


@dataclass(frozen=True)
class StageStarted(Event):
    stage: str


@dataclass(frozen=True)
class StageProgress(Event):
    stage: str
    done: int
    total: int  # 0 when unknown
    kept: int = 0
    rejected: int = 0
    rate_per_s: float = 0.0
    eta_s: float | None = None
    tokens: int = 0  # student generation: tokens through the model so far (prompt + output)
    tokens_per_s: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "coalesce_key", ("StageProgress", self.stage))


@dataclass(frozen=True)
class StageFinished(Event):
    stage: str
    total: int
    kept: int
    rejected: int
    seconds: float
    #: what the stage was to see in all when it ended (0: unknown); above `total` when the
    #: run ended it early (a stop, a failed gate)
    expected: int = 0


@dataclass(frozen=True)
class RequestStats(Event):
    cached: int
    fresh: int
    failed: int
    in_flight: int
    tokens_in: int
    tokens_out: int
    cost: float
    requests_per_min: float = 0.0
    tokens_per_min: float = 0.0
    projected_cost: float = 0.0
    eta_s: float | None = None
    retries: int = 0
    rate_limited: int = 0  # HTTP 429 answers so far
    paused_s: float = 0.0  # seconds left of the server's Retry-After pause, 0 when none
    judge_requests: int = 0  # the LLM judge's requests (not from the store) and their cost
    judge_cost: float = 0.0
    ready_ahead: int = 0  # gold-checked samples waiting for a request slot (0: teacher starved)
    earlier: int = 0  # a resumed run: samples answered before this part (not asked again)

    def __post_init__(self) -> None:
        object.__setattr__(self, "coalesce_key", ("RequestStats",))


@dataclass(frozen=True)
class TimingUpdated(Event):
    # stage -> {"p50": s, "p90": s, "share": fraction of all timed work}: each stage's own work
    # per sample (recent samples), plus "queue_wait" (time a sample waited for a worker)
    stages: dict[str, dict[str, float]]

    def __post_init__(self) -> None:
        object.__setattr__(self, "coalesce_key", ("TimingUpdated",))


@dataclass(frozen=True)
class GateEvaluated(Event):
    gate: str
    passed: bool
    # metric -> {"value": float, "threshold": float, "passed": bool}
    metrics: dict[str, dict[str, Any]]
    early: bool = False  # the early warning after the first min_total answers
    # why answers missed the gold: reason -> count ("row_count", "empty_result", "exec_error",
    # "teacher_timeout", ...), and the commonest SQLite error messages -> count
    reasons: dict[str, int] = field(default_factory=dict)
    exec_errors: dict[str, int] = field(default_factory=dict)

    @property
    def answers(self) -> int:
        """How many answers the gate judged."""
        return int(self.metrics.get("min_total", {}).get("value", 0))


@dataclass(frozen=True)
class GateDecided(Event):
    gate: str
    proceed: bool
    overridden: bool
    by: str  # "auto" (passed), "flag", "env", "config", "user", "policy"


@dataclass(frozen=True)
class TrainProgress(Event):
    iteration: int
    total_iterations: int
    loss: float | None = None
    val_loss: float | None = None  # the latest validation loss
    tokens_per_s: float = 0.0
    eta_s: float | None = None
    #: what the trainer does between iterations ("loaded the model; compiling",
    #: "validating 2/4"), "" while it trains: a counter that stands still says why
    step: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "coalesce_key", ("TrainProgress",))


@dataclass(frozen=True)
class StudentMetrics(Event):
    phase: str  # "pre" | "post"
    total: int
    exec_pass_rate: float
    gold_match_rate: float


@dataclass(frozen=True)
class RunFinished(Event):
    status: str  # a core.runs.RunStatus value
    exit_code: int
    seconds: float
    run_dir: str = ""
    message: str = ""


@dataclass(frozen=True)
class Log(Event):
    level: str  # "info" | "warning" | "error"
    message: str


EVENT_TYPES: dict[str, type[Event]] = {
    cls.__name__: cls
    for cls in (RunStarted, StageStarted, StageProgress, StageFinished, RequestStats,
                TimingUpdated, GateEvaluated, GateDecided, TrainProgress, StudentMetrics,
                RunFinished, Log)
}


#: Progress (StageProgress, RequestStats, TimingUpdated, TrainProgress) at most this often.
PROGRESS_INTERVAL_S = 0.5


def event_to_json(event: Event) -> dict[str, Any]:
    data = {f.name: getattr(event, f.name) for f in dataclasses.fields(event) if f.init}
    data["type"] = type(event).__name__
    data["v"] = SCHEMA_VERSION
    return data


def write_event(out: TextIO, event: Event) -> None:
    """One event as a line of events.jsonl, flushed (a reader follows the file live)."""
    out.write(json.dumps(event_to_json(event), ensure_ascii=False) + "\n")
    out.flush()


def event_from_json(data: dict[str, Any]) -> Event:
    data = dict(data)
    kind = data.pop("type")
    version = data.pop("v", SCHEMA_VERSION)
    if version > SCHEMA_VERSION:
        raise ValueError(f"event schema v{version} is newer than this build (v{SCHEMA_VERSION})")
    cls = EVENT_TYPES[kind]
    return cls(**data)


def read_events(path: str | os.PathLike[str]) -> Iterator[Event]:
    """A recorded events.jsonl, event by event (replay into the app: tests, history)."""
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield event_from_json(json.loads(line))
