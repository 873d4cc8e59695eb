"""The bridge between the engine and the app: the engine runs on a thread with its own event
loop (its coroutine blocks at times: validation, commits, select/export); its events arrive in
the app as Textual messages; a failed gate becomes a question the app answers.

Coalescing: events with a `coalesce_key` (progress, request stats, timings, training) are kept
latest-per-key in a buffer, and one `ProgressChanged` message is posted when the buffer goes
from empty to non-empty; its handler takes the whole buffer. A burst of any size thus costs one
message and one repaint. (Textual's `Message.can_replace` only merges *adjacent* messages, and
the engine's per-tick progress of a dozen stages interleaves, so it would merge nothing.)
Every other event is posted in order as an `EngineEvent`.
"""

from __future__ import annotations

import asyncio
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual.message import Message
from textual.message_pump import MessagePump

from .core import events as ev
from .core.config import Config
from .core.errors import FastDistillError
from .core.gates import GateDecision


class EngineEvent(Message):
    """One engine event that must not be merged (stage start/finish, gates, logs, the end)."""

    def __init__(self, event: ev.Event) -> None:
        super().__init__()
        self.event = event


class ProgressChanged(Message):
    """The latest coalescible events are waiting in the bridge: take them with `take()`."""

    def __init__(self, take: Callable[[], list[ev.Event]]) -> None:
        super().__init__()
        self.take = take


class GateQuestion(Message):
    """The engine asks whether to go on past a failed gate; `answer` may be called once, from
    the app's thread."""

    def __init__(self, event: ev.GateEvaluated, answer: Callable[[GateDecision], None]) -> None:
        super().__init__()
        self.event = event
        self.answer = answer


class EngineFailed(Message):
    """The engine raised: its message (never a traceback) and the exit code it stands for."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__()
        self.message = message
        self.exit_code = exit_code


class EventBridge:
    """The engine's sink: called on the engine's thread, posts to `target` (thread-safe)."""

    def __init__(self, target: MessagePump) -> None:
        self.target = target
        self._lock = threading.Lock()
        self._latest: dict[Any, ev.Event] = {}

    def __call__(self, event: ev.Event) -> None:
        key = event.coalesce_key
        if key is None:
            self.target.post_message(EngineEvent(event))
            return
        with self._lock:
            first = not self._latest
            self._latest[key] = event
        if first:
            self.target.post_message(ProgressChanged(self.take))

    def take(self) -> list[ev.Event]:
        with self._lock:
            latest, self._latest = self._latest, {}
        return list(latest.values())


@dataclass
class RunRequest:
    """What the command line resolved: the run's config, its id and whether it resumes."""

    config: Config
    run_id: str
    resume: bool
    events_path: str | None = None  # --events: a copy of the events as JSONL


class EngineThread:
    """Runs one engine on a daemon thread (so a second Ctrl+C can leave without waiting for
    requests in flight). `cancel` is the engine's stop: drain, checkpoint, end resumable."""

    def __init__(self, request: RunRequest, target: MessagePump) -> None:
        self.request = request
        self.target = target
        self.cancel = threading.Event()
        self.bridge = EventBridge(target)
        self._thread = threading.Thread(target=self._main, name="fastdistill-engine",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    async def decide(self, event: ev.GateEvaluated) -> GateDecision:
        """Ask the app and wait on this loop; the engine cancels the wait on a stop."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[GateDecision] = loop.create_future()

        def answer(decision: GateDecision) -> None:
            loop.call_soon_threadsafe(
                lambda: None if future.done() else future.set_result(decision))

        self.target.post_message(GateQuestion(event, answer))
        return await future

    def _main(self) -> None:
        from .cli import store_path
        from .core.engine import Engine
        from .core.store import Store

        request = self.request
        events_out = None
        if request.events_path:
            Path(request.events_path).parent.mkdir(parents=True, exist_ok=True)
            events_out = open(request.events_path, "a", encoding="utf-8")

        def sink(event: ev.Event) -> None:
            if events_out is not None:
                ev.write_event(events_out, event)
            self.bridge(event)
        try:
            store = Store(store_path(request.config))
            try:
                engine = Engine(request.config, store, run_id=request.run_id,
                                resume=request.resume)
                asyncio.run(engine.run(sink, self.decide, self.cancel))
            finally:
                store.close()
                if events_out is not None:
                    events_out.close()
        except FastDistillError as exc:
            self.target.post_message(EngineFailed(str(exc), exc.exit_code))
        except Exception as exc:  # shown as one line; the traceback goes to the run's folder
            self.target.post_message(EngineFailed(
                f"{type(exc).__name__}: {exc} (details in {self._save_traceback()})", 1))

    def _save_traceback(self) -> Path:
        from .core.runs import run_dir_for

        path = run_dir_for(self.request.config, self.request.run_id) / "error.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(traceback.format_exc(), encoding="utf-8")
        return path


