"""A run never dies without saying so and never stays "running": a sample that breaks a stage,
a sink that raises, a full disk, a double Ctrl-C, a resume of a finished run; and the store and
artifacts agree with what was printed."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from loopback_server import LoopbackServer
from test_engine import gold_responder, last_run_dir, make_dataset, read_json, run_cli

from fastdistill_tui.core.config import Config, StudentConfig
from fastdistill_tui.core.prompt import parse_prompt

DEEP_SQL = "SELECT " + "(" * 500 + "1" + ")" * 500  # 1,008 characters


def statuses(store_file: Path) -> dict[str, str]:
    with sqlite3.connect(store_file) as conn:
        return dict(conn.execute("SELECT run_id, status FROM runs"))


def store_file() -> Path:
    return Config().data_dir / "fastdistill.sqlite"


def events(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]


def test_an_answer_that_breaks_a_stage_rejects_that_sample_only(tmp_path, capsys):
    data, gold = make_dataset(tmp_path / "data", 60)
    broken = next(iter(gold))
    normal = gold_responder(gold)

    def respond(messages):
        return DEEP_SQL if parse_prompt(messages)[1] == broken else normal(messages)

    with LoopbackServer(responder=respond) as srv:
        args = ["--dataset", f"jsonl:{data}", "--teacher", "openai:m", "--base-url",
                srv.base_url]
        assert run_cli(*args) == 0
        run_dir = last_run_dir(capsys)
        # the cached answer does not kill a rerun either
        assert run_cli("--limit", "59", *args) == 0
    rules = read_json(run_dir / "reports" / "rules.quality_report.json")
    assert rules["reject_reason_counts"] == {"internal_error": 1}
    score = read_json(run_dir / "reports" / "score.quality_report.json")
    assert (score["total"], score["kept"]) == (60, 60)
    with sqlite3.connect(store_file()) as conn:
        detail = conn.execute("SELECT detail FROM results WHERE reason = 'internal_error'"
                              ).fetchone()[0]
    assert detail.startswith("RecursionError")
    assert set(statuses(store_file()).values()) == {"completed"}


def test_a_sink_that_raises_does_not_kill_the_run(tmp_path):
    import asyncio

    from fastdistill_tui.core.engine import Engine
    from fastdistill_tui.core.store import Store

    config = Config(student=StudentConfig(enabled=False))
    config.dataset.limit = 60
    store = Store(store_file())

    def sink(event):
        raise ValueError("display broke")

    outcome = asyncio.run(Engine(config, store).run(sink, lambda e: False))
    store.close()
    assert outcome.status == "completed"
    logged = [e for e in events(outcome.run_dir) if e["type"] == "Log"]
    assert any("event sink failed: ValueError: display broke" in e["message"] for e in logged)
    assert events(outcome.run_dir)[-1]["type"] == "RunFinished"


def with_file_size_limit(limit_kb: int, args: list[str]) -> list[str]:
    """args run with files capped at limit_kb: a write past it fails (EFBIG, SIGXFSZ ignored)
    as it would on a full disk."""
    return ["bash", "-c", f"trap '' XFSZ; ulimit -f {limit_kb * 2}; exec \"$@\"", "bash", *args]


def test_a_full_disk_ends_the_run_resumable_with_one_message(tmp_path):
    data, gold = make_dataset(tmp_path / "data", 400)
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "xdg")}
    with LoopbackServer(responder=gold_responder(gold)) as srv:
        args = [sys.executable, "-m", "fastdistill_tui", "run", "--headless", "--dataset",
                f"jsonl:{data}", "--teacher", "openai:m", "--base-url", srv.base_url]
        # files may grow to 200 kB: the store's WAL outgrows it part way through the run
        full = subprocess.run(with_file_size_limit(200, args), env=env, capture_output=True,
                              text=True, timeout=120)
        assert full.returncode == 2, full.stderr
        assert "Traceback" not in full.stderr
        lines = full.stderr.strip().splitlines()
        assert "fastdistill.sqlite" in lines[-2] or "events.jsonl" in lines[-2], lines[-2]
        assert "--resume" in lines[-2] and " failed: " in lines[-1]
        asked = srv.request_count
        assert 0 < asked < 400

        resumed = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
        assert resumed.returncode == 0, resumed.stderr
        assert "resuming" in resumed.stderr
    store = tmp_path / "xdg" / "fastdistill" / "fastdistill.sqlite"
    assert list(statuses(store).values()) == ["completed"]


def test_double_ctrl_c_names_the_run_and_leaves_it_resumable(tmp_path):
    data, gold = make_dataset(tmp_path / "data", 60)
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "xdg")}
    with LoopbackServer(responder=gold_responder(gold), latency_s=5.0) as srv:
        args = [sys.executable, "-m", "fastdistill_tui", "run", "--headless", "--dataset",
                f"jsonl:{data}", "--teacher", "openai:m", "--base-url", srv.base_url,
                "--concurrency", "2"]
        proc = subprocess.Popen(args, env=env, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while srv.request_count < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("aborted: run ") and "--resume" in last
    run_id = last.split()[2]
    store = tmp_path / "xdg" / "fastdistill" / "fastdistill.sqlite"
    assert statuses(store) == {run_id: "cancelled"}


def test_resuming_a_completed_run_changes_nothing(capsys):
    assert run_cli("--limit", "60") == 0
    run_dir = last_run_dir(capsys)
    exported = (run_dir / "mlx" / "train.jsonl").read_bytes()
    assert run_cli("--resume", run_dir.name) == 0
    assert "already complete" in capsys.readouterr().err
    assert statuses(store_file()) == {run_dir.name: "completed"}
    assert (run_dir / "mlx" / "train.jsonl").read_bytes() == exported


def test_every_gate_decision_is_in_the_manifest_passes_included(capsys):
    assert run_cli("--limit", "60") == 0
    run_dir = last_run_dir(capsys)
    decisions = read_json(run_dir / "manifests" / "run.manifest.json")["gate_decisions"]
    assert [(d["early"], d["passed"], d["proceed"], d["by"]) for d in decisions] == [
        (True, True, True, "auto"), (False, True, True, "auto")]
    decided = [e for e in events(run_dir) if e["type"] == "GateDecided"]
    assert len(decided) == len(decisions)


def test_ctrl_c_does_not_wait_out_a_retry_after(tmp_path):
    from loopback_server import FaultPlan

    data, gold = make_dataset(tmp_path / "data", 60)
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "xdg")}
    busy = FaultPlan(rate=1.0, kinds=("429",), retry_after_s=300, fail_attempts=10**6)
    with LoopbackServer(responder=gold_responder(gold), faults=busy) as srv:
        args = [sys.executable, "-m", "fastdistill_tui", "run", "--headless", "--dataset",
                f"jsonl:{data}", "--teacher", "openai:m", "--base-url", srv.base_url,
                "--concurrency", "4"]
        proc = subprocess.Popen(args, env=env, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while srv.request_count < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.5)  # every request is now waiting out the server's 300 s pause
        stopped_at = time.monotonic()
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=150)  # half the pause: a wait-out fails this
        finally:
            proc.kill()
        print(f"stopped {time.monotonic() - stopped_at:.2f}s after Ctrl-C")
    assert proc.returncode == 130, err
    assert "--resume" in err and "Traceback" not in err
    store = tmp_path / "xdg" / "fastdistill" / "fastdistill.sqlite"
    assert list(statuses(store).values()) == ["cancelled"]
    with sqlite3.connect(store) as conn:  # the cancelled requests left nothing behind
        assert conn.execute("SELECT count(*) FROM results WHERE gold_ok = 1").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM teacher_answers WHERE reason = 'cancelled'"
                            ).fetchone()[0] == 0


def test_an_engine_failure_ends_the_run_failed_and_a_rerun_resumes_it(tmp_path):
    import asyncio

    from fastdistill_tui.core.datasets.jsonl import JsonlDataset
    from fastdistill_tui.core.engine import Engine
    from fastdistill_tui.core.store import Store

    data, gold = make_dataset(tmp_path / "data", 60)

    class BreaksOnTheSecondPass(JsonlDataset):
        """The validation pass reads the file whole; the streaming pass breaks at row 40."""
        passes = 0

        def iter_examples(self, split):
            self.passes += 1
            for i, example in enumerate(super().iter_examples(split)):
                if self.passes == 2 and i == 40:
                    raise RuntimeError("storage went away")
                yield example

    config = Config(student=StudentConfig(enabled=False))
    config.dataset.spec = f"jsonl:{data}"
    config.teacher.spec = "openai:m"
    config.teacher.concurrency = 4
    store = Store(store_file())
    seen: list = []
    with LoopbackServer(responder=gold_responder(gold)) as srv:
        config.teacher.base_url = srv.base_url
        engine = Engine(config, store, dataset=BreaksOnTheSecondPass(data))
        outcome = asyncio.run(engine.run(seen.append, lambda e: False))
        assert (outcome.status, outcome.exit_code) == ("failed", 1)
        assert "RuntimeError: storage went away" in outcome.message
        assert f"--resume {outcome.run_id}" in outcome.message
        assert type(seen[-1]).__name__ == "RunFinished" and seen[-1].status == "failed"
        assert statuses(store_file()) == {outcome.run_id: "failed"}
        asked = srv.request_count
        assert 0 < asked < 40

        resumed = Engine(config, store, run_id=store.latest_unfinished_run(config.config_hash()),
                         resume=True)
        assert asyncio.run(resumed.run(lambda e: None, lambda e: False)).status == "completed"
        # what the failed run stored was kept: only requests cut off in flight are asked again
        assert 60 <= srv.request_count <= 60 + config.teacher.concurrency
    store.close()
    assert statuses(store_file()) == {outcome.run_id: "completed"}
