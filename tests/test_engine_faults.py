"""The engine against a teacher that misbehaves: injected faults and a key that must not leak."""

from __future__ import annotations

import json
from pathlib import Path

from loopback_server import FaultPlan, LoopbackServer
from test_engine import gold_responder, last_run_dir, make_dataset, read_json, run_cli

FAKE_KEY = "sk-or-v1-THIS-KEY-MUST-NOT-LEAK-0123456789abcdef"


def exported(run_dir: Path) -> tuple[bytes, bytes]:
    return ((run_dir / "mlx" / "train.jsonl").read_bytes(),
            (run_dir / "mlx" / "valid.jsonl").read_bytes())


def test_twenty_percent_faults_give_the_fault_free_result(tmp_path, capsys, monkeypatch):
    data, gold = make_dataset(tmp_path / "data", 80)
    # retry waits are short so the test is quick; the schedule itself is the real one
    config = tmp_path / "config.toml"
    config.write_text("[teacher]\ntimeout_s = 1.0\nmax_retries = 4\n")
    args = ["--config", str(config), "--dataset", f"jsonl:{data}", "--teacher", "openai:m",
            "--concurrency", "16"]
    with LoopbackServer(responder=gold_responder(gold, wrong_every=9)) as clean_srv:
        assert run_cli(*args, "--base-url", clean_srv.base_url) == 0
    clean_dir = last_run_dir(capsys)

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "faulty-data"))
    faults = FaultPlan(rate=0.2, kinds=("429", "500", "slow", "malformed", "empty",
                                        "truncated"), retry_after_s=0.05, slow_s=1.5)
    with LoopbackServer(responder=gold_responder(gold, wrong_every=9), faults=faults) as srv:
        assert run_cli(*args, "--base-url", srv.base_url) == 0
        injected = sum(srv.faults_injected.values())
        assert injected >= 8 and len(srv.faults_injected) >= 4  # several kinds
        assert srv.request_count == 80 + injected  # each faulty prompt retried once
    faulty_dir = last_run_dir(capsys)

    assert exported(faulty_dir) == exported(clean_dir)
    # (the teacher manifest hashes cache keys, which name each server's URL: not compared)
    for stage in ("score", "select", "export"):
        assert (read_json(faulty_dir / "manifests" / f"{stage}.manifest.json")["field_hash"]
                == read_json(clean_dir / "manifests" / f"{stage}.manifest.json")["field_hash"])
    teacher = read_json(faulty_dir / "reports" / "teacher.quality_report.json")
    assert (teacher["total"], teacher["kept"]) == (80, 80)
    stats = [json.loads(x) for x in (faulty_dir / "events.jsonl").read_text().splitlines()
             if '"RequestStats"' in x]
    assert stats[-1]["retries"] >= 8 and stats[-1]["failed"] == 0


def test_api_key_never_reaches_disk_logs_or_events(tmp_path, capsys, monkeypatch):
    data, gold = make_dataset(tmp_path / "data", 60)
    monkeypatch.setenv("OPENROUTER_API_KEY", FAKE_KEY)
    # 401s quote the Authorization header back, as some providers do
    faults = FaultPlan(rate=0.3, kinds=("401", "500"))
    with LoopbackServer(responder=gold_responder(gold), faults=faults) as srv:
        code = run_cli("--dataset", f"jsonl:{data}", "--teacher", "openrouter:some/model",
                       "--base-url", srv.base_url, "--events", "-",
                       "--override-gate", "teacher_eval")
        assert code == 4  # the 401s' samples got no answer: incomplete
        assert srv.authorizations[f"Bearer {FAKE_KEY}"] == srv.request_count  # it was sent
    captured = capsys.readouterr()
    run_dir = last_run_dir_from(captured.err)
    assert FAKE_KEY not in captured.out and FAKE_KEY not in captured.err
    assert "teacher_http_401" in read_json(
        run_dir / "reports" / "teacher.quality_report.json")["reject_reason_counts"]
    data_root = run_dir.parents[1]
    scanned = 0
    for path in data_root.rglob("*"):
        if path.is_file():
            scanned += 1
            assert FAKE_KEY.encode() not in path.read_bytes(), path
    assert scanned >= 10  # store, WAL, events, manifests, reports, exports


def last_run_dir_from(err: str) -> Path:
    return Path(err.strip().splitlines()[-1].rsplit(": ", 1)[1])


def test_samples_without_an_answer_end_the_run_incomplete_and_a_rerun_asks_only_them(
        tmp_path, capsys):
    """A one-at-a-time server slower than the timeout: the samples it never answered are
    counted, named with their reason and a fix, exit code 4; a rerun against a server that
    answers asks exactly those again and completes the same run."""
    data, gold = make_dataset(tmp_path / "data", 12)
    config = tmp_path / "config.toml"
    config.write_text("[teacher]\ntimeout_s = 0.1\nmax_retries = 0\n"
                      "[gates.teacher_eval]\nenabled = false\n")
    args = ["--config", str(config), "--dataset", f"jsonl:{data}", "--teacher", "openai:m"]
    respond = gold_responder(gold)
    with LoopbackServer(responder=respond, latency_s=0.5, serial=True) as srv:
        # every request of this server takes 0.5 s: all time out, none is asked twice
        assert run_cli(*args, "--base-url", srv.base_url) == 4
        assert srv.request_count == 12
    err = capsys.readouterr().err
    message = err.strip().splitlines()[-2]
    assert "12 samples got no answer from the teacher (timeout 12: no complete answer within"\
        in message
    assert "FASTDISTILL_TEACHER_TIMEOUT_S" in message and "--resume" in message
    run_id = err.strip().splitlines()[-1].split()[1]
    assert err.strip().splitlines()[-1].startswith(f"run {run_id} incomplete: ")

    with LoopbackServer(responder=respond) as srv:
        assert run_cli(*args, "--base-url", srv.base_url) == 0
        assert srv.request_count == 12  # only the unanswered, each once
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith(f"run {run_id} completed: ")  # the same run, resumed
