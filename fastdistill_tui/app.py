"""The Textual app: one run, live. `create_app(args)` is the factory the CLI and the tests share;
`FastDistillApp(replay=events)` draws a recorded run (snapshot tests, history);
`FastDistillApp(home=config)` opens on the stored runs (screens/home.py), from which a run is
opened, compared, resumed.

The engine runs on its own thread (live.py); its events arrive as messages, and only the
handlers below change the state and the widgets.
"""

from __future__ import annotations

import argparse
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from .core import events as ev
from .core.config import Config, default_config_path
from .core.runs import run_dir_for
from .core.errors import FastDistillError, InputError
from .core.run_index import (RunSummary, delete_run, flatten, kept_differences, reject_reasons,
                             run_config, run_samples, run_summaries, shared_samples)
from .core.gates import GateDecision
from .core.store import Store
from .launch import (RunRequest, load_run_config, request_from_args, run_parser, run_request,
                     store_path)
from .live import EngineEvent, EngineFailed, EngineThread, GateQuestion, ProgressChanged
from .run_state import RunState, status_word
from .screens.compare import CompareScreen
from .screens.confirm import ConfirmScreen
from .screens.gate import GateScreen
from .screens.help import HelpScreen, screen_keys
from .screens.home import HomeScreen
from .screens.new_run import NewRunScreen
from .screens.recorded import RecordedRunScreen
from .screens.run import RunScreen
from .screens.settings import SettingsScreen
from .widgets.format import in_app

