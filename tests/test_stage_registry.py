"""A stage is one file and one registry line: a test-only answer stage, declared in the registry
and nowhere else, runs in the stream and appears in the quality reports and manifests, the
timing report, the live progress and timing events, the headless output and the app."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from fastdistill_tui import cli
from fastdistill_tui.app import FastDistillApp
from fastdistill_tui.core.events import read_events
from fastdistill_tui.core.stages import registry
from fastdistill_tui.core.stages.base import WorkItem
from fastdistill_tui.core.stages.context import StepContext


async def probe_step(item: WorkItem, ctx: StepContext) -> None:
    """Rejects a deterministic quarter of the answers (by sample id)."""
    if item.sample_id[0] in "0123":
        item.reject("probe", "probe_says_no", "rejected by the test-only stage")


PROBE = registry.StageInfo("probe", "answer", ("probed",), step=probe_step,
                           columns=("sample_id", "sql"))


@pytest.fixture
def with_probe(monkeypatch):
    declared = list(registry.STAGE_INFO)
    declared.insert(registry.stage_names().index("rules") + 1, PROBE)  # the one registry line
    monkeypatch.setattr(registry, "STAGE_INFO", tuple(declared))


def run_dir_of(capsys) -> tuple[Path, str]:
    """The run's directory, from the last line headless prints, and all it printed."""
    err = capsys.readouterr().err
    return Path(err.strip().splitlines()[-1].rsplit(": ", 1)[1]), err


def test_a_stage_declared_in_the_registry_runs_and_is_reported(with_probe, capsys):
    assert cli.main(["run", "--headless", "--limit", "200", "--override-gate",
                     "teacher_eval"]) == 0
    run_dir, err = run_dir_of(capsys)
    report = json.loads((run_dir / "reports" / "probe.quality_report.json").read_text())
    assert report["rejected"] > 0 and report["kept"] > 0
    assert report["reject_reason_counts"] == {"probe_says_no": report["rejected"]}
    assert (run_dir / "manifests" / "probe.manifest.json").exists()
    # the stage after it sees what it kept: the totals are derived, not hand-wired
    execeval = json.loads((run_dir / "reports" / "execeval.quality_report.json").read_text())
    assert execeval["total"] == report["kept"]
    timing = json.loads((run_dir / "reports" / "timing_report.json").read_text())
    assert "probed" in timing["labels"]
    assert "filtered__to__probed" in timing["durations"]
    assert "[probe] done:" in err  # the headless output
    events = list(read_events(run_dir / "events.jsonl"))
    started = next(e for e in events if type(e).__name__ == "RunStarted")
    assert started.stages.index("probe") == started.stages.index("rules") + 1
    assert any(type(e).__name__ == "StageProgress" and e.stage == "probe" for e in events)
    assert any(type(e).__name__ == "TimingUpdated" and "probe" in e.stages for e in events)


def test_the_app_shows_a_declared_stage_with_no_other_edit(with_probe, capsys):
    assert cli.main(["run", "--headless", "--limit", "120", "--override-gate",
                     "teacher_eval"]) == 0
    run_dir, _ = run_dir_of(capsys)
    app = FastDistillApp(replay=list(read_events(run_dir / "events.jsonl")))

    async def replay() -> str:
        async with app.run_test(size=(120, 40)) as pilot:
            while app.state.finished is None:  # the replay is still being drawn
                await pilot.pause(0.05)
            await pilot.pause()
            return app.export_screenshot()

    screen = asyncio.run(replay())
    row = app.state.stages["probe"]
    assert row.rejected > 0 and row.done == row.kept + row.rejected
    assert "probe" in screen
