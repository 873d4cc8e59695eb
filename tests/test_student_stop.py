"""Stopping in each student stage (builtin teacher, bundled data, the tiny student built here):
progress arrives while the stage works, a cancel ends the run within 2 s, and the resumed run
ends with the same answers, metrics and loss curve as a run that was never stopped.

The stages are slow by construction, not by machine: answers of up to 256 tokens generated one
prompt at a time and a progress event the moment the worker reports a step, so the stage is
still working when the cancel comes on any machine. The 2 s bound holds because the engine
kills a worker that has not stopped STOP_GRACE_S after its SIGINT, whatever it was doing."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest

from fastdistill_tui.core import config as cfg, events as ev
from fastdistill_tui.core.engine import Engine
from fastdistill_tui.core.store import Store
from student_helpers import tiny_student

STOP_BOUND_S = 2.0


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    return tiny_student(tmp_path_factory.mktemp("student"))


def slow_config(student, data_dir) -> cfg.Config:
    config = cfg.Config()
    config.run.data_dir = str(data_dir)
    config.dataset.limit = 60
    s = config.student
    s.enabled = True
    s.spec, s.profile, s.iters, s.learning_rate, s.num_layers = str(student), "quick", 10, 1e-3, 2
    s.save_every, s.steps_per_eval, s.max_seq_length, s.max_tokens = 1, 10, 256, 256
    s.eval_limit, s.eval_batch_size = 6, 1
    return config


def figures(store: Store, run_dir, run_id: str) -> dict:
    """What a run concluded: every answer of both phases, the metrics, the loss curve."""
    reports = {name: json.loads((run_dir / "reports" / f"{name}.quality_report.json")
                                .read_text())
               for name in ("student_eval_pre", "train", "student_eval_post")}
    answers = sorted(store.query("SELECT phase, sample_id, sql, exec_ok, gold_match "
                                 "FROM student_results WHERE run_id = ?", (run_id,)))
    return {"answers": answers, "loss_curve": reports["train"]["loss_curve"],
            **{f"{name}.{key}": reports[name][key] for name in
               ("student_eval_pre", "student_eval_post")
               for key in ("total", "exec_pass_rate", "gold_match_rate")}}


_UNINTERRUPTED: dict = {}


@pytest.fixture
def uninterrupted(student, tmp_path_factory):
    """The figures of the same run never stopped (computed once, in the first test's dirs)."""
    if not _UNINTERRUPTED:
        config = slow_config(student, tmp_path_factory.mktemp("whole"))
        store = Store(config.data_dir / "fastdistill.sqlite")
        outcome = asyncio.run(Engine(config, store).run(lambda e: None, lambda e: False))
        assert outcome.status == "completed"
        _UNINTERRUPTED.update(figures(store, outcome.run_dir, outcome.run_id))
        store.close()
    return _UNINTERRUPTED


def working(event: ev.Event, stage: str) -> bool:
    """The stage reports work under way (not just its start)."""
    if stage == "train":
        return isinstance(event, ev.TrainProgress) and event.iteration >= 2
    return (isinstance(event, ev.StageProgress) and event.stage == stage and event.tokens > 0
            and 1 <= event.done < event.total)


@pytest.mark.parametrize("stage", ["student_eval_pre", "train", "student_eval_post"])
def test_a_stop_in_a_student_stage_is_prompt_and_the_resume_ends_the_same(
        student, tmp_path, uninterrupted, stage):
    config = slow_config(student, tmp_path)
    store = Store(config.data_dir / "fastdistill.sqlite")
    cancel = threading.Event()
    asked: list[float] = []
    progress_in_stage: list[ev.Event] = []

    def sink(event):
        if working(event, stage):
            progress_in_stage.append(event)
            if not cancel.is_set():
                asked.append(time.monotonic())
                cancel.set()

    outcome = asyncio.run(Engine(config, store).run(sink, lambda e: False, cancel))
    stopped_s = time.monotonic() - asked[0]
    assert (outcome.status, outcome.exit_code) == ("cancelled", 130)
    assert stopped_s < STOP_BOUND_S, f"the run took {stopped_s:.1f}s to stop in {stage}"
    assert progress_in_stage  # the stage said what it was doing before it was stopped

    resumed = Engine(config, store, run_id=outcome.run_id, resume=True)
    done = asyncio.run(resumed.run(lambda e: None, lambda e: False))
    assert done.status == "completed"
    assert figures(store, done.run_dir, done.run_id) == uninterrupted
    if stage != "train":  # answers finished before the stop are not generated again
        report = json.loads((done.run_dir / "reports" / f"{stage}.quality_report.json")
                            .read_text())
        assert report["generated"] < report["total"]
    store.close()
