"""Keys and navigation as a Posting or lazygit user expects them (issue 18), driven by
Textual's pilot on real runs in a real store (tests/stored_runs.py): `/` filters and then takes
every key, Esc goes back one screen (asking where something would be lost), `?` lists a
screen's keys, the footer offers only keys that work there, and a run aborted from the app
ends with a final status."""

from __future__ import annotations

import threading

import pytest
from loopback_server import LoopbackServer
from stored_runs import RUNS, make_runs
from test_app import HANG_GUARD_S, prompt_open, text_of, wait_for
from test_app_home import table_rows
from test_engine import make_dataset

from fastdistill_tui import cli
from fastdistill_tui.app import create_home_app
from fastdistill_tui.core import config as cfg
from fastdistill_tui.core.engine import Engine, run_dir_for
from fastdistill_tui.core.store import Store
from fastdistill_tui.launch import store_path
from fastdistill_tui.screens.compare import CompareScreen
from fastdistill_tui.screens.confirm import ConfirmScreen
from fastdistill_tui.screens.help import HelpScreen
from fastdistill_tui.screens.home import HomeScreen
from fastdistill_tui.screens.new_run import NewRunScreen
from fastdistill_tui.screens.recorded import RecordedRunScreen, SamplesScreen
from fastdistill_tui.screens.settings import SettingsScreen
from fastdistill_tui.widgets.run_header import RunHeader

IDS = [run_id for run_id, *_ in RUNS]


@pytest.fixture
def stored():
    return make_runs()


def footer_keys(app) -> dict[str, str]:
    """What the footer offers now: key → description."""
    return {key: active.binding.description for key, active in app.screen.active_bindings.items()
            if active.binding.show and active.enabled}


async def home(pilot) -> HomeScreen:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, HomeScreen), "home")
    return pilot.app.screen


@pytest.mark.parametrize("word", ["queue", "completed", "nova", "resume", "delete"])
async def test_the_filter_takes_every_key_once_slash_focused_it(stored, word):
    """Today the first key went to the list: `queue` quit, `completed` compared, `nova`
    opened the form, `r` never reached the filter."""
    app = create_home_app(stored)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await home(pilot)
        await pilot.press("slash", *word)
        assert app.is_running and app.screen is screen
        assert screen.query_one("Input").value == word
        matched = bool(table_rows(screen))
        await pilot.press("escape")  # leaves the filter, which stays if it matches any run
        assert screen.focused is screen.query_one("DataTable")
        assert screen.query_one("Input").value == (word if matched else "")


async def test_a_filter_matching_nothing_says_so(stored):
    app = create_home_app(stored)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await home(pilot)
        await pilot.press("slash", *"nomatch")
        assert not table_rows(screen)
        assert "no run matches" in str(screen.query_one("#home-empty").render())
        assert "0 of 3" in str(screen.query_one("#home-title").render())
        assert "Esc clears the filter" in str(screen.query_one("#home-empty").render())
        await pilot.press("escape")  # said so: the first Esc only left the box
        await pilot.pause()
        assert screen.query_one("Input").value == ""
        assert screen.focused is screen.query_one("DataTable")
        assert len(table_rows(screen)) == 3 and not screen.query_one("#home-empty").display


async def test_sort_from_the_keyboard(stored):
    app = create_home_app(stored)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await home(pilot)
        await pilot.press("s")  # date → status, ascending
        assert [r[2] for r in table_rows(screen)] == ["completed", "completed", "gate failed"]
        assert "sorted by status ↑" in str(screen.query_one("#home-title").render())
        await pilot.press("S")
        assert [r[2] for r in table_rows(screen)][0] == "gate failed"
        for _ in range(4):  # dataset, teacher, student, kept/samples
            await pilot.press("s")
        assert "sorted by kept/samples ↑" in str(screen.query_one("#home-title").render())
        assert [r[6].split("/")[1] for r in table_rows(screen)] == ["30", "60", "80"]


