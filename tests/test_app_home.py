"""Home, a stored run, its samples and the comparison of two runs, driven by Textual's pilot
on real runs in a real store (tests/stored_runs.py)."""

from __future__ import annotations

import dataclasses
import io
import re

import pytest
from rich.console import Console
from stored_runs import RUNS, make_runs
from test_app import text_of, wait_for

from fastdistill_tui.app import FastDistillApp, create_home_app
from fastdistill_tui.cli import main, store_path
from fastdistill_tui.core import config as cfg
from fastdistill_tui.core.run_index import run_summaries
from fastdistill_tui.core.store import Store
from fastdistill_tui.screens.compare import CompareScreen
from fastdistill_tui.screens.home import HomeScreen
from fastdistill_tui.screens.recorded import RecordedRunScreen, SamplesScreen
from fastdistill_tui.widgets.stage_table import StageTable

IDS = [run_id for run_id, *_ in RUNS]


@pytest.fixture
def stored():
    return make_runs()


def table_rows(screen) -> list[list[str]]:
    table = screen.query_one("DataTable")
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


def test_summaries_count_each_runs_samples_kept_and_rates(stored):
    store = Store(store_path(stored))
    try:
        summaries = run_summaries(store)
    finally:
        store.close()
    assert [r.run_id for r in summaries] == IDS[::-1]  # newest first
    runs = {r.run_id: r for r in summaries}
    assert runs[IDS[0]].samples == 60 and runs[IDS[1]].samples == 80
    assert runs[IDS[2]].status == "gate_failed" and runs[IDS[2]].kept == 0
    assert runs[IDS[2]].unfinished and not runs[IDS[0]].unfinished
    # every status whose message says "resume with …" gets Resume, as a rerun continues it
    assert all(dataclasses.replace(runs[IDS[0]], status=status).unfinished
               for status in ("failed", "student_failed", "cancelled", "teacher_unreachable"))
    first = runs[IDS[0]]
    assert 0 < first.kept <= first.samples
    assert first.answered and first.exec_ok <= first.answered
    assert first.wall_s == 75.0


def test_no_runs_means_no_home():
    assert create_home_app(cfg.load_config()) is None


async def test_home_lists_runs_newest_first_and_filters_after_slash(stored):
    app = create_home_app(stored)
    assert app is not None
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, HomeScreen), "home")
        home = app.screen
        rows = table_rows(home)
        assert len(rows) == 3
        assert [r[2] for r in rows] == ["gate failed", "completed", "completed"]
        assert [r[6].split("/")[1] for r in rows] == ["30", "80", "60"]  # samples, newest first
        await pilot.press("slash", "g", "a", "t", "e")
        assert home.query_one("Input").value == "gate"
        assert [r[2] for r in table_rows(home)] == ["gate failed"]
        await pilot.press("escape")  # out of the filter, which stays
        assert [r[2] for r in table_rows(home)] == ["gate failed"]
        await pilot.press("escape")  # on the list: clears it
        assert len(table_rows(home)) == 3


async def test_home_sorts_by_a_clicked_column(stored):
    app = create_home_app(stored)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, HomeScreen), "home")
        home = app.screen
        table = home.query_one("DataTable")
        samples_column = 1 + 5  # the mark column, then date status dataset teacher student
        table.post_message(table.HeaderSelected(table, table.ordered_columns[samples_column].key,
                                                samples_column, table.ordered_columns[
                                                    samples_column].label))
        await pilot.pause()
        assert [r[6].split("/")[1] for r in table_rows(home)] == ["30", "60", "80"]
        table.post_message(table.HeaderSelected(table, table.ordered_columns[samples_column].key,
                                                samples_column, table.ordered_columns[
                                                    samples_column].label))
        await pilot.pause()
        assert [r[6].split("/")[1] for r in table_rows(home)] == ["80", "60", "30"]


