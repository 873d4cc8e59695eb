"""Snapshots of every screen, drawn from a recorded run (tests/data/replay_run.jsonl: a real
200-sample bundled run, plus student events shaped as the student stages emit them), so they
are the same on every machine. Update with `pytest --snapshot-update` and look at the SVGs."""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

import pytest

pytest.importorskip("pytest_textual_snapshot", reason="pip install -e '.[test]' (the test extra)")

from fastdistill_tui.app import FastDistillApp  # noqa: E402
from fastdistill_tui.core import events as ev  # noqa: E402
from fastdistill_tui.core.events import read_events  # noqa: E402
from fastdistill_tui.screens.gate import GateScreen  # noqa: E402

REPLAY = Path(__file__).parent / "data" / "replay_run.jsonl"
MID_RUN = 30  # events up to the second progress tick: every streaming stage running


@pytest.fixture(autouse=True)
def utc_log_times():
    """Log lines show local time; pin it."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


def recorded(upto: int | None = None) -> list[ev.Event]:
    return list(read_events(REPLAY))[:upto]


def test_dashboard_mid_run(snap_compare):
    assert snap_compare(FastDistillApp(replay=recorded(MID_RUN)), terminal_size=(120, 40))


def test_dashboard_mid_run_at_80x24(snap_compare):
    assert snap_compare(FastDistillApp(replay=recorded(MID_RUN)), terminal_size=(80, 24))


def test_gate_prompt(snap_compare):
    events = recorded(MID_RUN)
    early = next(e for e in events if isinstance(e, ev.GateEvaluated))
    metrics = dict(early.metrics)
    metrics["gold_match_rate"] = {"value": 0.04, "threshold": 0.1, "passed": False}
    failed = dataclasses.replace(early, passed=False, metrics=metrics)

    async def ask(pilot) -> None:
        app = pilot.app
        while app.state.requests is None:  # the replay is still being drawn
            await pilot.pause()
        app.push_screen(GateScreen(failed, app.state.total, app.state.requests))
        await pilot.pause()

    assert snap_compare(FastDistillApp(replay=events), terminal_size=(120, 40), run_before=ask)


def test_finished_run_with_student(snap_compare):
    assert snap_compare(FastDistillApp(replay=recorded()), terminal_size=(120, 40))


# -- home, compare: real runs in a real store with fixed ids and times (tests/stored_runs.py) --
def _stored_app_with_fixed_timings():
    """The timing reports are measured, so they differ each time: the comparison snapshot
    draws the recorded one (tests/data) for both runs."""
    from stored_runs import RUNS, make_runs

    from fastdistill_tui.app import create_home_app
    from fastdistill_tui.core.runs import run_dir_for

    config = make_runs()
    for run_id, *_ in RUNS:
        target = run_dir_for(config, run_id) / "reports" / "timing_report.json"
        target.write_text(TIMING.read_text(encoding="utf-8"), encoding="utf-8")
    return create_home_app(config)


TIMING = Path(__file__).parent / "data" / "timing_report.json"


def test_home(snap_compare):
    assert snap_compare(_stored_app_with_fixed_timings(), terminal_size=(120, 40))


def test_home_at_80x24(snap_compare):
    assert snap_compare(_stored_app_with_fixed_timings(), terminal_size=(80, 24))


def test_compare(snap_compare):
    assert snap_compare(_stored_app_with_fixed_timings(), terminal_size=(120, 40),
                        press=["down", "space", "down", "space", "c"])


def test_settings(snap_compare, monkeypatch):
    """The form on a config file with two settings changed from the defaults (at a fixed path:
    the screen shows it)."""
    from fastdistill_tui.core import config as cfg

    path = Path("/tmp/fastdistill-snapshot/config.toml")
    path.parent.mkdir(exist_ok=True)
    path.write_text('[teacher]\nconcurrency = 8\n[dataset]\nlimit = 200\n', encoding="utf-8")
    monkeypatch.setenv("FASTDISTILL_CONFIG", str(path))
    assert snap_compare(FastDistillApp(home=cfg.load_config()), terminal_size=(120, 40),
                        press=["comma"])
