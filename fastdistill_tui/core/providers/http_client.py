"""The HTTP side of every remote teacher: one pooled httpx client, rate limits and retries.

Transport: DESIGN §7 measured httpx's default transport collapsing past ~64 requests in flight
(C=128: 0.17 of ideal) while the same httpx API over `httpx_aiohttp.AiohttpTransport` held 0.91.
benchmarks/teacher_throughput.py found the aiohttp transport never worse at any concurrency
(and httpx's own slow even at C=32 when requests are short), so "auto" always picks aiohttp;
"httpx" stays available as the fallback.

Retries (max_retries from TeacherConfig; attempts = 1 + retries at most):
  429                                   -> shared cool-down for Retry-After, then retry
  408, 409, 5xx, timeout, connection,
  truncated body, malformed JSON,
  empty content                         -> exponential backoff with full jitter, then retry
  other 4xx, finish_reason=length       -> final at once
Timeouts (see concurrency.py for why): a timed-out request's slot stays busy while the server
presumably still computes it (llama.cpp keeps generating after the client leaves): a typical
answer's time less what it ran, or as long again when it ran past that or no answer came yet
(`ghost_s`), so its retry does not queue behind its own ghost; each retry after a timeout waits
up to twice as long as the last attempt (at most TIMEOUT_GROWTH × timeout_s), since a server
that needed longer than the timeout once will likely need it again.
Concurrency: with teacher.adaptive_concurrency (the default) the requests in flight follow a
ConcurrencyTuner between 1 and teacher.concurrency; otherwise exactly teacher.concurrency.
After stop() (the user stopped the run) no new attempt starts and every wait before a retry ends
at once with the reason "cancelled": a stop never waits out a Retry-After or a backoff.
Tokens and cost add up over every billed attempt: a retried empty answer still costs money.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import statistics
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from ..config import TeacherConfig
from ..types import Answer, Completion, Failure
from .base import Provider
from .concurrency import ConcurrencyTuner, Slots
from .limits import RateLimits, parse_retry_after

log = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({408, 409})  # plus every 5xx
RETRYABLE_BODY_REASONS = frozenset({"malformed_json", "empty_content"})
TIMEOUT_GROWTH = 4  # a retry after timeouts waits at most this many times teacher.timeout_s


def resolve_transport(choice: str) -> str:
    """"httpx" or "aiohttp" for a config value of "auto" | "httpx" | "aiohttp"."""
    if choice == "auto":
        return "aiohttp"
    if choice not in ("httpx", "aiohttp"):
        raise ValueError(f"unknown transport {choice!r}")
    return choice


def make_client(*, concurrency: int, transport: str, timeout_s: float,
                headers: dict[str, str] | None = None) -> httpx.AsyncClient:
    """An AsyncClient whose pool holds `concurrency` connections (kept alive between requests)."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    timeout = httpx.Timeout(timeout_s)
    if resolve_transport(transport) == "aiohttp":
        return httpx.AsyncClient(transport=AiohttpTransport(limits=limits), timeout=timeout,
                                 headers=headers)
    return httpx.AsyncClient(limits=limits, timeout=timeout, headers=headers)


@dataclasses.dataclass(frozen=True)
class Backoff:
    """Full-jitter exponential backoff: sleep uniform(0, min(cap, base * 2**retry))."""

    base_s: float = 0.5
    cap_s: float = 30.0
    default_retry_after_s: float = 3.0  # a 429 without a readable Retry-After

    def delay(self, retry: int, rng: random.Random) -> float:
        return rng.uniform(0.0, min(self.cap_s, self.base_s * 2**retry))


def classify_exception(exc: BaseException) -> str:
    """"timeout" or "connection" for an exception raised while sending or reading."""
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, httpx.TimeoutException):
        # httpx_aiohttp maps every aiohttp.ClientConnectionError (a dropped connection too) to
        # httpx.ConnectTimeout; only a cause that is itself a timeout is one.
        cause = exc.__cause__
        if isinstance(cause, aiohttp.ClientError) and not isinstance(cause, TimeoutError):
            return "connection"
        return "timeout"
    return "connection"


