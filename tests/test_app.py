"""The app driven by Textual's pilot on real runs: the bundled offline job, and a real loopback
teacher whose answers fail the gate. Tests poll a predicate; they never sleep for a result."""

from __future__ import annotations

import dataclasses
import io
import json
import time
from pathlib import Path

import pytest
from loopback_server import LoopbackServer
from rich.console import Console
from rich.text import Text
from textual.geometry import Region
from test_engine import gold_responder, make_dataset

from fastdistill_tui.app import FastDistillApp, create_app
from fastdistill_tui.core import events as ev
from fastdistill_tui.core.errors import InputError
from fastdistill_tui.core.events import read_events
from fastdistill_tui.live import EngineEvent, EventBridge, GateQuestion, ProgressChanged
from fastdistill_tui.run_state import RunState
from fastdistill_tui.screens.gate import GateScreen
from fastdistill_tui.widgets.quality_panel import QualityPanel
from fastdistill_tui.widgets.request_panel import RequestPanel
from fastdistill_tui.widgets.result_panel import ResultPanel
from fastdistill_tui.widgets.run_header import RunHeader
from fastdistill_tui.widgets.stage_table import StageTable
from fastdistill_tui.widgets.student_panel import StudentPanel
from fastdistill_tui.widgets.timing_bars import TimingBars

REPLAY = Path(__file__).parent / "data" / "replay_run.jsonl"
HANG_GUARD_S = 120  # only against a hang; a slow machine passes, it just takes longer


def text_of(widget, width: int = 120) -> str:
    """What a Static shows, as plain text."""
    console = Console(width=width, file=io.StringIO(), record=True, color_system=None)
    console.print(widget.content)
    return console.export_text()


def shown_lines(widget) -> list[str]:
    """What a widget shows on screen, its border and border titles included, line by line."""
    return [strip.text for strip in widget.render_lines(Region(0, 0, *widget.outer_size))]


async def wait_for(pilot, predicate, what: str) -> None:
    deadline = time.monotonic() + HANG_GUARD_S
    while not predicate():
        assert time.monotonic() < deadline, f"never happened: {what}"
        await pilot.pause(0.05)


def engine_events(messages: list) -> list[ev.Event]:
    return [m.event for m in messages if isinstance(m, EngineEvent)]


def manifest(app: FastDistillApp) -> dict:
    path = Path(app.state.run_dir) / "manifests" / "run.manifest.json"
    return json.loads(path.read_text(encoding="utf-8"))


def prompt_open(app: FastDistillApp) -> bool:
    """The gate prompt is on screen with its content mounted."""
    return isinstance(app.screen, GateScreen) and bool(app.screen.query("#override"))


async def answer_the_gate(pilot, key: str) -> None:
    """Wait for the gate prompt, press `key` in it, wait for the run's end."""
    await wait_for(pilot, lambda: prompt_open(pilot.app), "the prompt")
    await pilot.press(key)
    await wait_for(pilot, lambda: pilot.app.state.finished is not None, "the run's end")


def failing_gate_config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text("[gates.teacher_eval]\nmin_total = 10\ngold_match_rate = 0.9\n",
                    encoding="utf-8")
    return path


def failing_gate_app(tmp_path: Path, data: Path, base_url: str):
    """The app on a loopback teacher whose answers fail the gate (gold match ≥ 0.9)."""
    return create_app(["--config", str(failing_gate_config(tmp_path)), "--dataset",
                       f"jsonl:{data}", "--teacher", "openai:m", "--base-url", base_url,
                       "--concurrency", "4"])


