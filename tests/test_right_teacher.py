"""Answers come from the teacher the user named: the server is part of the cache key, the LLM
judge has its own server and key, and credentials in URLs never reach disk or output."""

from __future__ import annotations

import base64
import json

from loopback_server import FaultPlan, LoopbackServer, Reply
from test_engine import gold_responder, make_dataset, read_json, run_cli

from fastdistill_tui.core.prompt import parse_prompt

JUDGE_KEY = "sk-or-v1-JUDGE-KEY-MUST-STAY-WITH-THE-JUDGE-0123"
URL_SECRET = "pa55-URL-SECRET-9876"


def test_the_same_model_name_on_another_server_is_asked_again(tmp_path, capsys):
    data, gold = make_dataset(tmp_path / "data", 60)
    with LoopbackServer(responder=gold_responder(gold)) as first, \
            LoopbackServer(responder=gold_responder(gold)) as second:
        args = ["--dataset", f"jsonl:{data}", "--teacher", "openai:any"]
        assert run_cli(*args, "--base-url", first.base_url) == 0
        assert run_cli(*args, "--base-url", second.base_url) == 0
        assert (first.request_count, second.request_count) == (60, 60)
        assert run_cli(*args, "--base-url", first.base_url) == 0  # its own answers: cached
        assert first.request_count == 60


def test_a_resume_against_a_moved_server_keeps_the_answers(tmp_path, capsys):
    data, gold = make_dataset(tmp_path / "data", 60)
    with LoopbackServer(responder=gold_responder(gold, wrong_every=1)) as old, \
            LoopbackServer(responder=gold_responder(gold, wrong_every=1)) as moved:
        base = ["--dataset", f"jsonl:{data}", "--teacher", "openai:m", "--concurrency", "4"]
        assert run_cli(*base, "--base-url", old.base_url) == 3  # early gate stops it
        run_id = capsys.readouterr().err.strip().splitlines()[-1].split()[1]
        assert 0 < old.request_count < 60
        assert run_cli("--resume", run_id, "--base-url", moved.base_url,
                       "--override-gate", "teacher_eval") == 0
        assert old.request_count + moved.request_count == 60  # nothing asked twice


def test_the_judge_has_its_own_server_key_and_costs(tmp_path, capsys, monkeypatch):
    data, gold = make_dataset(tmp_path / "data", 60)
    monkeypatch.setenv("OPENROUTER_API_KEY", JUDGE_KEY)
    judged: list[str] = []

    def judge(messages):
        judged.append(messages[-1]["content"])
        return Reply("Score: 0.9", cost=0.001)

    with LoopbackServer(responder=gold_responder(gold, wrong_every=6)) as teacher, \
            LoopbackServer(responder=judge) as judge_srv:
        # every 6th answer is SELECT -1 ...: it executes, so it is judged; a broken one is not
        config = tmp_path / "config.toml"
        config.write_text("[eval]\njudge = 'llm'\njudge_spec = 'openrouter:judge/model'\n"
                          f"judge_base_url = '{judge_srv.base_url}'\n")
        assert run_cli("--config", str(config), "--dataset", f"jsonl:{data}", "--teacher",
                       "openai:m", "--base-url", teacher.base_url, "--events",
                       str(tmp_path / "events.jsonl")) == 0
        assert not any(JUDGE_KEY in auth for auth in teacher.authorizations)
        assert judge_srv.authorizations[f"Bearer {JUDGE_KEY}"] == judge_srv.request_count == 60
    stats = [json.loads(x) for x in (tmp_path / "events.jsonl").read_text().splitlines()
             if '"RequestStats"' in x][-1]
    assert stats["judge_requests"] == 60 and abs(stats["judge_cost"] - 0.06) < 1e-9
    assert stats["fresh"] == 60


def test_the_judge_is_not_asked_about_sql_that_failed(tmp_path, capsys):
    data, gold = make_dataset(tmp_path / "data", 60)
    order = {q: i for i, q in enumerate(gold)}
    answer = gold_responder(gold)

    def teacher(messages):
        question = parse_prompt(messages)[1]
        return "SELECT nope FROM city" if order[question] % 3 == 0 else answer(messages)

    with LoopbackServer(responder=teacher) as srv, \
            LoopbackServer(responder=lambda m: "Score: 1") as judge_srv:
        config = tmp_path / "config.toml"
        config.write_text("[eval]\njudge = 'llm'\njudge_spec = 'openai:judge'\n"
                          f"judge_base_url = '{judge_srv.base_url}'\n"
                          "[gates.teacher_eval]\nexec_pass_rate = 0\n")
        assert run_cli("--config", str(config), "--dataset", f"jsonl:{data}", "--teacher",
                       "openai:m", "--base-url", srv.base_url) == 0
        assert judge_srv.request_count == 40  # the 20 that failed to execute were not judged