async def test_open_a_run_replays_its_stages_and_browses_kept_and_rejected_samples(stored):
    app = create_home_app(stored)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, HomeScreen), "home")
        await pilot.press("down", "down", "enter")  # the oldest: 60 samples
        await wait_for(pilot, lambda: isinstance(app.screen, RecordedRunScreen), "the run")
        run_screen = app.screen
        assert run_screen.state.run_id == IDS[0]
        stages = text_of(run_screen.query_one(StageTable))
        assert "export" in stages and "✓ done" in stages
        assert run_screen.check_action("resume", ()) is False  # completed: no Resume
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, SamplesScreen), "samples")
        samples = app.screen
        kept = len(table_rows(samples))
        assert kept > 0 and all(r[2] == "match" for r in table_rows(samples))
        await pilot.press("v")  # rejected, each with its reason
        rejected = table_rows(samples)
        assert kept + len(rejected) == 60
        assert all(r[4] for r in rejected), rejected
        await pilot.press("v")  # all
        assert len(table_rows(samples)) == 60
        question = samples.shown[0].question
        await pilot.press("slash")
        for ch in question.split()[0].lower():
            await pilot.press(ch if ch != " " else "space")
        assert all(question.split()[0].lower() in s.question.lower() or
                   question.split()[0].lower() in (s.sql or "").lower() or
                   question.split()[0].lower() in s.why().lower()
                   for s in samples.shown)
        assert len(samples.shown) < 60


async def test_samples_fit_the_width_after_a_resize_and_say_what_they_show(stored):
    """At 80 columns after 120 the match, score and why columns were off the screen, and at
    120 `why rejected` showed words cut after ~22 characters; the title said `kept 0 of 30
    (0 kept)` and an empty view `no sample matches` with no filter typed."""
    app = create_home_app(stored)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, HomeScreen), "home")
        await pilot.press("enter")  # the newest: its gate failed, nothing kept
        await wait_for(pilot, lambda: isinstance(app.screen, RecordedRunScreen), "the run")
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, SamplesScreen), "samples")
        samples = app.screen
        title = str(samples.query_one("#samples-title").render())
        assert title.endswith("Samples · 30 stored, 0 kept · showing kept: 0"), title
        detail = str(samples.query_one("#sample-detail").render())
        assert detail == "no kept sample — v shows the rejected ones"
        await pilot.press("v")
        table = samples.query_one("DataTable")
        for size in ((120, 40), (80, 24), (120, 40)):
            await pilot.resize_terminal(*size)
            await pilot.pause()
            assert table.row_count == 30
            widths = sum(column.get_render_width(table) for column in table.ordered_columns)
            assert widths <= table.scrollable_content_region.width, size
            for sample, row in zip(samples.shown, table_rows(samples)):
                code = sample.reason or "min_score"
                assert row[4] == code or row[4].endswith(f"({code})"), row
        await pilot.press("slash", *"zzz")
        detail = str(samples.query_one("#sample-detail").render())
        assert detail == "no rejected sample matches “zzz”"
        assert "showing rejected matching “zzz”: 0" in str(
            samples.query_one("#samples-title").render())


async def test_a_failed_gate_run_offers_resume_which_opens_the_live_dashboard(stored):
    app = create_home_app(stored)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, HomeScreen), "home")
        await pilot.press("enter")  # newest: the gate-failed one
        await wait_for(pilot, lambda: isinstance(app.screen, RecordedRunScreen), "the run")
        assert app.screen.check_action("resume", ()) is True
        await pilot.press("r")
        await wait_for(pilot, lambda: app.engine is not None, "the engine")
        await wait_for(pilot, lambda: app.state.run_id == IDS[2], "the live run")
        assert app.state.resumed


async def test_compare_two_marked_runs(stored):
    app = create_home_app(stored)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, HomeScreen), "home")
        await pilot.press("c")
        assert not isinstance(app.screen, CompareScreen)  # nothing marked yet
        await pilot.press("down", "space", "down", "space", "c")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen), "compare")
        compare = app.screen
        config = text_of(compare.query_one("#compare-config"))
        assert "dataset.limit" in config and "80" in config and "60" in config
        assert "select.min_score" in config
        assert re.search(r"select\.min_score\s+0\.5\s+1\.0\s*\n", config)  # as in the file
        quality = text_of(compare.query_one("#compare-quality"))
        assert "export" in quality and "80→60 -20" in quality  # A: 80 samples, B: 60
        # rates with three decimals each: `1→1 =` beside `0.975→0.967` read unlike
        assert "1.000→0.967 -0.033" in quality and "1→1" not in quality
        assert re.search(r"gold_check +80→60 -20 +1\.000 = +1\.000 = +0\.975→0\.967 -0\.008",
                         quality), quality  # a figure the same in A and B: once
        compare.config_a["student.enabled"], compare.config_b["student.enabled"] = True, False
        booleans = Console(width=120, file=io.StringIO(), record=True, color_system=None)
        booleans.print(compare._config_table())
        assert re.search(r"student\.enabled\s+true\s+false", booleans.export_text())
        assert "canonical → hashed" in text_of(compare.query_one("#compare-timing"))
        assert "keep rate" in quality and "p_keep" not in quality
        assert compare.differences  # min_score 0.5 keeps samples that 1.0 drops
        assert all(kept_by_a for _, kept_by_a in compare.differences)
        assert compare.shared == 60  # the 60-sample run's samples are the 80's first 60
        title = compare.query_one("#compare-samples").border_title
        assert f"{len(compare.differences)} of the 60 samples both runs have" in title