async def test_offline_run_advances_every_row_to_done_with_timings_and_requests(tmp_path):
    messages: list = []
    events_file = tmp_path / "events.jsonl"
    app = create_app(["--limit", "120", "--no-student", "--events", str(events_file)])
    async with app.run_test(size=(120, 40), message_hook=messages.append) as pilot:
        screen = app.run_screen
        await wait_for(pilot, lambda: app.state.finished is not None, "the run's end")
        await pilot.pause()
        stages = text_of(screen.query_one(StageTable))
        for name in ("canonical", "dedup", "gold_check", "teacher", "execeval", "score",
                     "select", "export"):
            line = next(line for line in stages.splitlines() if line.strip().startswith(name))
            assert "✓ done" in line, line
        assert "120/120" in stages
        timings = text_of(screen.query_one(TimingBars))
        assert "teacher" in timings and "p50" in timings and "queue wait" in timings
        assert " %" in timings
        requests = text_of(screen.query_one(RequestPanel))
        assert "fresh" in requests and "120" in requests and "projected" in requests
        result = text_of(screen.query_one(ResultPanel))
        assert "completed" in result and app.state.run_dir in result
        assert "mlx/train.jsonl" in result
        await pilot.press("q")
    assert app.return_code == 0
    assert app.result.line.startswith(f"run {app.state.run_id} completed: ")
    seen = engine_events(messages)
    kinds = [type(e).__name__ for e in seen]
    assert kinds[0] == "RunStarted" and kinds[-1] == "RunFinished"
    assert seen[0].total == 120
    finished = [e.stage for e in seen if isinstance(e, ev.StageFinished)]
    assert finished.index("score") < finished.index("select") < finished.index("export")
    assert any(isinstance(m, ProgressChanged) for m in messages)
    copied = [e.run_id for e in read_events(events_file)]
    assert len(copied) >= len(seen) and set(copied) == {app.state.run_id}  # --events
    assert not any(isinstance(m, GateQuestion) for m in messages)  # the gate passed


async def test_failing_gate_opens_the_prompt_and_override_continues(tmp_path):
    data, gold = make_dataset(tmp_path / "data", 60)
    messages: list = []
    with LoopbackServer(responder=gold_responder(gold, wrong_every=2)) as srv:
        app = failing_gate_app(tmp_path, data, srv.base_url)
        async with app.run_test(size=(120, 40), message_hook=messages.append) as pilot:
            for answered in range(2):  # the early check, then the final one
                await wait_for(pilot, lambda: prompt_open(app)
                               and len(app.state.decisions) == answered, "the gate prompt")
                prompt = app.screen
                assert prompt.event.early == (answered == 0)
                table = text_of(prompt.query_one("#gate-metrics"))
                assert "gold-match" in table and "≥ 0.90" in table and "✗ FAIL" in table
                assert "✓ pass" in table  # exec-pass is fine
                assert app.screen.query_one("#override").label.plain.startswith("o")
                keys = {k for k, a in app.screen.active_bindings.items() if a.binding.show}
                assert {"o", "a"} <= keys  # in the footer too
                since = prompt.query("#gate-since")
                if answered:  # the final check says what changed since the override
                    assert "You overrode this gate at the early check" in text_of(since.first())
                else:
                    assert not since
                await pilot.press("o")
                await wait_for(pilot, lambda: len(app.state.decisions) == answered + 1,
                               "the decision")
            await wait_for(pilot, lambda: app.state.finished is not None, "the run's end")
            quality = app.run_screen.query_one(QualityPanel)
            assert "overridden by user" in text_of(quality)
    assert app.state.finished.status == "completed"
    decided = [e for e in engine_events(messages) if isinstance(e, ev.GateDecided)]
    assert [(d.proceed, d.by) for d in decided] == [(True, "user"), (True, "user")]
    kinds = [type(m).__name__ for m in messages
             if isinstance(m, (GateQuestion, EngineEvent))
             and (isinstance(m, GateQuestion) or type(m.event).__name__.startswith("Gate"))]
    assert kinds == ["EngineEvent", "GateQuestion", "EngineEvent"] * 2
    assert [(d["proceed"], d["by"]) for d in manifest(app)["gate_decisions"]] == [
        (True, "user"), (True, "user")]


async def test_abort_at_the_gate_stops_the_run_and_is_recorded(tmp_path):
    data, gold = make_dataset(tmp_path / "data", 60)
    with LoopbackServer(responder=gold_responder(gold, wrong_every=2)) as srv:
        app = failing_gate_app(tmp_path, data, srv.base_url)
        async with app.run_test(size=(120, 40)) as pilot:
            await answer_the_gate(pilot, "a")
            result = " ".join(text_of(app.run_screen.query_one(ResultPanel)).split())
            assert "under [gates.teacher_eval]" in result  # messages are text, not markup
            assert "gate failed" in result and "--headless" not in result
            assert ("r on its row in Runs resumes it (or `fastdistill --resume "
                    f"{app.state.run_id}`); the gate will ask again and o overrides it") in result
            await pilot.press("q")
        asked = srv.request_count
    assert app.return_code == 3
    assert asked < 60  # stopped before paying for the rest
    assert [(d["early"], d["proceed"], d["by"]) for d in manifest(app)["gate_decisions"]] == [
        (True, False, "user")]