JOIN_ON_EXIT_S = 10.0  # how long leaving the app waits for a stopped engine to save
REASONS_EVERY_S = 3.0  # how often a live run's reject reasons are read from the store


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
        Binding("escape", "back", "Back"),
        Binding("s", "stop", "Stop (drain + save)"),
        Binding("ctrl+c", "interrupt", "Stop · twice: abort", priority=True),
        Binding("q", "quit_when_done", "Quit"),
        Binding("ctrl+q", "quit_when_done", "Quit", show=False, priority=True),
        Binding("question_mark", "help", "Help"),
        Binding("f1", "help", "Help", show=False),
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
        self._ticker: Any = None
        self._reasons_read = 0.0  # when the run store was last asked why samples are dropped

    # -- lifecycle --------------------------------------------------------------------------
    async def on_mount(self) -> None:
        if self.home_config is not None:
            await self.push_screen(HomeScreen(
                self._summaries, open_run=self.open_run, compare=self.compare,
                resume=self.resume_run, delete=self.delete_run,
                run_dir=lambda run: str(self._run_dir(run.run_id)), live_run=self.live_run_id,
                started_here=lambda: self.run_request.run_id if self.run_request else None))
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
        if self._ticker is None:
            self._ticker = self.set_interval(1.0, self._tick)
        self.refresh_bindings()

    def live_run_id(self) -> str | None:
        """The run this app's engine is running now (None: none, or it has ended)."""
        if self.engine is None or self.run_request is None or not self._engine_going():
            return None
        return self.run_request.run_id

    def _engine_going(self) -> bool:
        return self.state.finished is None and not self.state.failure

    def _open_live(self, request: RunRequest) -> None:
        """A fresh dashboard for a run started from home (a second one after the first
        ended starts from an empty state), kept installed so Esc back and Enter again
        return to the same screen."""
        if self.is_screen_installed("live"):
            self.uninstall_screen("live")
        self.state, self.result, self.aborted = RunState(), RunResult(), False
        self.run_screen = RunScreen(trail="Runs")
        self.install_screen(self.run_screen, "live")
        self.run_request = request
        self.push_screen("live")
        self._start_engine()

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

    def _run_dir(self, run_id: str) -> Path:
        assert self.home_config is not None
        return run_dir_for(self.home_config, run_id)

    def open_run(self, run: RunSummary) -> None:
        """The live dashboard for the run in progress, the recorded one for any other."""
        if run.run_id == self.live_run_id():
            self.push_screen("live")
            return
        self.push_screen(RecordedRunScreen(
            run, self._run_dir(run.run_id) / "events.jsonl",
            lambda: self._with_store(lambda store: run_samples(store, run.run_id)),
            self.resume_run,
            reasons=self._with_store(lambda store: reject_reasons(store, run.run_id))))

    def delete_run(self, run: RunSummary) -> None:
        """Its rows in the store and its directory (the teacher cache stays)."""
        self._with_store(lambda store: delete_run(store, run.run_id))
        shutil.rmtree(self._run_dir(run.run_id), ignore_errors=True)

    def compare(self, a: RunSummary, b: RunSummary) -> None:
        assert self.home_config is not None
        config = self.home_config
        self.push_screen(CompareScreen(
            a, b,
            config_a=flatten(self._with_store(lambda s: run_config(s, a.run_id))),
            config_b=flatten(self._with_store(lambda s: run_config(s, b.run_id))),
            dir_a=run_dir_for(config, a.run_id), dir_b=run_dir_for(config, b.run_id),
            differences=self._with_store(lambda s: kept_differences(s, a.run_id, b.run_id)),
            shared=self._with_store(lambda s: shared_samples(s, a.run_id, b.run_id))))

    def action_new_run(self) -> None:
        self.push_screen(NewRunScreen(self.start_new_run))

    def action_settings(self) -> None:
        try:
            self.push_screen(SettingsScreen(default_config_path()))
        except FastDistillError as exc:
            self.notify(in_app(str(exc)), severity="error", timeout=6)

    def start_new_run(self, argv: list[str], gates: dict[str, str]) -> None:
        """Start the form's run; bad input raises with the command line's message."""
        if self.live_run_id() is not None:
            raise InputError("a run is already in progress in this app",
                             hint="wait for it to end, or start this one in another terminal")
        request = run_request(argv, gates)
        self.pop_screen()  # the form: Esc on the dashboard goes back to the runs
        self._open_live(request)

    def resume_run(self, run: RunSummary) -> None:
        """The live dashboard on a stored run, resumed as `fastdistill --resume ID` would."""
        if self.live_run_id() is not None:
            self.notify("a run is already in progress: wait for it to end", timeout=3)
            return
        try:
            request = run_request(["--resume", run.run_id])
        except FastDistillError as exc:
            self.notify(in_app(str(exc)), severity="error", timeout=6)
            return
        if isinstance(self.screen, RecordedRunScreen):
            self.pop_screen()  # the recorded picture of the run gives way to the live one
        self._open_live(request)

    def on_unmount(self) -> None:
        """Leaving while the engine runs (tests, an abort): stop it and give it time to save,
        unless the user asked to abort."""
        if self.engine is not None and not self.aborted:
            self.engine.cancel.set()
            self.engine.join(JOIN_ON_EXIT_S)

    def _tick(self) -> None:
        if self.state.running:  # the clock in the header moves
            self.run_screen.show_header(self.state, self.clock())
            if time.monotonic() - self._reasons_read >= REASONS_EVERY_S:
                self._read_reasons()

    def _read_reasons(self) -> None:
        """Why samples are dropped, from the run store (events carry only the counts)."""
        request = self.run_request
        if request is None or not self.state.run_id or not store_path(request.config).exists():
            return
        self._reasons_read = time.monotonic()
        store = Store(store_path(request.config))
        try:
            self.state.reasons = reject_reasons(store, request.run_id)
        finally:
            store.close()
        self._redraw()

    def _redraw(self) -> None:
        self.run_screen.show(self.state, self.clock())

    # -- engine messages --------------------------------------------------------------------
    def on_progress_changed(self, message: ProgressChanged) -> None:
        for event in message.take():
            self.state.apply(event)
        self._redraw()

    def on_engine_event(self, message: EngineEvent) -> None:
        event = message.event
        stopping = self.state.stopping
        self.state.apply(event)
        self.run_screen.log_event(event, stopping)
        if isinstance(event, ev.RunFinished):
            self._finished(event)
        elif isinstance(event, (ev.RunStarted, ev.GateEvaluated, ev.GateDecided)):
            self.refresh_bindings()  # Stop and Quit change with the run's state
        self._redraw()

    def on_gate_question(self, message: GateQuestion) -> None:
        if not self.state.running or self.state.stopping:
            return  # the engine drops the question itself once it sees the stop

        def decided(proceed: bool | None) -> None:
            self.gate_screen = None
            if proceed is not None:  # None: closed by a stop or the end, nobody decided
                message.answer(GateDecision(proceed, "user"))

        self.gate_screen = GateScreen(message.event, self.state.total, self.state.requests,
                                      self._overridden_before(message.event.gate))
        self.push_screen(self.gate_screen, decided)

    def _overridden_before(self, gate: str) -> ev.GateEvaluated | None:
        """This gate's last failed check that the user overrode in this run."""
        overrides = [d for d in self.state.decisions
                     if d.gate == gate and d.proceed and d.by == "user"]
        failed = [g for g in self.state.gates if g.gate == gate and not g.passed]
        return failed[-2] if overrides and len(failed) >= 2 else None

    def on_engine_failed(self, message: EngineFailed) -> None:
        self.state.failure = message.message
        self.result = RunResult(message.exit_code, f"error: {message.message}")
        self.run_screen.log_line(time.time(), in_app(message.message), "error")
        self._close_gate()
        self.refresh_bindings()
        self._redraw()

    def _finished(self, event: ev.RunFinished) -> None:
        self._read_reasons()
        self.result = RunResult(event.exit_code,
                                f"run {event.run_id} {event.status}: {event.run_dir}")
        self._close_gate()
        self.refresh_bindings()
        back = "Esc goes back to the runs, " if self.home_config is not None else ""
        self.notify(f"run {status_word(event.status)} — {back}q quits", timeout=4)

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

    def deliver_screenshot(self, filename: str | None = None, path: str | None = None,
                           time_format: str | None = None) -> str | None:
        """Palette → Screenshot: into the run's directory on a run's screen, else the data
        directory's screenshots/ (Textual's default, ~/Downloads, may not exist); Textual
        says where once saved."""
        if path is None:
            path = str(self.screenshot_dir())
        return super().deliver_screenshot(filename, path, time_format)

    def screenshot_dir(self) -> Path:
        screen = self.screen
        run_dir = getattr(getattr(screen, "state", None), "run_dir", "") if isinstance(
            screen, RunScreen) else ""
        if screen is self.run_screen:
            run_dir = self.state.run_dir
        if run_dir and Path(run_dir).is_dir():
            return Path(run_dir)
        config = self.home_config or (self.run_request.config if self.run_request else None)
        target = (config.data_dir / "screenshots") if config is not None else Path.cwd()
        target.mkdir(parents=True, exist_ok=True)
        return target

    def action_home(self) -> None:
        while len(self.screen_stack) > 2 and not isinstance(self.screen, HomeScreen):
            self.pop_screen()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The footer shows a key only where it works: Stop on the live dashboard of a run
        going, Ctrl+C while a run goes, Quit once none goes (and not on a form, where q is a
        letter), Back where there is a screen to go back to."""
        on_run = self.screen is self.run_screen or isinstance(self.screen, GateScreen)
        going = self.engine is not None and self.state.running
        if action == "stop":
            return going and on_run
        if action == "interrupt":
            return going
        if action == "quit_when_done":
            return not going and not isinstance(self.screen, (NewRunScreen, SettingsScreen))
        if action == "back":
            return len(self.screen_stack) > 2
        return True

    def action_back(self) -> None:
        """Esc: one screen back, after asking where leaving would lose something."""
        if len(self.screen_stack) <= 2:
            return
        loss = getattr(self.screen, "would_lose", lambda: "")()
        if not loss:
            self.pop_screen()
            return

        def answered(leave: bool | None) -> None:
            if leave:
                self.pop_screen()

        self.push_screen(ConfirmScreen(f"{loss}\nLeave anyway?", "Leave", "Stay"), answered)

    def action_help(self) -> None:
        screen = self.screen
        if isinstance(screen, HelpScreen):
            return
        self.push_screen(HelpScreen(getattr(screen, "NAME", type(screen).__name__),
                                    getattr(screen, "HELP", None) or "", screen_keys(screen)))

    def action_stop(self) -> None:
        if self.engine is None or not self.state.running:
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
        self.refresh_bindings()
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
        if self.engine is not None and self.state.running:
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
    if args is None or isinstance(args, list):
        try:
            args = run_parser().parse_args(args or [])
        except argparse.ArgumentError as exc:
            raise InputError(str(exc)) from None
    return FastDistillApp(request_from_args(args, load_run_config(args)))