async def test_resume_from_home_and_esc_back_to_home_while_it_runs(stored):
    app = create_home_app(stored)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await home(pilot)
        assert "r" in footer_keys(app)  # the highlighted (newest) run failed its gate
        await pilot.press("r")
        await wait_for(pilot, lambda: app.state.run_id == IDS[2], "the live run")
        header = text_of(app.run_screen.query_one(RunHeader))
        assert f"Runs › {IDS[2]}" in header
        await wait_for(pilot, lambda: prompt_open(app), "the gate prompt (30 < min_total 50)")
        await pilot.press("a")
        await wait_for(pilot, lambda: app.state.finished is not None, "the end")
        await pilot.press("escape")
        assert app.screen is screen
        assert not any(k in footer_keys(app) for k in ("ctrl+c",))


async def test_esc_goes_back_one_screen_everywhere(stored):
    app = create_home_app(stored)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await home(pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RecordedRunScreen), "the run")
        assert f"Runs › {IDS[2]}" in text_of(app.screen.query_one(RunHeader))
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, SamplesScreen), "samples")
        title = str(app.screen.query_one("#samples-title").render())
        assert f"Runs › {IDS[2]} › Samples" in title
        await pilot.press("down")  # the list has the focus, not the filter
        assert app.screen.focused is app.screen.query_one("DataTable")
        await pilot.press("escape")
        assert isinstance(app.screen, RecordedRunScreen)
        await pilot.press("escape")
        assert app.screen is screen
        await pilot.press("down", "space", "down", "space", "c")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen), "compare")
        await pilot.press("escape")
        assert app.screen is screen
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, NewRunScreen), "the form")
        await pilot.press("escape")  # nothing typed: nothing to lose
        assert app.screen is screen


async def test_esc_asks_before_dropping_a_typed_form_or_changed_settings(stored):
    app = create_home_app(stored)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await home(pilot)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, NewRunScreen), "the form")
        app.screen.query_one("#limit").value = "20"
        await pilot.press("escape")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")  # stay
        assert isinstance(app.screen, NewRunScreen)
        assert app.screen.query_one("#limit").value == "20"
        await pilot.press("escape", "y")
        assert app.screen is screen
        await pilot.press("comma")
        await wait_for(pilot, lambda: isinstance(app.screen, SettingsScreen), "settings")
        await pilot.press("escape")  # nothing changed
        assert app.screen is screen


async def test_delete_asks_then_removes_the_run_and_its_directory(stored):
    app = create_home_app(stored)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await home(pilot)
        run_dir = run_dir_for(stored, IDS[2])
        assert run_dir.exists()
        await pilot.press("delete")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert len(table_rows(screen)) == 3
        await pilot.press("delete", "y")
        await wait_for(pilot, lambda: len(table_rows(screen)) == 2, "the run gone")
    assert not run_dir.exists()
    store = Store(store_path(stored))
    try:
        assert store.get_run(IDS[2]) is None
        assert not store.query("SELECT 1 FROM results WHERE run_id = ?", (IDS[2],))
        assert store.get_run(IDS[1]) is not None
    finally:
        store.close()


async def test_y_copies_the_runs_directory(stored):
    app = create_home_app(stored)
    async with app.run_test(size=(120, 40)) as pilot:
        await home(pilot)
        await pilot.press("y")
        assert app.clipboard == str(run_dir_for(stored, IDS[2]))


async def test_help_lists_the_keys_of_the_screen_it_opened_on(stored):
    app = create_home_app(stored)
    async with app.run_test(size=(120, 40)) as pilot:
        await home(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        keys = text_of(app.screen.query_one("#help-keys"))
        for word in ("Filter", "Sort", "Delete", "Copy the run's directory", "Compare",
                     "Settings", "Reverse"):
            assert word in keys, keys
        await pilot.press("escape")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RecordedRunScreen), "the run")
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        keys = text_of(app.screen.query_one("#help-keys"))
        assert "Samples" in keys and "Resume" in keys and "Back" in keys
        assert "Stop" not in keys  # no run goes


