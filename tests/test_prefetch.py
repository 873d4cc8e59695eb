"""Gold checks run ahead of the teacher: while the teacher is slow, samples wait ready for a
request slot instead of the slots waiting for gold checks, and the progress events say so."""

from __future__ import annotations

import asyncio
import json

from loopback_server import LoopbackServer
from test_engine import gold_responder, make_dataset

from fastdistill_tui import cli
from fastdistill_tui.core import stream


def test_requests_in_flight_stay_at_the_limit_with_samples_ready_ahead(tmp_path, capsys,
                                                                       monkeypatch):
    data, gold = make_dataset(tmp_path / "data", 96)
    monkeypatch.setenv("FASTDISTILL_TEACHER_ADAPTIVE_CONCURRENCY", "0")  # the limit from the start
    events = tmp_path / "events.jsonl"
    with LoopbackServer(responder=gold_responder(gold), latency_s=0.5) as srv:
        assert cli.main(["run", "--headless", "--dataset", f"jsonl:{data}", "--teacher",
                         "openai:m", "--base-url", srv.base_url, "--concurrency", "8",
                         "--events", str(events)]) == 0
    stats = [e for e in map(json.loads, events.read_text().splitlines())
             if e["type"] == "RequestStats"]
    # 96 answers at 8 in flight and 0.5 s each: 12 rounds, ~6 s, a progress event each 0.5 s;
    # before the last rounds every event finds samples gold-checked and waiting for a slot, and
    # the slots busy in most: an event that lands as a round's answers come back may find a few
    # slots evaluating (until the early gate each waits for its answer's evaluation)
    before_tail = [e for e in stats if e["fresh"] + 16 <= 96]
    assert len(before_tail) >= 4
    assert all(0 < e["ready_ahead"] <= 4 * 8 for e in before_tail)
    assert sum(e["in_flight"] == 8 for e in before_tail) * 2 >= len(before_tail)
    assert "ready " in capsys.readouterr().err  # the headless line shows it


def test_a_request_slot_does_not_wait_for_its_answers_evaluation(tmp_path, monkeypatch,
                                                                 capsys):
    """One slot: the second request goes out while the first answer is still being evaluated
    (before, the slot evaluated its answer before taking the next sample)."""
    data, gold = make_dataset(tmp_path / "data", 12)
    seen_while_evaluating: list[int] = []
    evaluate = stream.SampleStream._evaluate

    async def first_evaluation_waits_for_the_next_request(self, item, own):
        if not seen_while_evaluating:
            for _ in range(3000):  # never reached in time when the slot waits for us
                if srv.request_count >= 2:
                    break
                await asyncio.sleep(0.02)
            seen_while_evaluating.append(srv.request_count)
        await evaluate(self, item, own)

    monkeypatch.setattr(stream.SampleStream, "_evaluate",
                        first_evaluation_waits_for_the_next_request)
    with LoopbackServer(responder=gold_responder(gold)) as srv:
        assert cli.main(["run", "--headless", "--dataset", f"jsonl:{data}", "--teacher",
                         "openai:m", "--base-url", srv.base_url, "--concurrency", "1",
                         "--override-gate", "teacher_eval"]) == 0
    assert seen_while_evaluating[0] >= 2


def test_while_the_early_gate_is_pending_each_slot_waits_for_its_evaluation(tmp_path,
                                                                            monkeypatch,
                                                                            capsys):
    """A teacher the early gate stops costs at most `concurrency` requests beyond the first
    `min_total` answers: until the gate has been checked, slots do not run ahead."""
    data, gold = make_dataset(tmp_path / "data", 80)
    with LoopbackServer(responder=gold_responder(gold, wrong_every=1)) as srv:
        assert cli.main(["run", "--headless", "--dataset", f"jsonl:{data}", "--teacher",
                         "openai:m", "--base-url", srv.base_url, "--concurrency", "4"]) == 3
    assert 50 <= srv.request_count <= 50 + 4