def test_compare_colours_a_slower_timing_red_and_a_faster_one_green():
    from fastdistill_tui.screens.compare import _delta

    assert _delta(0.010, 0.020, 1000.0, lower_is_better=True).style == "red"  # +10 ms
    assert _delta(0.020, 0.010, 1000.0, lower_is_better=True).style == "green"
    assert _delta(0.5, 0.6).style == "green"  # a higher rate


def test_fastdistill_with_no_options_and_no_runs_starts_the_default_run_not_home(monkeypatch):
    opened = []
    monkeypatch.setattr("fastdistill_tui.cli.cmd_run", lambda args: opened.append(args) or 0)
    assert main([]) == 0 and opened


def test_fastdistill_with_no_options_opens_home_when_runs_exist(stored, monkeypatch):
    monkeypatch.setattr("fastdistill_tui.cli.require_display", lambda: None)  # pytest: no tty
    monkeypatch.setattr(FastDistillApp, "run", lambda self: self.exit(0))
    monkeypatch.setattr("fastdistill_tui.cli.cmd_run", lambda args: pytest.fail("ran"))
    assert main([]) == 0


async def test_command_palette_offers_the_screens_and_themes(stored):
    app = create_home_app(stored)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, HomeScreen), "home")
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert {"Runs", "New run", "Settings", "Theme"} <= set(titles), titles
        settings = next(c for c in app.get_system_commands(app.screen) if c.title == "Settings")
        settings.callback()
        await wait_for(pilot, lambda: type(app.screen).__name__ == "SettingsScreen", "settings")
        runs = next(c for c in app.get_system_commands(app.screen) if c.title == "Runs")
        runs.callback()
        await wait_for(pilot, lambda: isinstance(app.screen, HomeScreen), "home again")


async def test_no_color_draws_marks_and_sort_order_as_text(stored, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = create_home_app(stored)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, HomeScreen), "home")
        assert app.no_color
        await pilot.press("space")
        assert table_rows(app.screen)[0][0] == "*"
        title = str(app.screen.query_one("#home-title").render())
        assert "sorted by date ↓" in title and "marked 1/2" in title


async def test_why_lists_every_reason_and_enter_opens_the_samples_it_dropped(stored):
    """Issue 18: 'let Enter on a stage open those samples'. On a stored run w lists each
    stage's reasons; Enter on one opens the samples that stage rejected for it, and only
    those."""
    from fastdistill_tui.screens.reasons import ReasonsScreen

    app = create_home_app(stored)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, HomeScreen), "home")
        await pilot.press("down", "down", "enter")  # the oldest: 60 samples, some rejected
        await wait_for(pilot, lambda: isinstance(app.screen, RecordedRunScreen), "the run")
        reasons = app.screen.reasons
        assert reasons and app.screen.check_action("why", ()) is True
        await pilot.press("w")
        await wait_for(pilot, lambda: isinstance(app.screen, ReasonsScreen), "the reasons")
        stage, code, count = app.screen.choices[0]
        assert count == reasons[stage][code]
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, SamplesScreen), "the samples")
        shown = app.screen.shown
        assert len(shown) == count
        assert all(not s.kept and (s.rejected_at or "select") == stage and
                   (s.reason or "min_score") == code for s in shown)
        await pilot.press("escape")  # back to the run, not to the list of reasons
        await wait_for(pilot, lambda: isinstance(app.screen, RecordedRunScreen), "the run")