async def test_stop_drains_and_the_run_resumes_to_the_end(tmp_path):
    data, gold = make_dataset(tmp_path / "data", 60)
    with LoopbackServer(responder=gold_responder(gold), latency_s=0.05) as srv:
        args = ["--dataset", f"jsonl:{data}", "--teacher", "openai:m", "--base-url",
                srv.base_url, "--concurrency", "2"]
        app = create_app(args)
        async with app.run_test(size=(120, 40)) as pilot:
            teacher = lambda: app.state.stages.get("teacher")  # noqa: E731
            await wait_for(pilot, lambda: teacher() is not None and teacher().done >= 4,
                           "a few answers")
            await pilot.press("s")
            log = app.run_screen.query_one("#log")
            assert "the run stays resumable" in "\n".join(line.text for line in log.lines)
            await wait_for(pilot, lambda: app.state.finished is not None, "the drained end")
            assert "stopped" in text_of(app.run_screen.query_one(StageTable))
            await pilot.press("q")
        assert app.return_code == 130
        assert app.state.finished.status == "cancelled"
        asked = srv.request_count
        assert asked < 60
        # a plain rerun of the same options resumes the run and asks only for the rest
        again = create_app(args)
        async with again.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: again.state.finished is not None, "the resumed end")
        assert again.state.resumed and again.state.run_id == app.state.run_id
        assert again.state.finished.status == "completed"
        assert srv.request_count == 60


async def test_second_ctrl_c_aborts_without_waiting(tmp_path):
    data, gold = make_dataset(tmp_path / "data", 60)
    with LoopbackServer(responder=gold_responder(gold), latency_s=5.0) as srv:
        app = create_app(["--dataset", f"jsonl:{data}", "--teacher", "openai:m",
                          "--base-url", srv.base_url, "--concurrency", "2"])
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: app.state.requests is not None, "requests")
            await pilot.press("ctrl+c")
            assert app.state.stopping
            await pilot.press("ctrl+c")
        assert app.aborted and app.return_code == 130
        assert "aborted (resumable)" in app.result.line
        app.engine.join(HANG_GUARD_S)  # let the drained engine finish before the server goes


async def test_quit_is_refused_while_the_run_is_going(tmp_path):
    data, gold = make_dataset(tmp_path / "data", 60)
    with LoopbackServer(responder=gold_responder(gold), latency_s=0.05) as srv:
        app = create_app(["--dataset", f"jsonl:{data}", "--teacher", "openai:m",
                          "--base-url", srv.base_url, "--concurrency", "2"])
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: app.state.running, "the run's start")
            await pilot.press("q")
            await pilot.pause()
            assert app.is_running and app.state.running
            await wait_for(pilot, lambda: app.state.finished is not None, "the run's end")
            await pilot.press("q")
        assert app.return_code == 0


async def test_engine_error_shows_its_message_without_a_traceback(tmp_path):
    bad, _ = make_dataset(tmp_path / "data", 3)  # 5 good rows, then a broken one
    with open(bad, "a", encoding="utf-8") as fh:
        fh.write("not json\n")
    app = create_app(["--dataset", f"jsonl:{bad}"])
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: bool(app.state.failure), "the failure")
        log = "\n".join(line.text for line in app.run_screen.query_one("#log").lines)
        assert "questions.jsonl:6: not valid JSON" in app.state.failure
        assert "not valid JSON" in log and "Traceback" not in log
        assert "failed" in text_of(app.run_screen.query_one(ResultPanel))
        await pilot.press("q")
    assert app.return_code == 2


def test_bad_options_fail_before_the_app_opens():
    with pytest.raises(InputError, match="--events"):
        create_app(["--events", "-"])


async def test_a_burst_of_progress_costs_one_message():
    messages: list = []
    app = FastDistillApp()
    async with app.run_test(message_hook=messages.append) as pilot:
        bridge = EventBridge(app)
        for i in range(1000):
            for stage in ("teacher", "score"):
                bridge(ev.StageProgress("r", stage=stage, done=i, total=1000))
        await pilot.pause()
        assert app.state.stages["teacher"].done == 999
        assert app.state.stages["score"].done == 999
    assert sum(isinstance(m, ProgressChanged) for m in messages) == 1