class JsonPoster:
    """POSTs JSON with the retry policy above; `parse` turns a decoded body into an Answer.

    `parse` returns a Completion, or a Failure whose reason says whether to retry
    (RETRYABLE_BODY_REASONS) or stop. The httpx client and the in-flight semaphore are made
    lazily in the loop that uses them, and again when a later `asyncio.run` uses the provider
    (a client cannot outlive its loop); the rate limits are shared by every request.
    `secrets` are scrubbed from every Failure detail and log line.
    """

    def __init__(self, teacher: TeacherConfig, *, headers: dict[str, str] | None = None,
                 secrets: Iterable[str | None] = (), backoff: Backoff | None = None,
                 limits: RateLimits | None = None, rng: random.Random | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.concurrency = teacher.concurrency
        self.timeout_s = teacher.timeout_s
        self.max_retries = teacher.max_retries
        self.transport = resolve_transport(teacher.transport)
        self.backoff = backoff or Backoff()
        self.limits = limits or RateLimits.from_config(teacher)
        self._headers = headers or {}
        self._secrets = [s for s in secrets if s] + [
            value for name, value in self._headers.items() if name.lower() == "authorization"]
        self._rng = rng or random.Random()
        self._clock = clock
        self.tuner = (ConcurrencyTuner(teacher.concurrency, clock=clock)
                      if teacher.adaptive_concurrency else None)
        self.timeouts = 0  # attempts that got no complete answer in time
        self._latencies: deque[float] = deque(maxlen=32)  # of recent answers, for hold()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: httpx.AsyncClient | None = None
        self._slots: Slots | None = None
        self._stopping: asyncio.Event | None = None
        self._stopped = False
        self.rate_limited = 0  # 429 answers received

    def stop(self) -> None:
        self._stopped = True
        if self._stopping is not None:
            self._stopping.set()

    async def _wait(self, waiting: Any) -> bool:
        """Await a wait (a coroutine) unless stop() comes first; False when stopped."""
        if self._stopped:
            waiting.close()
            return False
        assert self._stopping is not None
        task = asyncio.ensure_future(waiting)
        stopper = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pending in (task, stopper):
                pending.cancel()
        return not self._stopped

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def ghost_s(self, waited_s: float) -> float:
        """How long a request abandoned after `waited_s` likely keeps the server busy: what a
        typical answer took (the median of recent ones) less what it already ran, and at
        least `waited_s` again when no answer came yet or it ran past the typical time."""
        if not self._latencies:
            return waited_s
        typical = statistics.median(self._latencies)
        return max(typical - waited_s, waited_s if waited_s >= typical else 0.0, 0.05)

    def limit(self) -> int:
        """Requests allowed in flight now."""
        return self.tuner.limit if self.tuner is not None else self.concurrency

    def _session(self) -> tuple[httpx.AsyncClient, Slots]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._client = make_client(concurrency=self.concurrency, transport=self.transport,
                                       timeout_s=self.timeout_s, headers=self._headers)
            self._slots = Slots(self.limit)
            self._stopping = asyncio.Event()  # a new loop is a new run: not stopped
            self._stopped = False
            self._loop = loop
        return self._client, self._slots

    async def aclose(self) -> None:
        """Close the client if it belongs to this loop; one from a finished loop is dropped."""
        if self._client is not None and self._loop is asyncio.get_running_loop():
            await self._client.aclose()
        self._client = self._loop = self._slots = None

    async def post(self, url: str, payload: dict[str, Any], parse: Callable[[Any], Answer], *,
                   token_estimate: int = 0) -> Answer:
        started = time.monotonic()
        try:
            answer, attempts, billed = await self._post_with_retries(url, payload, parse,
                                                                     token_estimate)
        except Exception as exc:  # complete() must not raise for one bad request
            answer, attempts, billed = Failure("error", self.redact(repr(exc))), 1, (0, 0, 0.0)
        tokens_in, tokens_out, cost = billed
        return dataclasses.replace(answer, attempts=attempts, tokens_in=tokens_in,
                                   tokens_out=tokens_out, cost=cost,
                                   latency_s=time.monotonic() - started)

    async def _post_with_retries(self, url: str, payload: dict[str, Any],
                                 parse: Callable[[Any], Answer], token_estimate: int
                                 ) -> tuple[Answer, int, tuple[int, int, float]]:
        client, slots = self._session()
        tokens_in = tokens_out = 0
        cost = 0.0
        attempt = 0
        timeout_s = self.timeout_s
        while True:
            if self._stopped or (not self.limits.open_now() and not await self._wait(
                    self.limits.before_request(token_estimate))):
                return (Failure("cancelled", "stopped by the user before a retry"),
                        max(attempt, 1), (tokens_in, tokens_out, cost))
            attempt += 1
            answer, retry_after = await self._attempt(client, slots, url, payload, parse,
                                                      timeout_s)
            tokens_in += answer.tokens_in
            tokens_out += answer.tokens_out
            cost += answer.cost
            if token_estimate:
                self.limits.tokens.adjust(answer.tokens_in + answer.tokens_out - token_estimate)
            if retry_after is not None:
                self.limits.cool_down.trigger(retry_after)  # even if this request gives up
            retryable = retry_after is not None or _retryable(answer)
            if not retryable or attempt > self.max_retries:
                return answer, attempt, (tokens_in, tokens_out, cost)
            log.debug("teacher request failed (%s), retry %d of %d", answer.reason, attempt,
                      self.max_retries)
            if answer.reason == "timeout":
                timeout_s = min(timeout_s * 2, self.timeout_s * TIMEOUT_GROWTH)
            if retry_after is None:  # a 429's wait is the cool-down at the top of the loop
                await self._wait(asyncio.sleep(self.backoff.delay(attempt - 1, self._rng)))

    async def _attempt(self, client: httpx.AsyncClient, slots: Slots, url: str,
                       payload: dict[str, Any], parse: Callable[[Any], Answer],
                       timeout_s: float) -> tuple[Answer, float | None]:
        """One request: the answer and, for a 429, the seconds to cool down."""
        await slots.acquire()
        sent_at = self._clock()
        try:
            async with asyncio.timeout(timeout_s):
                response = await client.post(url, json=payload, timeout=timeout_s)
        except (TimeoutError, httpx.TransportError) as exc:
            reason = classify_exception(exc)
            if reason == "timeout":
                self.timeouts += 1
                slots.hold(self.ghost_s(timeout_s))  # the server is likely still computing it
                if self.tuner is not None:
                    self.tuner.timed_out()
            else:
                slots.release()
            cause = exc.__cause__ if isinstance(exc.__cause__, aiohttp.ClientError) else exc
            detail = (f"no complete answer within {timeout_s:g}s" if reason == "timeout"
                      else self.redact(f"{type(cause).__name__}: {cause}"))
            return Failure(reason, detail), None
        except BaseException:
            slots.release()
            raise
        if 200 <= response.status_code < 300:
            self._latencies.append(self._clock() - sent_at)
            if self.tuner is not None:
                self.tuner.observe(sent_at, self._latencies[-1])
        slots.release()
        status = response.status_code
        if status == 429:
            self.rate_limited += 1
            delay = parse_retry_after(response.headers.get("Retry-After"),
                                      self.backoff.default_retry_after_s)
            return Failure("rate_limited", f"HTTP 429, retry after {delay:.2f}s",
                           http_status=429), delay
        if not 200 <= status < 300:
            detail = self.redact(f"HTTP {status}: {response.text[:300]}")
            return Failure(f"http_{status}", detail, http_status=status), None
        try:
            data = response.json()
        except ValueError as exc:
            return Failure("malformed_json", f"body is not JSON: {exc}", http_status=status), None
        try:
            return parse(data), None
        except (KeyError, IndexError, TypeError, AttributeError, ValueError) as exc:
            detail = self.redact(f"unexpected response shape ({exc!r}): {response.text[:300]}")
            return Failure("malformed_json", detail, http_status=status), None


def _retryable(answer: Answer) -> bool:
    if isinstance(answer, Completion):
        return False
    if answer.reason in RETRYABLE_BODY_REASONS or answer.reason in ("timeout", "connection"):
        return True
    status = answer.http_status
    return answer.reason.startswith("http_") and status is not None and (
        status in RETRYABLE_STATUSES or status >= 500)


def estimate_tokens(messages: list[dict[str, str]], max_tokens: int) -> int:
    """A TPM reservation before the real usage is known: ~4 characters a token, plus the cap."""
    return sum(len(str(m.get("content", ""))) for m in messages) // 4 + max_tokens


class HttpProvider(Provider):
    """A teacher behind a JSON HTTP API: stop, 429 counts, pauses and closing go to its
    JsonPoster (`self._http`), which the subclass creates."""

    _http: JsonPoster

    def stop(self) -> None:
        self._http.stop()

    @property
    def rate_limited(self) -> int:
        return self._http.rate_limited

    def paused_s(self) -> float:
        return self._http.limits.cool_down.remaining()

    def concurrency_note(self) -> str:
        tuner = self._http.tuner
        if tuner is None or not tuner.history:
            return ""
        if not tuner.settled:
            return (f"teacher requests in flight grew to {tuner.limit} "
                    f"(teacher.concurrency = {tuner.ceiling}): the server kept up")
        return (f"teacher requests in flight settled at {tuner.best_limit} "
                f"(teacher.concurrency = {tuner.ceiling}): {tuner.best_throughput:.2f} answers/s "
                f"there; more only queued at the server")

    async def aclose(self) -> None:
        await self._http.aclose()
