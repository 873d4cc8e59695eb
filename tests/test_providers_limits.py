"""Rate limits (RPM, TPM, 429 cool-down), Retry-After parsing and transport choice."""

from __future__ import annotations

import asyncio
import email.utils
import time
from datetime import datetime, timedelta, timezone

import pytest
from loopback_server import LoopbackServer

from fastdistill_tui.core.config import TeacherConfig
from fastdistill_tui.core.providers.http_client import resolve_transport
from fastdistill_tui.core.providers.limits import (MAX_RETRY_AFTER_S, CoolDown, TokenBucket,
                                                   parse_retry_after)
from fastdistill_tui.core.providers.openai_compat import OpenAICompatProvider
from fastdistill_tui.core.types import GenParams


async def test_rpm_limit_spaces_requests_to_the_rate():
    teacher = TeacherConfig(spec="openai:m", rpm=1200, concurrency=64)  # 20/s, burst of 20
    with LoopbackServer() as srv:
        p = OpenAICompatProvider(teacher, model="m", base_url=srv.base_url)
        started = time.monotonic()
        answers = await asyncio.gather(*(
            p.complete([{"role": "user", "content": f"q{i}"}], GenParams()) for i in range(50)))
        elapsed = time.monotonic() - started
        await p.aclose()
    assert all(a.ok for a in answers) and srv.request_count == 50
    assert 1.4 <= elapsed < 3.0  # 20 at once, then 30 more at 20/s


async def test_without_limits_the_same_requests_are_not_held_back():
    with LoopbackServer() as srv:
        p = OpenAICompatProvider(TeacherConfig(concurrency=64), model="m", base_url=srv.base_url)
        started = time.monotonic()
        await asyncio.gather(*(
            p.complete([{"role": "user", "content": f"q{i}"}], GenParams()) for i in range(50)))
        elapsed = time.monotonic() - started
        await p.aclose()
    assert elapsed < 1.0


async def test_token_bucket_waits_off_a_deficit_in_arrival_order():
    bucket = TokenBucket(600)  # 10 tokens/s, capacity 10
    started = time.monotonic()
    await bucket.acquire(10)
    assert time.monotonic() - started < 0.05
    done: list[int] = []

    async def take(i: int) -> None:
        await bucket.acquire(2)
        done.append(i)

    await asyncio.gather(*(take(i) for i in range(3)))
    assert done == [0, 1, 2]
    assert 0.55 <= time.monotonic() - started < 0.9  # 6 tokens at 10/s


async def test_token_bucket_admits_a_request_larger_than_its_capacity():
    bucket = TokenBucket(60 * 100)  # 100 tokens/s, capacity 100
    started = time.monotonic()
    await bucket.acquire(130)  # not an endless wait: it runs a 0.3 s deficit
    await bucket.acquire(1)
    assert 0.25 <= time.monotonic() - started < 0.6


async def test_token_bucket_adjust_refunds_an_overestimate():
    bucket = TokenBucket(600)
    await bucket.acquire(10)
    bucket.adjust(-10)  # the request used far fewer tokens than reserved
    started = time.monotonic()
    await bucket.acquire(5)
    assert time.monotonic() - started < 0.05


async def test_zero_turns_a_bucket_off():
    bucket = TokenBucket(0)
    started = time.monotonic()
    for _ in range(1000):
        await bucket.acquire(10**6)
    assert not bucket.enabled and time.monotonic() - started < 0.1


async def test_cool_down_holds_every_waiter_until_the_latest_deadline():
    gate = CoolDown()
    gate.trigger(0.2)
    gate.trigger(0.05)  # an earlier deadline does not shorten the wait

    async def waiter() -> float:
        await gate.wait()
        return time.monotonic()

    started = time.monotonic()
    task = asyncio.gather(waiter(), waiter())
    await asyncio.sleep(0.1)
    gate.trigger(0.2)  # a second 429 while they wait pushes the gate further
    finished = await task
    assert all(0.29 <= t - started < 0.5 for t in finished)


def test_retry_after_seconds_dates_and_garbage():
    assert parse_retry_after("2", 5.0) == 2.0
    assert parse_retry_after("0.25", 5.0) == 0.25
    assert parse_retry_after(None, 5.0) == 5.0
    assert parse_retry_after("soon", 5.0) == 5.0
    assert parse_retry_after("-3", 5.0) == 0.0
    assert parse_retry_after("99999", 5.0) == MAX_RETRY_AFTER_S
    when = datetime.now(timezone.utc) + timedelta(seconds=30)
    assert 28 <= parse_retry_after(email.utils.format_datetime(when, usegmt=True), 5.0) <= 30
    past = datetime.now(timezone.utc) - timedelta(seconds=30)
    assert parse_retry_after(email.utils.format_datetime(past, usegmt=True), 5.0) == 0.0


@pytest.mark.parametrize("choice,expected", [
    ("auto", "aiohttp"), ("httpx", "httpx"), ("aiohttp", "aiohttp")])
def test_transport_choice(choice, expected):
    assert resolve_transport(choice) == expected


def test_unknown_transport_is_refused():
    with pytest.raises(ValueError, match="unknown transport"):
        resolve_transport("curl")