async def test_the_footer_shows_only_keys_that_work_there(stored):
    app = create_home_app(stored)
    async with app.run_test(size=(120, 40)) as pilot:
        await home(pilot)
        keys = footer_keys(app)
        assert "ctrl+c" not in keys and keys.get("s") == "Sort"  # no run to stop
        assert keys.get("enter") == "Open" and "c" not in keys  # nothing marked yet
        await pilot.press("comma")
        await wait_for(pilot, lambda: isinstance(app.screen, SettingsScreen), "settings")
        keys = footer_keys(app)
        assert "s" not in keys and "q" not in keys and "ctrl+c" not in keys
        assert keys.get("escape") == "Back"
        await pilot.press("escape", "n")
        await wait_for(pilot, lambda: isinstance(app.screen, NewRunScreen), "the form")
        assert "q" not in footer_keys(app)


async def stopped_run_on_a_loopback_teacher(tmp_path, base_url: str) -> str:
    """A run stopped before its first answer (resumable), its teacher a loopback server."""
    config = cfg.load_config()
    data, _ = make_dataset(tmp_path / "data", 40)
    config.dataset.spec = f"jsonl:{data}"
    config.teacher.spec, config.teacher.base_url = "openai:m", base_url
    config.teacher.concurrency = 2
    config.student.enabled = False
    stop = threading.Event()
    stop.set()
    store = Store(store_path(config))
    try:
        engine = Engine(config, store, run_id="20261104-090000-dddddd")
        outcome = await engine.run(lambda event: None, cli.headless_gate_policy, stop)
    finally:
        store.close()
    assert outcome.status == "cancelled"
    return outcome.run_id


async def test_a_run_aborted_from_home_ends_cancelled_not_running(tmp_path, monkeypatch):
    """Ctrl+C twice on a run resumed from home: the store said `running` ever after, and
    Home with it."""
    with LoopbackServer(responder=lambda messages: "SELECT 1", latency_s=5.0) as srv:
        run_id = await stopped_run_on_a_loopback_teacher(tmp_path, srv.base_url)
        config = cfg.load_config()
        app = create_home_app(config)
        async with app.run_test(size=(120, 40)) as pilot:
            await home(pilot)
            await pilot.press("r")
            await wait_for(pilot, lambda: app.state.requests is not None
                           and app.state.requests.in_flight > 0, "requests in flight")
            await pilot.press("ctrl+c", "ctrl+c")
        assert app.aborted

        def exit_now(code: int) -> None:
            raise SystemExit(code)

        monkeypatch.setattr(cli.os, "_exit", exit_now)
        with pytest.raises(SystemExit) as left:
            cli.leave_app(app)
        assert left.value.code == 130
        store = Store(store_path(config))
        try:
            assert store.get_run(run_id)["status"] == "cancelled"
        finally:
            store.close()
        app.engine.join(HANG_GUARD_S)  # the drained engine ends before the server goes


async def test_home_reloads_when_shown_again(stored):
    """A run deleted (or added, resumed) behind the list shows when Home comes back."""
    app = create_home_app(stored)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await home(pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RecordedRunScreen), "the run")
        store = Store(store_path(stored))
        try:
            store.set_run_status(IDS[0], "cancelled")
        finally:
            store.close()
        await pilot.press("escape")
        assert app.screen is screen
        assert "stopped" in [r[2] for r in table_rows(screen)]


async def test_the_keys_panel_leaves_the_stage_rows_on_one_line_each():
    """Ctrl+P → Keys docks a panel on the right: every stage row wrapped onto three lines."""
    from test_app import REPLAY

    from fastdistill_tui.app import FastDistillApp
    from fastdistill_tui.core.events import read_events
    from fastdistill_tui.widgets.stage_table import StageTable

    app = FastDistillApp(replay=list(read_events(REPLAY))[:30])
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.state.requests is not None, "the replay")
        table = app.run_screen.query_one(StageTable)
        rows = len(app.state.stages) + 1  # and the header
        assert table.content_size.height == rows
        app.action_show_help_panel()
        await pilot.pause()
        await pilot.pause()
        assert table.content_size.height == rows


