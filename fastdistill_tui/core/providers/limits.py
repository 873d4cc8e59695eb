"""Shared async rate limiting for one provider: RPM and TPM token buckets and a 429 cool-down.

The limiters only sleep (no locks or events), so one instance works across event loops.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Callable
from datetime import datetime, timezone

from ..config import TeacherConfig

MAX_RETRY_AFTER_S = 300.0  # a misbehaving server must not park the run for hours


class TokenBucket:
    """A token bucket refilled at `per_minute / 60` per second; 0 turns it off.

    `acquire` reserves at once and sleeps off any deficit, so waiters are served in arrival order
    and a request larger than the bucket (a long prompt against a TPM limit) still goes through.
    """

    def __init__(self, per_minute: float, *, burst_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate * burst_s)
        self._clock = clock
        self._level = self.capacity
        self._stamp = clock()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    async def acquire(self, amount: float = 1.0) -> None:
        if not self.enabled:
            return
        now = self._clock()
        self._level = min(self.capacity, self._level + (now - self._stamp) * self.rate)
        self._stamp = now
        self._level -= amount
        if self._level < 0:
            await asyncio.sleep(-self._level / self.rate)

    def adjust(self, extra: float) -> None:
        """Charge (or refund, if negative) the difference between an estimate and actual use."""
        if self.enabled:
            self._level -= extra


class CoolDown:
    """When any request is told to back off (HTTP 429), every request waits until it passes."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._until = 0.0

    def trigger(self, delay_s: float) -> None:
        self._until = max(self._until, self._clock() + delay_s)

    def remaining(self) -> float:
        return max(0.0, self._until - self._clock())

    async def wait(self) -> None:
        while (left := self.remaining()) > 0:
            await asyncio.sleep(left)  # loop: another 429 may have pushed the gate further


def parse_retry_after(value: str | None, default_s: float) -> float:
    """Retry-After as delay seconds or an HTTP-date; `default_s` when absent or unreadable."""
    if not value:
        return default_s
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return default_s
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - datetime.now(timezone.utc)).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


class RateLimits:
    """The limiters one provider's requests share."""

    def __init__(self, rpm: int = 0, tpm: int = 0) -> None:
        self.requests = TokenBucket(rpm)
        self.tokens = TokenBucket(tpm)
        self.cool_down = CoolDown()

    @classmethod
    def from_config(cls, teacher: TeacherConfig) -> "RateLimits":
        return cls(rpm=teacher.rpm, tpm=teacher.tpm)

    def open_now(self) -> bool:
        """True when a request may go at once: no RPM/TPM limit and no cool-down running (the
        common case, which then costs no wait at all)."""
        return (not self.requests.enabled and not self.tokens.enabled
                and self.cool_down.remaining() == 0)

    async def before_request(self, token_estimate: int) -> None:
        await self.cool_down.wait()
        await self.requests.acquire(1)
        await self.tokens.acquire(token_estimate)
        await self.cool_down.wait()  # a 429 may have arrived while this one queued
