"""The engine end to end on real SQLite files and a real loopback teacher server."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from loopback_server import LoopbackServer

from fastdistill_tui import cli
from fastdistill_tui.core import events as ev
from fastdistill_tui.core.config import Config, StudentConfig
from fastdistill_tui.core.engine import Engine
from fastdistill_tui.core.prompt import parse_prompt
from fastdistill_tui.core.store import Store

CITIES = [("Berlin", "Germany", 3645000.0), ("Hamburg", "Germany", 1841000.0),
          ("Munich", "Germany", 1472000.0), ("Paris", "France", 2161000.0),
          ("Lyon", "France", 513000.0), ("Madrid", "Spain", 3223000.0),
          ("Rome", "Italy", 2873000.0), ("Milan", "Italy", 1352000.0)]


def make_dataset(root: Path, n: int) -> tuple[Path, dict[str, str]]:
    """A JSONL dataset of n distinct questions over one real SQLite DB; returns (file, q→gold)."""
    root.mkdir(parents=True, exist_ok=True)
    db = root / "geo.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE city (name TEXT, country TEXT, population REAL)")
        conn.executemany("INSERT INTO city VALUES (?, ?, ?)", CITIES)
    gold = {}
    lines = []
    for i in range(n):
        threshold = 100_000 * (i + 1)
        question = f"How many cities have a population above {threshold}?"
        sql = f"SELECT count(*) FROM city WHERE population > {threshold}"
        gold[question] = sql
        lines.append(json.dumps({"question": question, "sql": sql, "db": "geo.sqlite"}))
    # one duplicate question (dedup drops it) and one row whose gold does not execute
    lines.append(lines[0])
    lines.append(json.dumps({"question": "Broken gold?", "sql": "SELECT nope FROM city",
                             "db": "geo.sqlite"}))
    path = root / "questions.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, gold


def gold_responder(gold: dict[str, str], wrong_every: int = 0):
    """Answers like a chatty LLM: fenced SQL. Every `wrong_every`-th question gets a wrong one."""
    order = {q: i for i, q in enumerate(gold)}

    def respond(messages):
        _, question = parse_prompt(messages)
        sql = gold[question]
        if wrong_every and order[question] % wrong_every == 0:
            sql = "SELECT -1 FROM city LIMIT 1"
        return f"Here you go:\n```sql\n{sql}\n```\nThis counts the cities."
    return respond


def run_cli(*args: str) -> int:
    return cli.main(["run", "--headless", *args])


def read_json(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


def last_run_dir(capsys) -> Path:
    """The run directory named by the last stderr line of `run --headless`."""
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("run ")
    return Path(last.rsplit(": ", 1)[1])


def test_run_writes_every_artifact_and_rerun_makes_no_requests(tmp_path, capsys):
    data, gold = make_dataset(tmp_path / "data", 60)
    with LoopbackServer(responder=gold_responder(gold, wrong_every=10)) as srv:
        args = ["--dataset", f"jsonl:{data}", "--teacher", "openai:fake-model",
                "--base-url", srv.base_url, "--concurrency", "8", "--events",
                str(tmp_path / "events.jsonl")]
        assert run_cli(*args) == 0
        first_requests = srv.request_count
        assert first_requests == 60  # 62 rows − 1 duplicate − 1 broken gold
        run_dir = last_run_dir(capsys)
        assert run_dir.parent == Config().runs_dir

        assert run_cli(*args) == 0
        assert srv.request_count == first_requests  # all 60 answers came from the cache

    # artifacts of the first run
    for stage in ("canonical", "dedup", "gold_check", "teacher", "clean", "rules", "execeval",
                  "score", "select", "export"):
        q = read_json(run_dir / "reports" / f"{stage}.quality_report.json")
        assert q["stage"] == stage and q["run_id"] == run_dir.name
        m = read_json(run_dir / "manifests" / f"{stage}.manifest.json")
        assert m["stage"] == stage and len(m["field_hash"]) == 64
    gold_q = read_json(run_dir / "reports" / "gold_check.quality_report.json")
    assert (gold_q["total"], gold_q["kept"]) == (61, 60)
    assert gold_q["reject_reason_counts"] == {"gold_error": 1}
    dedup = read_json(run_dir / "reports" / "dedup.quality_report.json")
    assert (dedup["total"], dedup["kept"], dedup["reject_reason_counts"]) == (
        62, 61, {"duplicate": 1})
    assert read_json(run_dir / "manifests" / "dedup.manifest.json")["count"] == 61
    score = read_json(run_dir / "reports" / "score.quality_report.json")
    assert score["total"] == 60
    assert score["gold_match_rate"] == pytest.approx(54 / 60)  # 6 wrong answers
    assert score["exec_pass_rate"] == 1.0
    assert score["score"]["mean"] == pytest.approx((54 + 6 * 0.5) / 60)
    train = (run_dir / "mlx" / "train.jsonl").read_text().splitlines()
    valid = (run_dir / "mlx" / "valid.jsonl").read_text().splitlines()
    assert len(train) + len(valid) == 54 and valid
    example = json.loads(train[0])
    assert [m["role"] for m in example["messages"]] == ["system", "user", "assistant"]
    assert example["messages"][-1]["content"].startswith("SELECT count(*)")
    timing = read_json(run_dir / "reports" / "timing_report.json")
    assert "hashed__to__teacher" in timing["durations"]
    assert abs(sum(d["share"] for d in timing["durations"].values()) - 1.0) < 1e-9
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    kinds = [e["type"] for e in events]
    assert kinds[0] == "RunStarted" and kinds[-1] == "RunFinished"
    assert "GateEvaluated" in kinds and "StageFinished" in kinds
    assert events[-1]["status"] == "completed"
    # the --events file got both runs' events
    assert (tmp_path / "events.jsonl").read_text().count('"RunFinished"') == 2


def test_gate_fail_exits_3_with_hint_and_override_continues(tmp_path, capsys, monkeypatch):
    data, gold = make_dataset(tmp_path / "data", 60)
    with LoopbackServer(responder=gold_responder(gold, wrong_every=1)) as srv:  # all wrong
        base = ["--dataset", f"jsonl:{data}", "--teacher", "openai:m", "--base-url",
                srv.base_url, "--concurrency", "4"]
        assert run_cli(*base) == 3
        err = capsys.readouterr().err
        assert "gold_match_rate" in err and "--override-gate teacher_eval" in err
        failed_run = Path(err.strip().splitlines()[-1].rsplit(": ", 1)[1])
        assert not (failed_run / "mlx" / "train.jsonl").exists()
        # the early warning stopped it before all 60 were asked
        assert srv.request_count < 60

        assert run_cli(*base, "--override-gate", "teacher_eval") == 0
        run_dir = last_run_dir(capsys)
        assert run_dir == failed_run  # the rerun continued the gate-failed run
        assert srv.request_count == 60  # so no answer was asked twice
        decisions = read_json(run_dir / "manifests" / "run.manifest.json")["gate_decisions"]
        assert decisions[0]["by"] == "policy" and not decisions[0]["proceed"]
        assert [(d["by"], d["proceed"], d["overridden"]) for d in decisions[1:]] == [
            ("--override-gate", True, True)] * 2  # early and final

        monkeypatch.setenv("FASTDISTILL_TEACHER_EVAL_GATE", "0")
        assert run_cli(*base, "--limit", "55") == 0


def test_gate_passes_and_thresholds_of_zero(tmp_path, capsys):
    data, gold = make_dataset(tmp_path / "data", 20)
    config = tmp_path / "config.toml"
    config.write_text("[gates.teacher_eval]\nmin_total = 0\nexec_pass_rate = 0\n"
                      "gold_match_rate = 0\njudge_mean = 0\n")
    with LoopbackServer(responder=gold_responder(gold, wrong_every=1)) as srv:
        code = run_cli("--config", str(config), "--dataset", f"jsonl:{data}", "--teacher",
                       "openai:m", "--base-url", srv.base_url)
    assert code == 0
    events = [json.loads(x) for x in (last_run_dir(capsys) / "events.jsonl").read_text()
              .splitlines()]
    gate = [e for e in events if e["type"] == "GateEvaluated"]
    assert len(gate) == 1 and gate[0]["passed"]


def test_too_few_samples_fails_min_total(tmp_path, capsys):
    data, gold = make_dataset(tmp_path / "data", 10)
    with LoopbackServer(responder=gold_responder(gold)) as srv:
        code = run_cli("--dataset", f"jsonl:{data}", "--teacher", "openai:m", "--base-url",
                       srv.base_url)
    assert code == 3
    assert "min_total 10 < 50" in capsys.readouterr().err


@pytest.mark.parametrize("args, needle", [
    (["--dataset", "nosuchkind:/x"], "dataset"),
    (["--teacher", "carrier-pigeon:x"], "--teacher"),
    (["--concurrency", "0"], "--concurrency"),
    (["--resume", "no-such-run"], "no-such-run"),
])
def test_bad_input_exits_2_with_a_clear_message(args, needle, capsys):
    assert run_cli(*args) == 2
    assert needle in capsys.readouterr().err


def test_unknown_config_key_exits_2_naming_file_and_key(tmp_path, capsys):
    config = tmp_path / "config.toml"
    config.write_text("[teacher]\nmodel = 'x'\n")
    assert run_cli("--config", str(config)) == 2
    err = capsys.readouterr().err
    assert str(config) in err and "teacher.model" in err


def test_cancel_drains_then_resume_completes(tmp_path):
    data, gold = make_dataset(tmp_path / "data", 60)
    config = Config(student=StudentConfig(enabled=False))
    config.dataset.spec = f"jsonl:{data}"
    config.teacher.spec = "openai:m"
    config.teacher.concurrency = 4
    store = Store(config.data_dir / "fastdistill.sqlite")
    cancel = threading.Event()
    seen: list[ev.Event] = []

    def sink(event):
        seen.append(event)
        if isinstance(event, ev.StageProgress) and event.stage == "teacher" and event.done >= 8:
            cancel.set()

    with LoopbackServer(responder=gold_responder(gold), latency_s=0.05) as srv:
        config.teacher.base_url = srv.base_url
        engine = Engine(config, store)
        outcome = asyncio.run(engine.run(sink, lambda e: False, cancel))
        assert (outcome.status, outcome.exit_code) == ("cancelled", 130)
        assert "--resume" in outcome.message
        asked = srv.request_count
        assert 8 <= asked < 60
        answered_before = store.query("SELECT count(*) FROM results WHERE run_id = ? AND "
                                      "teacher_ok = 1", (outcome.run_id,))[0][0]
        resumed = Engine(config, store, run_id=outcome.run_id, resume=True)
        seen_after: list[ev.Event] = []
        outcome2 = asyncio.run(resumed.run(seen_after.append, lambda e: False))
        assert outcome2.status == "completed"
        assert srv.request_count == 60  # nothing asked twice
    store.close()
    # the resumed part's request figures say what came from before: not fresh, not cached
    stats = [e for e in seen_after if isinstance(e, ev.RequestStats)][-1]
    assert stats.earlier == answered_before > 0
    assert stats.fresh + stats.cached + stats.earlier == 60
    finished = {e.stage: e for e in seen if isinstance(e, ev.StageFinished)}
    assert finished["teacher"].total < finished["teacher"].expected  # the stop cut it short
    lines = (outcome.run_dir / "mlx" / "train.jsonl").read_text().splitlines()
    lines += (outcome.run_dir / "mlx" / "valid.jsonl").read_text().splitlines()
    assert len(lines) == 60


def _count_results(store_file: Path) -> int:
    try:
        with sqlite3.connect(f"file:{store_file}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute("SELECT count(*) FROM results").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_sigkill_then_resume_gives_the_same_outputs(tmp_path):
    data, gold = make_dataset(tmp_path / "data", 120)
    env_killed = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "killed")}
    env_clean = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "clean")}
    with LoopbackServer(responder=gold_responder(gold, wrong_every=7), latency_s=0.02) as srv:
        args = [sys.executable, "-m", "fastdistill_tui", "run", "--headless", "--dataset",
                f"jsonl:{data}", "--teacher", "openai:m", "--base-url", srv.base_url,
                "--concurrency", "4"]
        proc = subprocess.Popen(args, env=env_killed, stderr=subprocess.PIPE, text=True)
        store_file = tmp_path / "killed" / "fastdistill" / "fastdistill.sqlite"
        deadline = time.monotonic() + 60
        while _count_results(store_file) < 30 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL
        done_before = _count_results(store_file)
        assert 30 <= done_before < 121
        asked_before = srv.request_count

        # a plain rerun of the same config resumes the unfinished run automatically
        resumed = subprocess.run(args, env=env_killed, capture_output=True, text=True)
        assert resumed.returncode == 0, resumed.stderr
        assert "resuming" in resumed.stderr
        # only answers that were in flight at the kill may be asked again
        assert srv.request_count - asked_before <= 120 - done_before + 4
        assert srv.requests_by_prompt.most_common(1)[0][1] <= 2

        clean = subprocess.run(args, env=env_clean, capture_output=True, text=True)
        assert clean.returncode == 0, clean.stderr

    def outputs(root: Path, stderr: str) -> dict[str, object]:
        run_dir = next((root / "fastdistill" / "runs").iterdir())
        result: dict[str, object] = {name: (run_dir / "mlx" / name).read_bytes()
                                     for name in ("train.jsonl", "valid.jsonl")}
        for stage in ("canonical", "dedup", "gold_check", "teacher", "clean", "rules",
                      "execeval", "score", "select", "export"):
            result[stage] = read_json(run_dir / "manifests" / f"{stage}.manifest.json")[
                "field_hash"]
            q = read_json(run_dir / "reports" / f"{stage}.quality_report.json")
            for volatile in ("run_id", "created_at", "gold_cache"):
                q.pop(volatile, None)
            result[stage + "_quality"] = q
        # the final progress line's stage counts (requests differ: the resume asked fewer)
        final = [line for line in stderr.splitlines() if line.startswith("canonical ")][-1]
        result["progress"] = final.split(" | requests")[0]
        result["stage_lines"] = [line for line in stderr.splitlines()
                                 if line.startswith("[") and "] done:" in line]
        return result

    def without_seconds(lines: list[str]) -> list[str]:
        return [line.rsplit(" in ", 1)[0] for line in lines]

    killed, clean_out = (outputs(tmp_path / "killed", resumed.stderr),
                         outputs(tmp_path / "clean", clean.stderr))
    for result in (killed, clean_out):
        result["stage_lines"] = without_seconds(result["stage_lines"])
    assert killed == clean_out


def test_failed_answers_are_recorded_then_asked_again_on_rerun(tmp_path, capsys):
    from loopback_server import FaultPlan

    data, gold = make_dataset(tmp_path / "data", 60)
    faults = FaultPlan(rate=0.2, kinds=("400",), fail_attempts=1)
    with LoopbackServer(responder=gold_responder(gold), faults=faults) as srv:
        args = ["--dataset", f"jsonl:{data}", "--teacher", "openai:m", "--base-url",
                srv.base_url]
        assert run_cli(*args) == 4  # incomplete: samples without an answer
        run_dir = last_run_dir(capsys)
        teacher = read_json(run_dir / "reports" / "teacher.quality_report.json")
        failed = teacher["rejected"]
        assert 0 < failed < 30
        assert teacher["reject_reason_counts"] == {"teacher_http_400": failed}
        assert srv.request_count == 60  # a 400 is not retried within the run

        assert run_cli(*args) == 0
        assert srv.request_count == 60 + failed  # only the failures were asked again
        assert last_run_dir(capsys) == run_dir  # the incomplete run, resumed
        teacher = read_json(run_dir / "reports" / "teacher.quality_report.json")
        assert (teacher["kept"], teacher["rejected"]) == (60, 0)


def test_llm_judge_scores_through_a_configured_provider(tmp_path, capsys):
    data, gold = make_dataset(tmp_path / "data", 50)
    config = tmp_path / "config.toml"
    teacher = gold_responder(gold)

    def respond(messages):
        if messages[-1]["content"].startswith("You are grading"):
            return "The query looks right.\nScore: 0.8"
        return teacher(messages)

    with LoopbackServer(responder=respond) as srv:
        config.write_text("[eval]\njudge = 'llm'\njudge_spec = 'openai:judge-model'\n"
                          f"judge_base_url = '{srv.base_url}'\n")
        assert run_cli("--config", str(config), "--dataset", f"jsonl:{data}", "--teacher",
                       "openai:m", "--base-url", srv.base_url) == 0
        judged = [p for p in srv.requests_by_prompt if p.startswith("You are grading")]
        assert len(judged) == 50
        asked = srv.request_count
        assert run_cli("--config", str(config), "--dataset", f"jsonl:{data}", "--teacher",
                       "openai:m", "--base-url", srv.base_url) == 0
        assert srv.request_count == asked  # teacher and judge answers both came from the store
    score = read_json(last_run_dir(capsys) / "reports" / "score.quality_report.json")
    assert score["score"] == {"min": 0.8, "max": 0.8, "mean": pytest.approx(0.8)}
    assert score["gold_match_rate"] == 1.0  # the judge scores; execution still decides matches


def test_unreachable_teacher_stops_early_then_resumes_elsewhere(tmp_path, capsys):
    from loopback_server import FaultPlan

    data, gold = make_dataset(tmp_path / "data", 60)
    refuse_all = FaultPlan(rate=1.0, kinds=("401",), fail_attempts=10**6)
    with LoopbackServer(responder=gold_responder(gold), faults=refuse_all) as bad:
        code = run_cli("--dataset", f"jsonl:{data}", "--teacher", "openai:m", "--base-url",
                       bad.base_url, "--concurrency", "4")
        assert code == 2
        assert bad.request_count < 8 + 4 * 2  # stopped, not 60 doomed requests
    err = capsys.readouterr().err
    assert bad.base_url in err and "http_401" in err and "--resume" in err
    run_id = err.strip().splitlines()[-1].split()[1]

    with LoopbackServer(responder=gold_responder(gold)) as good:
        assert run_cli("--resume", run_id, "--dataset", f"jsonl:{data}") == 2  # fixed setting
        assert "cannot change" in capsys.readouterr().err
        assert run_cli("--resume", run_id, "--base-url", good.base_url) == 0
        assert good.request_count == 60  # the failed answers were asked again
    run_dir = last_run_dir(capsys)
    assert run_dir.name == run_id
    teacher = read_json(run_dir / "reports" / "teacher.quality_report.json")
    assert (teacher["total"], teacher["kept"]) == (60, 60)


def test_ctrl_c_drains_exits_130_and_a_rerun_finishes_the_run(tmp_path):
    data, gold = make_dataset(tmp_path / "data", 60)
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "xdg")}
    with LoopbackServer(responder=gold_responder(gold), latency_s=0.1) as srv:
        args = [sys.executable, "-m", "fastdistill_tui", "run", "--headless", "--dataset",
                f"jsonl:{data}", "--teacher", "openai:m", "--base-url", srv.base_url,
                "--concurrency", "2"]
        proc = subprocess.Popen(args, env=env, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while srv.request_count < 6 and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        assert "stopping" in err and "--resume" in err
        asked = srv.request_count
        assert asked < 60
        rerun = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
        assert rerun.returncode == 0, rerun.stderr
        assert "resuming" in rerun.stderr
        assert srv.request_count == 60  # in-flight answers were kept; none asked twice


def test_a_second_process_on_a_running_config_is_refused(tmp_path, capsys):
    data, gold = make_dataset(tmp_path / "data", 60)
    env = {**os.environ}  # the isolated XDG dirs of this test
    with LoopbackServer(responder=gold_responder(gold), latency_s=0.2) as srv:
        args = ["--dataset", f"jsonl:{data}", "--teacher", "openai:m", "--base-url",
                srv.base_url, "--concurrency", "16"]
        first = subprocess.Popen([sys.executable, "-m", "fastdistill_tui", "run", "--headless",
                                  *args, "--concurrency", "1"], env=env,
                                 stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60
            while srv.request_count < 2 and time.monotonic() < deadline:
                time.sleep(0.02)
            run_id = next(Config().runs_dir.iterdir()).name
            assert run_cli("--resume", run_id) == 2
            assert "in use by another fastdistill process" in capsys.readouterr().err
            assert run_cli(*args, "--limit", "55") == 0  # another config: unaffected
            capsys.readouterr()
            # same config: refused, naming the running run (else both pay for every answer)
            assert run_cli(*args) == 2
            assert f"run {run_id} of this config is in use by another" in capsys.readouterr().err
        finally:
            first.terminate()
            first.wait(timeout=60)


def test_a_malformed_row_late_in_the_file_fails_before_any_request(tmp_path, capsys):
    data, gold = make_dataset(tmp_path / "data", 120)
    lines = data.read_text().splitlines()
    lines.insert(100, json.dumps({"question": "broken", "sql": 5, "db": "geo.sqlite"}))
    data.write_text("\n".join(lines) + "\n")
    with LoopbackServer(responder=gold_responder(gold)) as srv:
        assert run_cli("--dataset", f"jsonl:{data}", "--teacher", "openai:m", "--base-url",
                       srv.base_url) == 2
        assert srv.request_count == 0
    err = capsys.readouterr().err
    assert f"{data}:101" in err and "'sql'" in err
    assert not Config().runs_dir.exists()  # nothing half-written
