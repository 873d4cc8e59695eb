import json

import pytest

from fastdistill_tui.core import events as ev

SAMPLES = [
    ev.RunStarted("r1", config_hash="abc", dataset="bundled [train]", teacher="builtin:rules-v1",
                  total=10, resumed=True, run_dir="/tmp/x", stages=["canonical", "teacher"]),
    ev.StageStarted("r1", stage="teacher"),
    ev.StageProgress("r1", stage="teacher", done=3, total=10, kept=2, rejected=1,
                     rate_per_s=1.5, eta_s=4.0),
    ev.StageFinished("r1", stage="teacher", total=10, kept=9, rejected=1, seconds=2.5),
    ev.RequestStats("r1", cached=1, fresh=2, failed=1, in_flight=3, tokens_in=100,
                    tokens_out=20, cost=0.01, requests_per_min=5.0, tokens_per_min=50.0,
                    projected_cost=0.1, eta_s=None, retries=2),
    ev.TimingUpdated("r1", stages={"teacher": {"p50": 0.001, "p90": 0.002, "share": 0.5}}),
    ev.GateEvaluated("r1", gate="teacher_eval", passed=False,
                     metrics={"exec_pass_rate": {"value": 0.2, "threshold": 0.5,
                                                 "passed": False}}, early=True),
    ev.GateDecided("r1", gate="teacher_eval", proceed=True, overridden=True, by="user"),
    ev.TrainProgress("r1", iteration=5, total_iterations=100, loss=1.25, val_loss=None,
                     tokens_per_s=300.0),
    ev.StudentMetrics("r1", phase="pre", total=200, exec_pass_rate=0.4, gold_match_rate=0.1),
    ev.RunFinished("r1", status="completed", exit_code=0, seconds=12.0, run_dir="/tmp/x",
                   message="ok ü"),
    ev.Log("r1", level="warning", message="ünïcode"),
]


def test_every_event_type_is_sampled():
    assert {type(e).__name__ for e in SAMPLES} == set(ev.EVENT_TYPES)


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).__name__)
def test_json_round_trip(event):
    line = json.dumps(ev.event_to_json(event))
    back = ev.event_from_json(json.loads(line))
    assert back == event
    assert type(back) is type(event)
    assert back.ts == event.ts


def test_progress_events_coalesce_by_stage():
    a = ev.StageProgress("r", stage="teacher", done=1, total=0)
    b = ev.StageProgress("r", stage="teacher", done=2, total=0)
    c = ev.StageProgress("r", stage="clean", done=2, total=0)
    assert a.coalesce_key == b.coalesce_key != c.coalesce_key
    assert ev.Log("r", level="info", message="x").coalesce_key is None


def test_newer_schema_version_is_refused():
    data = ev.event_to_json(SAMPLES[1])
    data["v"] = ev.SCHEMA_VERSION + 1
    with pytest.raises(ValueError, match="newer"):
        ev.event_from_json(data)