async def test_a_screenshot_goes_into_the_runs_directory(stored):
    app = create_home_app(stored)
    async with app.run_test(size=(120, 40)) as pilot:
        await home(pilot)
        assert app.screenshot_dir() == stored.data_dir / "screenshots"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RecordedRunScreen), "the run")
        assert app.screenshot_dir() == run_dir_for(stored, IDS[2])
        app.deliver_screenshot("shot.svg")
        await wait_for(pilot, lambda: (run_dir_for(stored, IDS[2]) / "shot.svg").exists(),
                       "the screenshot")
        # Textual's delivery thread tells the app once the file is closed; leaving before
        # that (a fast machine) makes the thread call into a closed event loop
        await wait_for(pilot, lambda: any("Saved screenshot" in n.message
                                          for n in app._notifications), "the saved note")


async def test_a_stored_run_says_why_its_samples_were_dropped_in_words(stored):
    """Today: `select ✓ done 973/973 81 892` with no reason anywhere on the dashboard."""
    from fastdistill_tui.core.run_index import reject_reasons
    from fastdistill_tui.widgets.reject_panel import RejectPanel, in_words

    store = Store(store_path(stored))
    try:
        reasons = reject_reasons(store, IDS[0])
    finally:
        store.close()
    assert reasons, "the 60-sample run (min_score 1.0) drops some samples"
    app = create_home_app(stored)
    async with app.run_test(size=(120, 40)) as pilot:
        await home(pilot)
        await pilot.press("down", "down", "enter")  # the 60-sample run
        await wait_for(pilot, lambda: isinstance(app.screen, RecordedRunScreen), "the run")
        assert app.screen.state.reasons == reasons
        shown = " ".join(text_of(app.screen.query_one(RejectPanel)).split())
        for stage, codes in reasons.items():
            assert stage in shown
            for code in list(codes)[:3]:
                assert f"{in_words(code)} ({code})" in shown, shown


def test_figures_in_messages_read_as_set_and_hints_name_the_key():
    """`≥ 1.00` for a threshold of 0.999; `0.0832477` in a message; hints to the command line
    inside the app."""
    from fastdistill_tui.widgets.format import in_app, threshold

    assert threshold(0.999) == "0.999" and threshold(0.5) == "0.50"
    said = in_app("gold_match_rate 0.0832477 < 0.1; resume with "
                  "`fastdistill run --headless --resume 20261101-090000-aaaaaa`")
    assert "0.08 < 0.1" in said and "--headless" not in said
    assert "r on its row in Runs resumes it" in said


def test_every_command_line_hint_of_the_engine_names_the_key_in_the_app():
    """A gate-failed run's result said `to continue anyway: fastdistill run --headless
    --resume RUN --override-gate teacher_eval (or FASTDISTILL_TEACHER_EVAL_GATE=0)`."""
    from fastdistill_tui.core.gates import override_hint
    from fastdistill_tui.core.runs import resume_command
    from fastdistill_tui.widgets.format import in_app

    run = IDS[2]
    gate = (f"gate teacher_eval failed: gold_match_rate 0.04 < 0.1; "
            f"{override_hint('teacher_eval', run)}")
    unanswered = ("3 samples got no answer from the teacher (timeout 3: read timed out); ask "
                  f"again: check the server's log, then rerun the same command or "
                  f"`{resume_command(run)}`")
    stopped = f"stopped by the user; resume with `{resume_command(run)}`"
    for message in (gate, unanswered, stopped):
        for here in (True, False):
            said = in_app(message, here)
            assert "--headless" not in said and "FASTDISTILL_" not in said, said
            assert ("r resumes it" if here else "r on its row in Runs resumes it") in said, said
    assert in_app(gate, here=True).endswith(
        "to continue anyway: r resumes it; the gate will ask again and o overrides it, or "
        "lower the thresholds under [gates.teacher_eval] in the config")


async def test_a_stored_gate_failed_run_says_which_keys_continue_it(stored):
    from fastdistill_tui.widgets.result_panel import ResultPanel

    app = create_home_app(stored)
    async with app.run_test(size=(120, 40)) as pilot:
        await home(pilot)
        await pilot.press("enter")  # the newest: gate failed
        await wait_for(pilot, lambda: isinstance(app.screen, RecordedRunScreen), "the run")
        await pilot.pause()
        result = " ".join(text_of(app.screen.query_one(ResultPanel)).split())
        assert "r resumes it; the gate will ask again and o overrides it" in result, result
        log = " ".join(strip.text for strip in app.screen.query_one("#log").lines)
        assert "--headless" not in result + log and "r resumes it" in log, log


