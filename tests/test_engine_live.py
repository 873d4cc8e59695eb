"""What a live view needs from the engine: totals from the first event, per-stage own-work
timings, and a gate question that can be answered asynchronously or dropped by a stop."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest
from loopback_server import LoopbackServer
from test_engine import gold_responder, make_dataset

from fastdistill_tui.core import events as ev
from fastdistill_tui.core.config import Config, StudentConfig, TeacherConfig
from fastdistill_tui.core.engine import Engine
from fastdistill_tui.core.stages.answer_rounds import ROUND_STAGES, round_stages
from fastdistill_tui.core.stages.registry import timed_stages
from fastdistill_tui.core.gates import GateDecision
from fastdistill_tui.core.store import Store


def _config(data, base_url: str, **gate) -> Config:
    config = Config(student=StudentConfig(enabled=False))
    config.dataset.spec = f"jsonl:{data}"
    config.teacher.spec = "openai:m"
    config.teacher.base_url = base_url
    config.teacher.concurrency = 4
    for key, value in gate.items():
        setattr(config.gates.teacher_eval, key, value)
    return config


def _manifest(outcome) -> dict:
    path = outcome.run_dir / "manifests" / "run.manifest.json"
    return json.loads(path.read_text(encoding="utf-8"))


def test_every_stage_has_a_total_from_its_first_progress_event(tmp_path):
    data, gold = make_dataset(tmp_path / "data", 60)  # 62 rows: 1 duplicate, 1 broken gold
    # --limit samples the whole file: a broken gold in the sample would take one sample off the
    # teacher's total at a moment that depends on timing, so this test leaves it out
    data.write_text("".join(data.read_text().splitlines(True)[:-1]))
    seen: list[ev.Event] = []
    with LoopbackServer(responder=gold_responder(gold), latency_s=0.02) as srv:
        config = _config(data, srv.base_url, min_total=10)
        config.dataset.limit = 40
        store = Store(config.data_dir / "fastdistill.sqlite")
        outcome = asyncio.run(Engine(config, store).run(seen.append, lambda e: False))
        store.close()
    assert outcome.status == "completed"
    started = next(e for e in seen if isinstance(e, ev.RunStarted))
    assert started.total == 40  # --limit honoured
    assert started.stages[:4] == ["canonical", "dedup", "gold_check", "teacher"]
    progress = [e for e in seen if isinstance(e, ev.StageProgress)]
    assert progress
    first = {}
    for event in progress:
        first.setdefault(event.stage, event)
        assert event.total > 0, event
        assert event.eta_s is not None or event.done >= event.total or event.rate_per_s == 0
    assert first["gold_check"].total == 40
    assert first["teacher"].total == 40
    finished = {e.stage: e for e in seen if isinstance(e, ev.StageFinished)}
    assert finished["teacher"].total == 40


def test_timings_are_per_stage_own_work_plus_queue_wait(tmp_path):
    data, gold = make_dataset(tmp_path / "data", 60)
    seen: list[ev.Event] = []
    with LoopbackServer(responder=gold_responder(gold), latency_s=0.05) as srv:
        config = _config(data, srv.base_url)
        store = Store(config.data_dir / "fastdistill.sqlite")
        asyncio.run(Engine(config, store).run(seen.append, lambda e: False))
        store.close()
    timing = [e for e in seen if isinstance(e, ev.TimingUpdated)][-1]
    inactive = set(ROUND_STAGES) - set(round_stages(TeacherConfig(), deterministic=False))
    assert set(timing.stages) == {*timed_stages(), "queue_wait"} - inactive
    assert sum(t["share"] for t in timing.stages.values()) == pytest.approx(1.0)
    for name, t in timing.stages.items():
        assert 0 <= t["p50"] <= t["p90"], name
    # the teacher's 50 ms latency is its own work; the SQL stages take far less
    assert timing.stages["teacher"]["p50"] >= 0.05
    assert timing.stages["teacher"]["p50"] > 5 * timing.stages["clean"]["p50"]


def test_async_decider_is_awaited_and_recorded_with_its_decider(tmp_path):
    data, gold = make_dataset(tmp_path / "data", 60)
    asked: list[ev.GateEvaluated] = []

    async def decide(event: ev.GateEvaluated) -> GateDecision:
        asked.append(event)
        await asyncio.sleep(0.05)
        return GateDecision(True, "user")

    seen: list[ev.Event] = []
    with LoopbackServer(responder=gold_responder(gold, wrong_every=2)) as srv:
        config = _config(data, srv.base_url, min_total=10, gold_match_rate=0.99)
        store = Store(config.data_dir / "fastdistill.sqlite")
        outcome = asyncio.run(Engine(config, store).run(seen.append, decide))
        store.close()
    assert outcome.status == "completed"
    assert [e.early for e in asked] == [True, False]
    decided = [e for e in seen if isinstance(e, ev.GateDecided)]
    assert [(d.proceed, d.by) for d in decided] == [(True, "user"), (True, "user")]
    assert [d["by"] for d in _manifest(outcome)["gate_decisions"]] == ["user", "user"]


def test_stop_while_a_gate_question_is_open_ends_resumable_without_a_decision(tmp_path):
    data, gold = make_dataset(tmp_path / "data", 60)
    cancel = threading.Event()

    async def never_answers(event: ev.GateEvaluated) -> GateDecision:
        cancel.set()  # the user presses stop while the modal is open
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    seen: list[ev.Event] = []
    with LoopbackServer(responder=gold_responder(gold, wrong_every=2)) as srv:
        config = _config(data, srv.base_url, min_total=10, gold_match_rate=0.99)
        store = Store(config.data_dir / "fastdistill.sqlite")
        outcome = asyncio.run(Engine(config, store).run(seen.append, never_answers, cancel))
        store.close()
    assert (outcome.status, outcome.exit_code) == ("cancelled", 130)
    assert "--resume" in outcome.message
    assert not [e for e in seen if isinstance(e, ev.GateDecided)]
    assert _manifest(outcome)["gate_decisions"] == []