async def test_events_before_the_dashboard_is_composed_are_drawn_once_it_is():
    """A busy machine can deliver a run's first events and the clock's tick before the pushed
    dashboard has composed its panels (CI once failed so: NoMatches for RunHeader)."""
    from fastdistill_tui.screens.run import RunScreen
    from fastdistill_tui.widgets.run_header import RunHeader

    events = list(read_events(REPLAY))
    app = FastDistillApp()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = RunScreen(trail="Runs")
        for event in events[:3]:
            app.state.apply(event)
            screen.log_event(event)
        screen.log_line(events[0].ts, "a line before the panels", "warning")
        screen.show(app.state, app.state.last_ts)
        screen.show_header(app.state, app.state.last_ts)
        await app.push_screen(screen)
        await wait_for(pilot, lambda: screen.query(RunHeader), "the panels")
        await pilot.pause()
        logged = "\n".join(strip.text for strip in screen.query_one("#log").lines)
        assert "a line before the panels" in logged
        assert app.state.run_id in text_of(screen.query_one(RunHeader))


async def test_replayed_student_events_fill_the_student_panel():
    app = FastDistillApp(replay=read_events(REPLAY))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.state.finished is not None, "the replay's end")
        panel = app.run_screen.query_one(StudentPanel)
        assert panel.display
        line = text_of(panel.query_one("#train-line"))
        assert "iter 200/200" in line and "loss" in line
        assert len(panel.query_one("#loss-curve").data) == 20
        table = text_of(panel.query_one("#before-after"))
        assert "exec-pass" in table and "0.41" in table and "0.88" in table
        assert "+0.47" in table and "+0.31" in table
        stages = text_of(app.run_screen.query_one(StageTable))
        assert "train" in stages and "200/200" in stages


async def test_stop_while_the_gate_prompt_is_open_drops_the_question(tmp_path):
    data, gold = make_dataset(tmp_path / "data", 60)
    with LoopbackServer(responder=gold_responder(gold, wrong_every=2)) as srv:
        app = failing_gate_app(tmp_path, data, srv.base_url)
        async with app.run_test(size=(120, 40)) as pilot:
            await answer_the_gate(pilot, "s")
            assert app.screen is app.run_screen
            await pilot.press("q")
    assert app.return_code == 130 and app.state.finished.status == "cancelled"
    assert app.state.decisions == []
    assert manifest(app)["gate_decisions"] == []