def test_a_resumed_run_done_before_the_resume_says_so_not_yet():
    """`no sample has been through the stages yet` on a completed run."""
    from fastdistill_tui.core import events as ev
    from fastdistill_tui.run_state import RunState
    from fastdistill_tui.widgets.timing_bars import TimingBars

    state = RunState()
    state.apply(ev.RunStarted("r", config_hash="h", dataset="d", teacher="t", total=5,
                              resumed=True, ts=10.0))
    state.apply(ev.RunFinished("r", status="completed", exit_code=0, message="", run_dir="",
                               seconds=1.0, ts=11.0))
    text, _ = TimingBars().draw(state)
    assert "before the resume" in text.plain and "yet" not in text.plain
    assert state.resumes == 1


async def test_home_follows_a_run_started_from_it_to_its_final_status(stored):
    """A run started from the form: missing from Home ("6 of 6 runs"), then `running` ever
    after once it had ended."""
    app = create_home_app(stored)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await home(pilot)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, NewRunScreen), "the form")
        app.screen.query_one("#limit").value = "70"  # ≥ the gate's min_total 50
        app.screen.query_one("#student").value = "none"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.state.run_id != "", "the run's start")
        await pilot.press("escape")
        assert app.screen is screen
        await wait_for(pilot, lambda: len(table_rows(screen)) == 4, "the new run listed")
        assert screen.highlighted().run_id == app.state.run_id  # the cursor on it
        await wait_for(pilot, lambda: app.state.finished is not None, "its end")
        await wait_for(pilot, lambda: screen.highlighted().status == "completed",
                       "its final status on Home")


def test_a_gate_failed_run_shows_its_cut_stages_stopped_and_the_rest_not_run():
    """A failed early gate ends the reading of the dataset at 133 of 150 rows: that stage is
    stopped, not `✓ done 133/133`, and the stages after the gate did not run (not `waiting`)."""
    from fastdistill_tui.core import events as ev
    from fastdistill_tui.run_state import DONE, NOT_RUN, STOPPED, RunState
    from fastdistill_tui.widgets.stage_table import StageTable

    state = RunState()
    state.apply(ev.RunStarted("r", config_hash="h", dataset="d", teacher="t", total=150,
                              stages=["canonical", "score", "select"], ts=10.0))
    state.apply(ev.StageFinished("r", stage="canonical", total=133, kept=133, rejected=0,
                                 seconds=0.3, expected=150, ts=10.3))
    state.apply(ev.StageFinished("r", stage="score", total=55, kept=55, rejected=0,
                                 seconds=0.3, expected=148, ts=10.3))
    state.apply(ev.RunFinished("r", status="gate_failed", exit_code=3, message="", run_dir="",
                               seconds=0.4, ts=10.4))
    rows = state.stages
    assert (rows["canonical"].state, rows["canonical"].done, rows["canonical"].total) == (
        STOPPED, 133, 150)
    assert (rows["score"].state, rows["score"].total) == (STOPPED, 148)
    assert rows["select"].state == NOT_RUN
    drawn = StageTable().draw(state)[0].plain
    assert "✓ done" not in drawn and "waiting" not in drawn and "not run" in drawn
    # a resume of it starts the stage again
    state.apply(ev.RunStarted("r", config_hash="h", dataset="d", teacher="t", total=150,
                              stages=["canonical", "score", "select"], resumed=True, ts=20.0))
    assert rows["select"].state != NOT_RUN
    # a completed run's stages that saw all they expected are done
    done = RunState()
    done.apply(ev.RunStarted("r", config_hash="h", dataset="d", teacher="t", total=5,
                             stages=["canonical"], ts=1.0))
    done.apply(ev.StageFinished("r", stage="canonical", total=5, kept=5, rejected=0,
                                seconds=0.1, expected=5, ts=1.1))
    done.apply(ev.RunFinished("r", status="completed", exit_code=0, message="", run_dir="",
                              seconds=0.2, ts=1.2))
    assert done.stages["canonical"].state == DONE