def test_a_judge_that_gives_no_scores_fails_the_run_loudly(tmp_path, capsys):
    data, gold = make_dataset(tmp_path / "data", 50)
    with LoopbackServer(responder=gold_responder(gold)) as srv, \
            LoopbackServer(responder=lambda m: "Looks fine to me.") as judge_srv:
        config = tmp_path / "config.toml"
        config.write_text("[eval]\njudge = 'llm'\njudge_spec = 'openai:judge'\n"
                          f"judge_base_url = '{judge_srv.base_url}'\n")
        assert run_cli("--config", str(config), "--dataset", f"jsonl:{data}", "--teacher",
                       "openai:m", "--base-url", srv.base_url) == 2
    err = capsys.readouterr().err
    assert "no usable score for 50 of 50 answers" in err and "eval.judge_spec" in err
    run_dir = last_run_dir_from(err)
    score = read_json(run_dir / "reports" / "score.quality_report.json")
    assert score["judge"] == {"asked": 50, "unusable": 50}


def test_credentials_in_a_base_url_never_reach_disk_or_output(tmp_path, capsys):
    data, gold = make_dataset(tmp_path / "data", 60)
    # 401s quote the Authorization header (here Basic, from the URL's credentials) back
    faults = FaultPlan(rate=0.3, kinds=("401",))
    with LoopbackServer(responder=gold_responder(gold), faults=faults) as srv:
        url = srv.base_url.replace("http://", f"http://user:{URL_SECRET}@")
        assert run_cli("--dataset", f"jsonl:{data}", "--teacher", "openai:m", "--base-url", url,
                       "--events", "-", "--override-gate", "teacher_eval") == 4  # the 401s' samples got no answer: incomplete
        basic = base64.b64encode(f"user:{URL_SECRET}".encode()).decode()
        assert srv.authorizations[f"Basic {basic}"] == srv.request_count  # it was sent
        captured = capsys.readouterr()
        run_dir = last_run_dir_from(captured.err)
        assert URL_SECRET not in captured.out + captured.err
        assert basic not in captured.out + captured.err
        manifest = read_json(run_dir / "manifests" / "run.manifest.json")
        assert manifest["config"]["teacher"]["base_url"].startswith("http://***@127.0.0.1")
        scanned = 0
        for path in run_dir.parents[1].rglob("*"):
            if path.is_file():
                scanned += 1
                assert URL_SECRET.encode() not in path.read_bytes(), path
                assert basic.encode() not in path.read_bytes(), path
        assert scanned >= 10
        # the stored URL has no credentials: a resume asks for the URL again
        assert "teacher_http_401" in read_json(
            run_dir / "reports" / "teacher.quality_report.json")["reject_reason_counts"]


def last_run_dir_from(err: str):
    from pathlib import Path
    return Path(err.strip().splitlines()[-1].rsplit(": ", 1)[1])


def test_a_run_whose_url_held_credentials_resumes_with_the_url_given_again(tmp_path, capsys):
    data, gold = make_dataset(tmp_path / "data", 60)
    with LoopbackServer(responder=gold_responder(gold, wrong_every=1)) as srv:
        url = srv.base_url.replace("http://", f"http://user:{URL_SECRET}@")
        base = ["--dataset", f"jsonl:{data}", "--teacher", "openai:m", "--concurrency", "4"]
        assert run_cli(*base, "--base-url", url) == 3  # the early gate stops it
        run_id = capsys.readouterr().err.strip().splitlines()[-1].split()[1]
        asked = srv.request_count
        assert run_cli("--resume", run_id, "--override-gate", "teacher_eval") == 2
        assert "--base-url" in capsys.readouterr().err
        assert run_cli("--resume", run_id, "--base-url", url,
                       "--override-gate", "teacher_eval") == 0
        assert srv.request_count == 60 and asked < 60  # its answers were kept
