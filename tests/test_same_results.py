"""Performance work changes no result: the same inputs give byte-identical exports and the same
quality reports whatever the concurrency, the prefetch window or the order answers arrive in."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from loopback_server import LoopbackServer
from test_engine import gold_responder, make_dataset

from fastdistill_tui import cli
from fastdistill_tui.core import stream
from fastdistill_tui.core.config import TeacherConfig
from fastdistill_tui.core.stages.answer_rounds import round_stages
from fastdistill_tui.core.sql import rule_pool

STAGES = ("canonical", "dedup", "gold_check", "teacher", "clean", "rules", "execeval", "score",
          "select", "export")
#: sha256 of train.jsonl + valid.jsonl for the job below, taken before the prefetch window
#: existed (issue 13). A change meant to alter the exports updates it, and says why.
#: Issue 20: the prompts show the database's rows ([prompt] db_content); with it off the
#: export's hash is the one before:
#: 3569f423c9506665ea468ac995c433fd8bdaf4a0e0534295fb3f91a99601223b
EXPECTED_EXPORT_SHA256 = "de293e974a89e57c2a18491cbeb9d1f11904b56e2d6245c58834442887bec5d5"
#: sha256 of the job's quality reports and manifest hashes (volatile fields removed), taken
#: before the engine ran from the stage registry (issue 19); updated by issue 22 for its two
#: intended changes only (checked by diffing the reports): "judge_score" is called "score"
#: (the rule score is no judge) and execeval's report says `"duplicates": "bag"`; and by issue
#: 20 for its one (diffed likewise): score and select count why answers missed the gold
#: (`mismatch_reason_counts`, `exec_error_messages`).
EXPECTED_REPORTS_SHA256 = "ab2f61f628e5b18eb37b0c7d184a6dd488db95a45d37a04c07d80d15513c53a4"


def run_once(tmp_path: Path, monkeypatch, name: str, data: Path, base_url: str,
             concurrency: int) -> dict[str, object]:
    """One fresh run (own data dir: no cached answers); its exports and quality reports."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / name))
    assert cli.main(["run", "--headless", "--dataset", f"jsonl:{data}", "--teacher",
                     "openai:m", "--base-url", base_url,
                     "--concurrency", str(concurrency)]) == 0
    run_dir = next((tmp_path / name / "fastdistill" / "runs").iterdir())
    result: dict[str, object] = {f: (run_dir / "mlx" / f).read_bytes()
                                 for f in ("train.jsonl", "valid.jsonl")}
    for stage in STAGES:
        q = json.loads((run_dir / "reports" / f"{stage}.quality_report.json").read_text())
        if stage == "rules":
            result["rule_workers"] = q.pop("workers")
        for volatile in ("run_id", "created_at", "gold_cache"):
            q.pop(volatile, None)
        result[stage] = q
        result[stage + "_hash"] = json.loads(
            (run_dir / "manifests" / f"{stage}.manifest.json").read_text())["field_hash"]
    return result


def reports_digest(reports: dict[str, object]) -> str:
    return hashlib.sha256(json.dumps(reports, sort_keys=True).encode()).hexdigest()


def test_concurrency_and_prefetch_change_no_result(tmp_path, monkeypatch, capsys):
    data, gold = make_dataset(tmp_path / "data", 150)
    with LoopbackServer(responder=gold_responder(gold, wrong_every=7), latency_s=0.01) as srv:
        serial = run_once(tmp_path, monkeypatch, "serial", data, srv.base_url, 1)
        wide = run_once(tmp_path, monkeypatch, "wide", data, srv.base_url, 32)
        monkeypatch.setattr(rule_pool, "MIN_SAMPLES", 0)  # rule checks in a worker process
        pooled = run_once(tmp_path, monkeypatch, "pooled", data, srv.base_url, 32)
        monkeypatch.setattr(stream, "PREFETCH_FACTOR", 0)  # gold checks not run ahead
        unfetched = run_once(tmp_path, monkeypatch, "unfetched", data, srv.base_url, 32)
    assert serial.pop("rule_workers") == {"processes": 0, "answers_checked": 0}
    # with answer rounds, each answer is checked twice: by the round's trial and by the rules
    rounds = round_stages(TeacherConfig(), deterministic=False)
    assert pooled.pop("rule_workers") == {"processes": 1,
                                          "answers_checked": 300 if rounds else 150}
    unfetched.pop("rule_workers")
    wide.pop("rule_workers")
    assert wide == serial
    assert pooled == serial
    assert unfetched == serial
    exported = hashlib.sha256(serial["train.jsonl"] + serial["valid.jsonl"]).hexdigest()
    assert exported == EXPECTED_EXPORT_SHA256
    # the teacher's manifest hashes cache keys, which hold the loopback server's (random) port
    reports = {k: v for k, v in serial.items()
               if not k.endswith(".jsonl") and k != "teacher_hash"}
    assert reports_digest(reports) == EXPECTED_REPORTS_SHA256
    assert serial["score"]["total"] == 150 and serial["gold_check"]["kept"] == 150
