"""OpenAICompatProvider against a real loopback HTTP server: every fault kind, both transports."""

from __future__ import annotations

import asyncio
import time

import pytest
from loopback_server import FaultPlan, LoopbackServer, Reply

from fastdistill_tui.core.config import TeacherConfig
from fastdistill_tui.core.providers.http_client import Backoff
from fastdistill_tui.core.providers.openai_compat import OpenAICompatProvider
from fastdistill_tui.core.types import Completion, Failure, GenParams

FAST = Backoff(base_s=0.01, cap_s=0.05)
PARAMS = GenParams(max_tokens=64)
TRANSPORTS = ["httpx", "aiohttp"]


def ask(prompt: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": "Answer with SQL."}, {"role": "user", "content": prompt}]


def provider(srv: LoopbackServer, transport: str = "httpx", *, name: str = "openai",
             model: str = "m", api_key: str | None = None, **teacher: object
             ) -> OpenAICompatProvider:
    config = TeacherConfig(spec=f"openai:{model}", transport=transport,
                           **{"timeout_s": 5.0, "max_retries": 2, **teacher})
    return OpenAICompatProvider(config, model=model, base_url=srv.base_url, api_key=api_key,
                                name=name, backoff=FAST)


async def one(srv: LoopbackServer, prompt: str = "q", transport: str = "httpx",
              **teacher: object):
    p = provider(srv, transport, **teacher)
    try:
        return await p.complete(ask(prompt), PARAMS)
    finally:
        await p.aclose()


def always(kind: str, **plan: object) -> FaultPlan:
    return FaultPlan(rate=1.0, kinds=(kind,), fail_attempts=10**6, **plan)


def once(kind: str, **plan: object) -> FaultPlan:
    return FaultPlan(rate=1.0, kinds=(kind,), fail_attempts=1, **plan)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_plain_answer_with_usage(transport):
    with LoopbackServer(responder=lambda m: "SELECT name FROM t") as srv:
        answer = await one(srv, "how many", transport)
    assert answer == Completion("SELECT name FROM t", tokens_in=5, tokens_out=4, cost=0.0,
                                latency_s=answer.latency_s, attempts=1)
    assert srv.bodies[0]["model"] == "m" and srv.bodies[0]["max_tokens"] == 64
    assert srv.bodies[0]["temperature"] == 0.0


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_429_waits_for_retry_after_then_succeeds(transport):
    with LoopbackServer(faults=once("429", retry_after_s=0.4)) as srv:
        started = time.monotonic()
        answer = await one(srv, transport=transport)
        waited = time.monotonic() - started
    assert isinstance(answer, Completion) and answer.attempts == 2
    assert 0.4 <= waited < 2.0


async def test_429_cool_down_holds_back_other_requests():
    plan = FaultPlan(rate=0.5, kinds=("429",), fail_attempts=1, retry_after_s=0.5)
    limited = next(f"q{i}" for i in range(100) if plan.fault_for(f"q{i}", 0))
    clean = next(f"q{i}" for i in range(100) if not plan.fault_for(f"q{i}", 0))
    with LoopbackServer(faults=plan) as srv:
        p = provider(srv, max_retries=0)  # the limited request gives up; the gate still closes
        first = await p.complete(ask(limited), PARAMS)
        started = time.monotonic()
        second = await p.complete(ask(clean), PARAMS)
        held = time.monotonic() - started
        await p.aclose()
    assert isinstance(first, Failure) and first.reason == "rate_limited"
    assert isinstance(second, Completion) and second.attempts == 1
    assert held >= 0.4  # it waited out the other request's Retry-After


async def test_429_every_time_ends_rate_limited():
    with LoopbackServer(faults=always("429", retry_after_s=0.01)) as srv:
        answer = await one(srv, max_retries=3)
    assert answer == Failure("rate_limited", answer.detail, attempts=4, http_status=429,
                             latency_s=answer.latency_s)
    assert srv.request_count == 4


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_500_then_success(transport):
    with LoopbackServer(faults=once("500")) as srv:
        answer = await one(srv, transport=transport)
    assert isinstance(answer, Completion) and answer.attempts == 2 and srv.request_count == 2


async def test_500_every_time_ends_http_500_after_max_retries():
    with LoopbackServer(faults=always("503")) as srv:
        answer = await one(srv, max_retries=2)
    assert isinstance(answer, Failure)
    assert (answer.reason, answer.http_status, answer.attempts) == ("http_503", 503, 3)
    assert srv.request_count == 3


@pytest.mark.parametrize("status", ["400", "404", "422"])
async def test_other_4xx_is_final_without_retry(status):
    with LoopbackServer(faults=always(status)) as srv:
        answer = await one(srv)
    assert isinstance(answer, Failure) and answer.reason == f"http_{status}"
    assert answer.attempts == 1 and srv.request_count == 1


@pytest.mark.parametrize("status", ["408", "409"])
async def test_408_and_409_are_retried(status):
    with LoopbackServer(faults=once(status)) as srv:
        answer = await one(srv)
    assert isinstance(answer, Completion) and answer.attempts == 2


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_slow_answer_times_out_then_retry_succeeds(transport):
    with LoopbackServer(faults=once("slow", slow_s=2.0)) as srv:
        answer = await one(srv, transport=transport, timeout_s=0.3)
    assert isinstance(answer, Completion) and answer.attempts == 2


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_never_recovering_slow_server_ends_timeout(transport):
    with LoopbackServer(faults=always("slow", slow_s=2.0)) as srv:
        started = time.monotonic()
        answer = await one(srv, transport=transport, timeout_s=0.2, max_retries=1)
        elapsed = time.monotonic() - started
    assert isinstance(answer, Failure) and answer.reason == "timeout" and answer.attempts == 2
    assert 0.4 <= elapsed < 1.5  # two 0.2 s attempts, not the server's 2 s


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("kind,reason", [("malformed", "malformed_json"),
                                         ("truncated", "connection"), ("drop", "connection"),
                                         ("empty", "empty_content")])
async def test_body_fault_recovers_on_retry_or_ends_with_its_reason(transport, kind, reason):
    with LoopbackServer(faults=once(kind)) as srv:
        recovered = await one(srv, transport=transport)
    assert isinstance(recovered, Completion) and recovered.attempts == 2
    with LoopbackServer(faults=always(kind)) as srv:
        failed = await one(srv, transport=transport, max_retries=2)
    assert isinstance(failed, Failure) and failed.reason == reason and failed.attempts == 3
    assert srv.request_count == 3


async def test_empty_content_attempts_are_all_billed():
    with LoopbackServer(faults=always("empty")) as srv:
        answer = await one(srv, "a b c", max_retries=2, price_in_per_m=1e6)
    # 3 attempts x (3 prompt words + 3 system words) prompt tokens, $1 a token
    assert (answer.reason, answer.tokens_in, answer.cost) == ("empty_content", 18, 18.0)


async def test_finish_reason_length_is_final_and_keeps_tokens_and_cost():
    reply = Reply("SELECT a FROM", finish_reason="length", cost=0.0021)
    with LoopbackServer(responder=lambda m: reply) as srv:
        answer = await one(srv)
    assert isinstance(answer, Failure) and answer.reason == "length"
    assert (answer.tokens_in, answer.tokens_out, answer.cost, answer.attempts) == (4, 3, 0.0021, 1)


async def test_cost_from_price_table_when_not_reported():
    with LoopbackServer(responder=lambda m: Reply("SELECT 1", prompt_tokens=1000,
                                                  completion_tokens=500)) as srv:
        answer = await one(srv, price_in_per_m=0.25, price_out_per_m=2.0)
    assert answer.cost == pytest.approx(1000 * 0.25 / 1e6 + 500 * 2.0 / 1e6)


async def test_reported_cost_wins_over_price_table():
    with LoopbackServer(responder=lambda m: Reply("SELECT 1", cost=0.0042)) as srv:
        answer = await one(srv, price_in_per_m=100.0, price_out_per_m=100.0)
    assert answer.cost == 0.0042


async def test_reasoning_content_is_not_part_of_the_answer():
    class Thinking(LoopbackServer):
        @staticmethod
        def _payload(path, body, messages, reply):
            payload = LoopbackServer._payload(path, body, messages, reply)
            payload["choices"][0]["message"]["reasoning_content"] = "let me think"
            return payload

    with Thinking() as srv:
        answer = await one(srv)
    assert answer.text == "SELECT 1"


async def test_openrouter_gets_reasoning_off_plain_servers_do_not():
    with LoopbackServer() as srv:
        for name in ("openrouter", "openai"):
            p = provider(srv, name=name)
            await p.complete(ask("q"), PARAMS)
            await p.complete(ask("q"), GenParams(disable_thinking=False))
            await p.aclose()
    openrouter_off, openrouter_on, openai_off, openai_on = srv.bodies
    assert openrouter_off["reasoning"] == {"enabled": False}
    assert all("reasoning" not in body for body in (openrouter_on, openai_off, openai_on))


async def test_mandatory_reasoning_model_is_retried_without_the_switch():
    """Some OpenRouter models answer 400 when asked to turn reasoning off."""
    from aiohttp import web

    class MandatoryReasoning(LoopbackServer):
        async def _handle(self, request):
            body = await request.json()
            if "reasoning" in body:
                self.request_count += 1
                self.bodies.append(body)
                return web.json_response({"error": {"message": "Reasoning is mandatory for "
                                                    "this endpoint and cannot be disabled."}},
                                         status=400)
            return await super()._handle(request)

    with MandatoryReasoning() as srv:
        p = provider(srv, name="openrouter")
        first = await p.complete(ask("q1"), PARAMS)
        second = await p.complete(ask("q2"), PARAMS)
        await p.aclose()
    assert first.ok and second.ok
    assert ["reasoning" in body for body in srv.bodies] == [True, False, False]


async def test_qwen3_gets_no_think_on_the_last_user_message_only():
    messages = [{"role": "user", "content": "first"}, {"role": "assistant", "content": "x"},
                {"role": "user", "content": "second"}]
    with LoopbackServer() as srv:
        qwen = provider(srv, model="Qwen/Qwen3-8B")
        await qwen.complete(messages, PARAMS)
        await qwen.complete(messages, GenParams(disable_thinking=False))
        other = provider(srv, model="llama-3")
        await other.complete(messages, PARAMS)
        await qwen.aclose()
        await other.aclose()
    sent = [[m["content"] for m in body["messages"]] for body in srv.bodies]
    assert sent == [["first", "x", "second /no_think"], ["first", "x", "second"],
                    ["first", "x", "second"]]
    assert messages[2]["content"] == "second"  # the caller's list is not modified


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_mixed_faults_converge_to_the_fault_free_answers(transport):
    prompts = [f"question {i}" for i in range(200)]

    def responder(messages):
        return "SELECT " + messages[-1]["content"].split()[-1]

    async def run_all(srv):
        p = provider(srv, transport, concurrency=32, timeout_s=0.5, max_retries=5)
        answers = await asyncio.gather(*(p.complete(ask(q), PARAMS) for q in prompts))
        await p.aclose()
        return answers

    with LoopbackServer(responder=responder) as srv:
        clean = await run_all(srv)
    plan = FaultPlan(rate=0.2, kinds=("429", "500", "slow", "malformed", "empty", "truncated"),
                     seed=7, fail_attempts=1, retry_after_s=0.05, slow_s=1.0)
    with LoopbackServer(responder=responder, latency_s=0.01, faults=plan) as srv:
        faulty = await run_all(srv)

    assert all(isinstance(a, Completion) for a in clean + faulty)
    assert [a.text for a in faulty] == [a.text for a in clean]  # per prompt, in order
    faulted = {q for q in prompts if plan.fault_for(q, 0)}
    assert 25 <= len(faulted) <= 55 and len(srv.faults_injected) == 6
    retried = {q for q, a in zip(prompts, faulty) if a.attempts > 1}
    if transport == "aiohttp":
        assert retried == faulted
        assert sum(a.attempts for a in faulty) == srv.request_count == len(prompts) + len(faulted)
    else:
        # httpx's own transport is slow enough here that a few clean requests also time out
        # (see benchmarks/teacher_throughput.py); they are retried like any other timeout.
        assert retried >= faulted


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_provider_works_across_asyncio_run_calls(transport):
    """The engine may be run twice (e.g. a resume) with one provider; each loop gets a client."""
    with LoopbackServer() as srv:
        p = provider(srv, transport)
        first = asyncio.run(p.complete(ask("q"), PARAMS))
        second = asyncio.run(p.complete(ask("q"), PARAMS))
        asyncio.run(p.aclose())
    assert first.ok and second.ok


@pytest.mark.parametrize("transport", ["httpx", "aiohttp"])
def test_a_refused_connection_is_called_one_not_a_timeout(transport):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    teacher = TeacherConfig(spec="openai:m", max_retries=0, transport=transport)
    p = OpenAICompatProvider(teacher, model="m", base_url=f"http://127.0.0.1:{port}/v1")

    async def go():
        try:
            return await p.complete(ask("q"), GenParams())
        finally:
            await p.aclose()

    answer = asyncio.run(go())
    assert isinstance(answer, Failure) and answer.reason == "connection"
    assert "Timeout" not in answer.detail and (
        "refused" in answer.detail.lower() or "connect" in answer.detail.lower()), answer.detail
