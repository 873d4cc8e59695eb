"""Gold checks run ahead of the teacher: while the teacher is slow, samples wait ready for a
request slot instead of the slots waiting for gold checks, and the progress events say so."""

from __future__ import annotations

import json

from loopback_server import LoopbackServer
from test_engine import gold_responder, make_dataset

from fastdistill_tui import cli


def test_requests_in_flight_stay_at_the_limit_with_samples_ready_ahead(tmp_path, capsys):
    data, gold = make_dataset(tmp_path / "data", 96)
    events = tmp_path / "events.jsonl"
    with LoopbackServer(responder=gold_responder(gold), latency_s=0.5) as srv:
        assert cli.main(["run", "--headless", "--dataset", f"jsonl:{data}", "--teacher",
                         "openai:m", "--base-url", srv.base_url, "--concurrency", "8",
                         "--events", str(events)]) == 0
    stats = [e for e in map(json.loads, events.read_text().splitlines())
             if e["type"] == "RequestStats"]
    # 96 answers at 8 in flight and 0.5 s each: 12 rounds, ~6 s, a progress event each 0.5 s;
    # before the last rounds every event finds samples gold-checked and waiting for a slot, and
    # the slots busy (bar one whose answer is being evaluated at that instant)
    before_tail = [e for e in stats if e["fresh"] + 16 <= 96]
    assert len(before_tail) >= 4
    assert all(0 < e["ready_ahead"] <= 4 * 8 for e in before_tail)
    assert all(e["in_flight"] >= 7 for e in before_tail)
    assert sum(e["in_flight"] == 8 for e in before_tail) * 2 >= len(before_tail)
    assert "ready " in capsys.readouterr().err  # the headless line shows it