def test_run_without_headless_opens_the_app(capsys):
    """`fastdistill run` goes to the app, which refuses what it cannot do, as a clean error."""
    from fastdistill_tui import cli

    assert cli.main(["run", "--events", "-"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "--events: the app draws on the terminal" in err


async def test_a_real_student_fills_the_student_panel(tmp_path, monkeypatch):
    """The student stages of issue 10 on a tiny model built here: training progress, then the
    before/after table, from the engine's own events."""
    from student_helpers import tiny_student

    monkeypatch.delenv("FASTDISTILL_STUDENT_ENABLED")  # conftest turns it off; the file says on
    student = tiny_student(tmp_path / "student")
    config = tmp_path / "config.toml"
    # The tiny tokenizer (400 tokens) spends ~2.5 tokens a word: with the database's rows a
    # prompt alone passes max_seq_length 256, so no answer token is left to learn (NaN loss).
    config.write_text(
        f"[student]\nenabled = true\nspec = '{student}'\nprofile = 'quick'\niters = 8\n"
        "learning_rate = 0.001\nnum_layers = 2\nsave_every = 2\nsteps_per_eval = 8\n"
        "max_seq_length = 256\nmax_tokens = 8\neval_limit = 6\neval_batch_size = 4\n"
        "[prompt]\ndb_content = false\n", encoding="utf-8")
    messages: list = []
    app = create_app(["--config", str(config), "--limit", "60"])
    async with app.run_test(size=(120, 40), message_hook=messages.append) as pilot:
        await wait_for(pilot, lambda: app.state.finished is not None, "the run's end")
        await pilot.pause()
        assert app.state.finished.status == "completed", app.state.finished.message
        panel = app.run_screen.query_one(StudentPanel)
        assert panel.display
        assert "iter 8/8" in text_of(panel.query_one("#train-line"))
        table = text_of(panel.query_one("#before-after"))
        assert "before" in table and "after" in table and "on 6 held-out" in table
        assert "teacher on them: exec-pass" in table  # its rates on the same questions
        stages = text_of(app.run_screen.query_one(StageTable))
        for name in ("student_eval_pre", "train", "student_eval_post"):
            line = next(line for line in stages.splitlines() if line.startswith(name))
            assert "✓ done" in line, line
    phases = [e.phase for e in engine_events(messages) if isinstance(e, ev.StudentMetrics)]
    assert phases == ["teacher", "pre", "post"]


LONG_DATASET = "spider:/work/shared/data/spider-de-dev [dev]"


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_the_header_fits_its_line_with_the_run_id_and_status_whole(size):
    """At 120 columns the header ended `teacher builtin:rules-v1 ·`: a long dataset path was
    cut away and its separator left dangling."""
    events = list(read_events(REPLAY))
    events[0] = dataclasses.replace(events[0], dataset=LONG_DATASET)
    app = FastDistillApp(replay=events)
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: app.state.finished is not None, "the replay's end")
        await pilot.pause()
        line = shown_lines(app.run_screen.query_one(RunHeader))[0].rstrip()
        assert app.state.run_id in line and " completed " in line, line
        assert not line.endswith(("·", "…", "›")), line
        if size[0] == 120:
            assert "spider:…/" in line and "spider-de-dev [dev]" in line, line  # cut in the middle


def test_the_header_gives_way_part_by_part_at_every_width():
    from fastdistill_tui.widgets.run_header import header_line

    state = RunState()
    state.apply(ev.RunStarted("20261204-175841-45d10a", config_hash="h", dataset=LONG_DATASET,
                              teacher="openai:qwen2.5-coder-7b-instruct", total=1300, ts=10.0))
    essentials = "Runs › 20261204-175841-45d10a   running  0:05"
    for width in range(len(essentials) + 1, 200):
        line = header_line(state, 15.0, "Runs", width)
        assert isinstance(line, Text) and line.cell_len <= width, (width, line.plain)
        assert essentials in line.plain, (width, line.plain)
        assert not line.plain.rstrip().endswith(("·", "…", "›")), (width, line.plain)
        # the sample count goes first (the stage table has it), then the app's name
        assert "FastDistill" in line.plain or "samples" not in line.plain, line.plain
    assert "spider-de-dev" in header_line(state, 15.0, "Runs", 200).plain


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
@pytest.mark.parametrize("proceed, by", [(True, "user"), (False, "policy")])
async def test_the_gate_panel_says_its_verdict_whole(size, proceed, by):
    """`╰─ FAILED, stopped by policy · early · on … ─╯` under the 46-column panel at 120."""
    events = list(read_events(REPLAY))
    final = max(i for i, e in enumerate(events) if isinstance(e, ev.GateEvaluated))
    metrics = {**events[final].metrics, "min_total": {"value": 12000.0, "threshold": 50.0,
                                                      "passed": True},
               "gold_match_rate": {"value": 0.04, "threshold": 0.1, "passed": False}}
    events[final] = dataclasses.replace(events[final], passed=False, metrics=metrics)
    events[final + 1] = dataclasses.replace(events[final + 1], proceed=proceed,
                                            overridden=proceed, by=by)
    app = FastDistillApp(replay=events)
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: app.state.finished is not None, "the replay's end")
        await pilot.pause()
        lines = shown_lines(app.run_screen.query_one(QualityPanel))
        assert "FAILED · final check · 12000 answers" in lines[-1], lines[-1]
        assert "…" not in "".join(lines)
        said = "overridden by user" if proceed else "stopped by policy"
        assert any(said in line for line in lines), lines


async def test_a_reason_that_wraps_hangs_under_its_words_with_its_code_whole():
    """In the 44-column box `another number of columns than` went on with `gold` at column 0
    and `(col_count)` on a line of its own."""
    from fastdistill_tui.widgets.reject_panel import RejectPanel, in_words

    reasons = {"select": {"col_count": 18, "empty_result": 16, "value_mismatch": 11},
               "gold_check": {"gold_error": 2}, "suite_check": {"suite_mismatch": 1}}
    app = FastDistillApp(replay=read_events(REPLAY))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.state.finished is not None, "the replay's end")
        app.state.reasons = reasons
        app._redraw()
        await pilot.pause()
        body = [line[2:-2].rstrip() for line in shown_lines(
            app.run_screen.query_one(RejectPanel))[1:-1]]
        assert [line for line in body if not line.startswith(" ")] == list(reasons), body
        assert all(line.startswith(" " * 8) or line[:6].strip().isdigit()
                   for line in body if line.startswith(" ")), body
        shown = " ".join(" ".join(body).split())
        for codes in reasons.values():
            for code in codes:
                assert f"{in_words(code)} ({code})" in shown, shown
        assert "        gold (col_count)" in body, body
