"""The Textual app: one run, live. `create_app(args)` is the factory the CLI and the tests share;
`FastDistillApp(replay=events)` draws a recorded run (snapshot tests, history);
`FastDistillApp(home=config)` opens on the stored runs (screens/home.py), from which a run is
opened, compared, resumed.

The engine runs on its own thread (live.py); its events arrive as messages, and only the
handlers below change the state and the widgets.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from .cli import store_path
from .core import events as ev
from .core.config import Config, default_config_path, validate
from .core.runs import run_dir_for
from .core.errors import ConfigError, FastDistillError, InputError
from .core.run_index import (RunSummary, flatten, kept_differences, run_config, run_samples,
                             run_summaries)
from .core.gates import GateDecision
from .core.store import Store
from .live import (EngineEvent, EngineFailed, EngineThread, GateQuestion, ProgressChanged,
                   RunRequest)
from .run_state import RunState
from .screens.compare import CompareScreen
from .screens.gate import GateScreen
from .screens.home import HomeScreen
from .screens.new_run import NewRunScreen
from .screens.recorded import RecordedRunScreen
from .screens.run import RunScreen
from .screens.settings import SettingsScreen
from .widgets.run_header import RunHeader

JOIN_ON_EXIT_S = 10.0  # how long leaving the app waits for a stopped engine to save


@dataclass
class RunResult:
    """What the command line exits with, and its last line on stderr (as headless prints)."""

    exit_code: int = 0
    line: str = ""


class FastDistillApp(App[int]):
    CSS_PATH = Path(__file__).parent / "app.tcss"
    TITLE = "FastDistill"
    COMMAND_PALETTE_BINDING = "ctrl+p"
    BINDINGS = [
        Binding("s", "stop", "Stop (drain + save)"),
        Binding("ctrl+c", "interrupt", "Stop · twice: abort", priority=True),
        Binding("q", "quit_when_done", "Quit (after the end)"),
        Binding("ctrl+q", "quit_when_done", "Quit", show=False, priority=True),
    ]

    def __init__(self, run: RunRequest | None = None, *,
                 replay: Iterable[ev.Event] = (), home: Config | None = None) -> None:
        super().__init__()
        self.run_request = run
        self.home_config = home
        self.replay = list(replay)
        self.state = RunState()
        self.result = RunResult()
        self.engine: EngineThread | None = None
        self.aborted = False
        self.gate_screen: GateScreen | None = None
        # a replay shows the time of its last event, so it draws the same every time
        self.clock: Callable[[], float] = (time.time if run is not None
                                           else lambda: self.state.last_ts)
        self.run_screen = RunScreen()

    # -- lifecycle --------------------------------------------------------------------------
    async def on_mount(self) -> None:
        if self.home_config is not None:
            await self.push_screen(HomeScreen(self._summaries(), self.open_run, self.compare))
            return
        await self.push_screen(self.run_screen)
        if self.run_request is not None:
            self._start_engine()
        for event in self.replay:  # in order and whole: a replay has no flood to coalesce
            self.post_message(EngineEvent(event))
        self._redraw()

    def _start_engine(self) -> None:
        assert self.run_request is not None
        self.clock = time.time
        self.engine = EngineThread(self.run_request, self)
        self.engine.start()
        self.set_interval(1.0, self._tick)

    # -- home: stored runs ------------------------------------------------------------------
    def _with_store(self, read: Callable[[Store], Any]) -> Any:
        assert self.home_config is not None
        store = Store(store_path(self.home_config))
        try:
            return read(store)
        finally:
            store.close()

    def _summaries(self) -> list[RunSummary]:
        return self._with_store(run_summaries)

    def open_run(self, run: RunSummary) -> None:
        assert self.home_config is not None
        run_dir = run_dir_for(self.home_config, run.run_id)
        self.push_screen(RecordedRunScreen(
            run, run_dir / "events.jsonl",
            lambda: self._with_store(lambda store: run_samples(store, run.run_id)),
            self.resume_run))

    def compare(self, a: RunSummary, b: RunSummary) -> None:
        assert self.home_config is not None
        config = self.home_config
        self.push_screen(CompareScreen(
            a, b,
            config_a=flatten(self._with_store(lambda s: run_config(s, a.run_id))),
            config_b=flatten(self._with_store(lambda s: run_config(s, b.run_id))),
            dir_a=run_dir_for(config, a.run_id), dir_b=run_dir_for(config, b.run_id),
            differences=self._with_store(lambda s: kept_differences(s, a.run_id, b.run_id))))

    def action_new_run(self) -> None:
        self.push_screen(NewRunScreen(self.start_new_run))

    def action_settings(self) -> None:
        try:
            self.push_screen(SettingsScreen(default_config_path()))
        except FastDistillError as exc:
            self.notify(str(exc), severity="error", timeout=6)

    def start_new_run(self, argv: list[str], gates: dict[str, str]) -> None:
        """Start the form's run; bad input raises with the command line's message."""
        if self.engine is not None:
            raise InputError("a run is already in progress in this app",
                             hint="wait for it to end, or start this one in another terminal")
        self.run_request = run_request(argv, gates)
        self.push_screen(self.run_screen)
        self._start_engine()

    def resume_run(self, run: RunSummary) -> None:
        """The live dashboard on a stored run, resumed as `fastdistill --resume ID` would."""
        if self.engine is not None:
            self.notify("a run is already in progress", timeout=3)
            return
        try:
            self.run_request = run_request(["--resume", run.run_id])
        except FastDistillError as exc:
            self.notify(str(exc), severity="error", timeout=6)
            return
        self.push_screen(self.run_screen)
        self._start_engine()

    def on_unmount(self) -> None:
        """Leaving while the engine runs (tests, an abort): stop it and give it time to save,
        unless the user asked to abort."""
        if self.engine is not None and not self.aborted:
            self.engine.cancel.set()
            self.engine.join(JOIN_ON_EXIT_S)

    def _tick(self) -> None:
        if self.state.running:  # the clock in the header moves
            self.run_screen.query_one(RunHeader).show(self.state, self.clock())

    def _redraw(self) -> None:
        self.run_screen.show(self.state, self.clock())

    # -- engine messages --------------------------------------------------------------------
    def on_progress_changed(self, message: ProgressChanged) -> None:
        for event in message.take():
            self.state.apply(event)
        self._redraw()

    def on_engine_event(self, message: EngineEvent) -> None:
        event = message.event
        self.state.apply(event)
        self.run_screen.log_event(event)
        if isinstance(event, ev.RunFinished):
            self._finished(event)
        self._redraw()

    def on_gate_question(self, message: GateQuestion) -> None:
        if not self.state.running or self.state.stopping:
            return  # the engine drops the question itself once it sees the stop

        def decided(proceed: bool | None) -> None:
            self.gate_screen = None
            if proceed is not None:  # None: closed by a stop or the end, nobody decided
                message.answer(GateDecision(proceed, "user"))

        self.gate_screen = GateScreen(message.event, self.state.total, self.state.requests)
        self.push_screen(self.gate_screen, decided)

    def on_engine_failed(self, message: EngineFailed) -> None:
        self.state.failure = message.message
        self.result = RunResult(message.exit_code, f"error: {message.message}")
        self.run_screen.log_line(time.time(), message.message, "error")
        self._close_gate()
        self._redraw()

    def _finished(self, event: ev.RunFinished) -> None:
        self.result = RunResult(event.exit_code,
                                f"run {event.run_id} {event.status}: {event.run_dir}")
        self._close_gate()
        self.notify(f"run {event.status.replace('_', ' ')} — q quits", timeout=4)

    def _close_gate(self) -> None:
        if self.gate_screen is not None and self.gate_screen.is_active:
            self.gate_screen.dismiss(None)

    # -- keys -------------------------------------------------------------------------------
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Textual's own (themes, keys, quit, screenshot), and where the app can go from home."""
        yield from super().get_system_commands(screen)
        if self.home_config is not None:
            yield SystemCommand("Runs", "The list of stored runs (home)", self.action_home)
            yield SystemCommand("New run", "Start a run from a form", self.action_new_run)
            yield SystemCommand("Settings", "Edit the config file", self.action_settings)

    def action_home(self) -> None:
        while len(self.screen_stack) > 2 and not isinstance(self.screen, HomeScreen):
            self.pop_screen()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Home and stored runs: no Stop to offer until a run is live."""
        if action == "stop" and self.home_config is not None and self.engine is None:
            return False
        return True

    def action_stop(self) -> None:
        if self.engine is None or not self.state.running:
            self.notify("no run in progress", timeout=2)
            return
        if self.state.stopping:
            self.notify("already stopping — Ctrl+C aborts now", timeout=3)
            return
        self.state.stopping = True
        self.engine.cancel.set()
        in_flight = self.state.requests.in_flight if self.state.requests else 0
        self.run_screen.log_line(
            time.time(), f"stopping: no new requests; finishing the {in_flight} in flight, "
            "then saving — the run stays resumable. Ctrl+C again aborts now.", "warning")
        self._close_gate()
        self._redraw()

    def action_interrupt(self) -> None:
        if not self.state.running:
            self.action_quit_when_done()
        elif not self.state.stopping:
            self.action_stop()
        else:
            self.aborted = True
            self.result = RunResult(130, f"run {self.state.run_id} aborted (resumable): "
                                         f"{self.state.run_dir}")
            self.exit(return_code=130)

    def action_quit_when_done(self) -> None:
        if self.state.running:
            self.notify("a run is in progress: s stops it (drain + save), then q quits",
                        timeout=3)
            return
        self.exit(return_code=self.result.exit_code)


def create_home_app(config: Config) -> FastDistillApp | None:
    """The app on its home list, or None where the store holds no run yet."""
    path = store_path(config)
    if not path.exists():
        return None
    store = Store(path)
    try:
        has_runs = bool(store.query("SELECT 1 FROM runs LIMIT 1"))
    finally:
        store.close()
    return FastDistillApp(home=config) if has_runs else None


def create_app(args: argparse.Namespace | list[str] | None = None) -> FastDistillApp:
    """The app on a run of these options (parsed as `fastdistill run` would); bad options
    raise InputError before anything opens."""
    from .cli import build_parser, load_run_config

    if args is None or isinstance(args, list):
        args = build_parser().parse_args(["run", *(args or [])])
    return FastDistillApp(_request(args, load_run_config(args)))


def run_request(argv: list[str], gates: dict[str, str] | None = None) -> RunRequest:
    """A run from `fastdistill run` options given by the app's forms, checked as the command
    line checks them; gates: teacher-eval gate thresholds (name → text) over the config's."""
    from .cli import add_run_options, load_run_config

    parser = argparse.ArgumentParser(prog="fastdistill run", exit_on_error=False)
    add_run_options(parser)
    try:
        args = parser.parse_args(argv)
    except argparse.ArgumentError as exc:
        raise InputError(str(exc)) from None
    config = load_run_config(args)
    gate = config.gates.teacher_eval
    for name, text in (gates or {}).items():
        typ = type(getattr(gate, name))
        try:
            setattr(gate, name, typ(text))
        except ValueError:
            kind = "an integer" if typ is int else "a number"
            raise ConfigError(f"expected {kind}, got {text!r}", path="new run form",
                              field=f"gates.teacher_eval.{name}") from None
    return _request(args, validate(config, "new run form"))


def _request(args: argparse.Namespace, config: Config) -> RunRequest:
    from .cli import resolve_run
    from .core.runs import new_run_id

    if args.events == "-":
        raise InputError("the app draws on the terminal, so events cannot go to stdout",
                         field="--events", hint="give a file, or add --headless")
    store = Store(store_path(config))
    try:
        config, run_id, resume = resolve_run(args, config, store)
    finally:
        store.close()
    return RunRequest(config, run_id or new_run_id(), resume, args.events)
