"""OllamaProvider against the loopback server's /api/chat."""

from __future__ import annotations

import pytest
from loopback_server import FaultPlan, LoopbackServer, Reply

from fastdistill_tui.core.config import TeacherConfig
from fastdistill_tui.core.providers.http_client import Backoff
from fastdistill_tui.core.providers.ollama import OllamaProvider
from fastdistill_tui.core.types import Completion, Failure, GenParams

MESSAGES = [{"role": "system", "content": "Answer with SQL."},
            {"role": "user", "content": "how many rows"}]


async def ask(srv: LoopbackServer, params: GenParams = GenParams(max_tokens=32),
              **teacher: object):
    p = OllamaProvider(TeacherConfig(spec="ollama:m", **teacher), model="qwen3:8b",
                       base_url=srv.base_url, backoff=Backoff(0.01, 0.05))
    try:
        return await p.complete(MESSAGES, params)
    finally:
        await p.aclose()


async def test_native_chat_request_and_answer():
    with LoopbackServer(responder=lambda m: "SELECT COUNT(*) FROM t", shape="ollama") as srv:
        answer = await ask(srv, price_in_per_m=1e6)
    assert isinstance(answer, Completion) and answer.text == "SELECT COUNT(*) FROM t"
    assert (answer.tokens_in, answer.tokens_out, answer.cost) == (6, 4, 6.0)
    body = srv.bodies[0]
    assert body["stream"] is False and body["think"] is False and body["model"] == "qwen3:8b"
    assert body["options"] == {"temperature": 0.0, "num_predict": 32}
    assert body["messages"] == MESSAGES


async def test_think_is_left_out_when_thinking_is_allowed():
    with LoopbackServer(shape="ollama") as srv:
        await ask(srv, GenParams(disable_thinking=False))
    assert "think" not in srv.bodies[0]


async def test_done_reason_length_is_a_billed_failure():
    with LoopbackServer(responder=lambda m: Reply("SELECT", finish_reason="length"),
                        shape="ollama") as srv:
        answer = await ask(srv)
    assert isinstance(answer, Failure)
    assert (answer.reason, answer.tokens_in, answer.tokens_out, answer.attempts) == (
        "length", 6, 1, 1)


@pytest.mark.parametrize("kind", ["500", "empty", "malformed"])
async def test_faults_are_retried(kind):
    with LoopbackServer(shape="ollama", faults=FaultPlan(rate=1.0, kinds=(kind,))) as srv:
        answer = await ask(srv)
    assert isinstance(answer, Completion) and answer.attempts == 2


async def test_unknown_model_404_is_final():
    with LoopbackServer(shape="ollama", faults=FaultPlan(rate=1.0, kinds=("404",))) as srv:
        answer = await ask(srv)
    assert isinstance(answer, Failure) and answer.reason == "http_404" and answer.attempts == 1
