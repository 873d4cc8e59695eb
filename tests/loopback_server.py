"""A real HTTP teacher server on 127.0.0.1 for tests and benchmarks.

It speaks both OpenAI's ``POST /v1/chat/completions`` and Ollama's ``POST /api/chat``; ``shape``
only picks which ``base_url`` it hands out. It runs aiohttp.web on its own event loop in a
background thread, so it works from sync tests and from async tests alike, and holds hundreds of
concurrent connections without being the bottleneck.

    with LoopbackServer(responder=lambda messages: "SELECT 1", latency_s=0.0,
                        faults=FaultPlan(rate=0.2), shape="openai") as srv:
        provider = make_provider(TeacherConfig(spec="openai:m", base_url=srv.base_url))
        ...
        srv.request_count            # every HTTP request received, faults included
        srv.requests_by_prompt       # Counter: last user message -> requests received
        srv.faults_injected          # Counter: fault kind -> times injected
        srv.authorizations           # Counter of Authorization header values
        srv.bodies                   # every parsed request body, in arrival order

``serial=True`` makes it a one-at-a-time server like llama.cpp's: each request computes for
``latency_s`` while holding the one compute slot (the others queue), and a request whose client
has gone (a client-side timeout) is computed anyway. ``computed`` counts generations finished,
``abandoned`` those nobody was left to read, ``max_waiting`` the most requests queued or
computing at once.

``responder(messages) -> str | Reply`` makes the answer (default: ``SELECT 1``); with
``with_body=True`` it is called as ``responder(messages, body)`` (to answer by temperature or
seed). Return a
``Reply`` to set finish_reason, a reported cost or token counts. Token counts default to
whitespace-separated words of the prompt and of the answer.

``FaultPlan`` injects faults deterministically per (prompt, attempt): a prompt is faulty when a
hash of (seed, prompt) falls under ``rate``; a faulty prompt fails on its first ``fail_attempts``
requests with a kind picked by hash from ``kinds`` and succeeds afterwards, so retries converge.
Kinds: any HTTP error status as a string ("429" adds Retry-After: retry_after_s; "401" quotes
the Authorization header back, as some providers quote a key), "slow" (sleeps slow_s, then
answers), "malformed" (invalid JSON), "empty" (empty content), "truncated" (body shorter than its
Content-Length, then the connection closes), "drop" (connection closed with no response).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

BODY_FAULTS = ("slow", "malformed", "empty", "truncated", "drop")


@dataclass(frozen=True)
class Reply:
    content: str
    finish_reason: str = "stop"
    cost: float | None = None  # reported as usage.cost (OpenRouter style) when set
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@dataclass(frozen=True)
class FaultPlan:
    rate: float = 0.2
    kinds: tuple[str, ...] = ("429", "500", "slow", "malformed", "empty", "truncated")
    seed: int = 0
    fail_attempts: int = 1  # a faulty prompt fails on attempts 0 .. fail_attempts-1
    retry_after_s: float = 0.05
    slow_s: float = 2.0

    def __post_init__(self) -> None:
        unknown = [k for k in self.kinds if k not in BODY_FAULTS and not _is_error_status(k)]
        if unknown:
            raise ValueError(f"unknown fault kinds {unknown}; use an HTTP error status "
                             f"(e.g. '500') or one of {BODY_FAULTS}")

    def fault_for(self, prompt: str, attempt: int) -> str | None:
        if attempt >= self.fail_attempts or not self.kinds:
            return None
        if _unit_hash(self.seed, prompt) >= self.rate:
            return None
        index = int(_unit_hash(self.seed, prompt, attempt) * len(self.kinds))
        return self.kinds[index]


def _unit_hash(*parts: object) -> float:
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _is_error_status(kind: str) -> bool:
    return kind.isdigit() and 400 <= int(kind) <= 599


def echo_select_1(messages: list[dict[str, Any]]) -> str:
    return "SELECT 1"


def _words(text: str) -> int:
    return len(text.split())


class LoopbackServer:
    def __init__(self, responder: Callable[[list[dict[str, Any]]], str | Reply] = echo_select_1,
                 *, latency_s: float = 0.0, faults: FaultPlan | None = None,
                 shape: str = "openai", serial: bool = False, with_body: bool = False) -> None:
        if shape not in ("openai", "ollama"):
            raise ValueError("shape must be 'openai' or 'ollama'")
        self.responder = responder
        self.latency_s = latency_s
        self.faults = faults
        self.shape = shape
        self.serial = serial
        self.with_body = with_body
        self.computed = 0  # serial: generations finished
        self.abandoned = 0  # serial: of those, generations whose client had gone
        self.max_waiting = 0  # serial: most requests queued or computing at once
        self._waiting = 0
        self._compute: asyncio.Lock | None = None
        self.request_count = 0
        self.requests_by_prompt: Counter[str] = Counter()
        self.faults_injected: Counter[str] = Counter()
        self.authorizations: Counter[str] = Counter()
        self.bodies: list[dict[str, Any]] = []  # parsed request bodies, in arrival order
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        root = f"http://127.0.0.1:{self.port}"
        return root + "/v1" if self.shape == "openai" else root

    def __enter__(self) -> "LoopbackServer":
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, args=(ready,), daemon=True,
                                        name="loopback-server")
        self._thread.start()
        if not ready.wait(10) or not self.port:
            raise RuntimeError("loopback server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._thread is not None
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def _serve(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._start())
        ready.set()
        self._loop.run_forever()

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._handle)
        app.router.add_post("/api/chat", self._handle)
        # shutdown_timeout: on exit, cancel handlers still sleeping (slow faults) at once
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False,
                                     shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=4096)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def _stop(self) -> None:
        await self._runner.cleanup()
        handlers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in handlers:  # e.g. a "slow" fault still asleep
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.request_count += 1
        body = await request.json()
        self.bodies.append(body)
        if "Authorization" in request.headers:
            self.authorizations[request.headers["Authorization"]] += 1
        messages = body.get("messages", [])
        prompt = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
        attempt = self.requests_by_prompt[prompt]
        self.requests_by_prompt[prompt] += 1
        if self.serial:
            await self._compute_serially(request)
        elif self.latency_s:
            await asyncio.sleep(self.latency_s)

        fault = self.faults.fault_for(prompt, attempt) if self.faults else None
        if fault:
            self.faults_injected[fault] += 1
        if fault and _is_error_status(fault):
            return self._error(request, int(fault))
        if fault == "slow":
            await asyncio.sleep(self.faults.slow_s)
        if fault == "malformed":
            return web.Response(text='{"choices": [{"message": ', content_type="application/json")
        if fault == "drop":
            request.transport.close()
            return web.Response()  # never sent: the connection is gone
        reply = self.responder(messages, body) if self.with_body else self.responder(messages)
        if isinstance(reply, str):
            reply = Reply(reply)
        if fault == "empty":
            reply = Reply("")
        payload = self._payload(request.path, body, messages, reply)
        if fault == "truncated":
            return await self._truncated(request, json.dumps(payload).encode())
        return web.json_response(payload)

    async def _compute_serially(self, request: web.Request) -> None:
        if self._compute is None:
            self._compute = asyncio.Lock()
        self._waiting += 1
        self.max_waiting = max(self.max_waiting, self._waiting)
        try:
            async with self._compute:
                await asyncio.sleep(self.latency_s)
                self.computed += 1
                if request.transport is None or request.transport.is_closing():
                    self.abandoned += 1
        finally:
            self._waiting -= 1

    def _error(self, request: web.Request, status: int) -> web.Response:
        headers = {}
        message = f"injected HTTP {status}"
        if status == 429:
            headers["Retry-After"] = str(self.faults.retry_after_s)
        if status == 401:
            message = f"Incorrect API key provided: {request.headers.get('Authorization')}"
        return web.json_response({"error": {"message": message}}, status=status, headers=headers)

    @staticmethod
    def _payload(path: str, body: dict[str, Any], messages: list[dict[str, Any]],
                 reply: Reply) -> dict[str, Any]:
        prompt_tokens = (reply.prompt_tokens if reply.prompt_tokens is not None
                         else sum(_words(str(m.get("content", ""))) for m in messages))
        completion_tokens = (reply.completion_tokens if reply.completion_tokens is not None
                             else _words(reply.content))
        if path == "/api/chat":
            return {"model": body.get("model", ""), "done": True,
                    "message": {"role": "assistant", "content": reply.content},
                    "done_reason": reply.finish_reason, "prompt_eval_count": prompt_tokens,
                    "eval_count": completion_tokens}
        usage: dict[str, Any] = {"prompt_tokens": prompt_tokens,
                                 "completion_tokens": completion_tokens,
                                 "total_tokens": prompt_tokens + completion_tokens}
        if reply.cost is not None:
            usage["cost"] = reply.cost
        return {"id": "chatcmpl-loopback", "object": "chat.completion",
                "model": body.get("model", ""),
                "choices": [{"index": 0, "finish_reason": reply.finish_reason,
                             "message": {"role": "assistant", "content": reply.content}}],
                "usage": usage}

    @staticmethod
    async def _truncated(request: web.Request, data: bytes) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.content_length = len(data)
        await response.prepare(request)
        await response.write(data[: len(data) // 2])
        request.transport.close()
        return response
