"""How many requests one server gets at once: a limit that adapts to what the server does, and
slots that a timed-out request keeps busy.

Why: a local server (llama.cpp, llama-cpp-python) answers one request at a time. Sending it 32
only queues them: every answer waits for the 31 before it, latency nears the timeout, and a
request that times out is resent while the server still computes the first copy (it keeps
generating after the client leaves), so the queue grows with work nobody will read. A hosted
API (OpenRouter) answers 32 at once at the latency of one. One fixed number cannot suit both.

`ConcurrencyTuner` measures windows of answers to requests sent at one limit: throughput
(answers per second, counted from when the limit was set) and the median latency (the first
window is a warm-up: connections and a server's cold cache would make the next limit look
better). It starts at
`start` and doubles the limit while the server absorbs it — latency within `queueing` × the
lowest window median seen, or throughput up by `gain` — and settles on the limit with the best
throughput once latency rises without throughput (the server queues). Settled, it probes one
more every `probe_every` windows and keeps it only if it pays. It never exceeds `ceiling`
(teacher.concurrency). It takes its clock from the caller, so tests drive time.

`Slots` is the async gate that enforces the tuner's limit. `hold(seconds)` keeps a slot busy
after its request was abandoned (a client-side timeout): the server is presumably still working
on it, so a retry waits for a slot instead of queuing behind its own ghost.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import deque
from collections.abc import Callable


class ConcurrencyTuner:
    """The current limit (`limit`) and the measurements that move it; no I/O, no sleeping."""

    MIN_WINDOW = 3  # answers a window needs at least (a window of 1 is noise)

    def __init__(self, ceiling: int, *, start: int = 1, gain: float = 0.1,
                 queueing: float = 1.5, probe_every: int = 8,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ceiling = max(1, ceiling)
        self.limit = max(1, min(start, self.ceiling))
        self.gain, self.queueing, self.probe_every = gain, queueing, probe_every
        self._clock = clock
        self.settled = False  # False while the limit grows from `start`
        self.best_limit, self.best_throughput = self.limit, 0.0
        self.base_latency = float("inf")  # the lowest window median: the unqueued latency
        self.history: list[tuple[int, float, float]] = []  # (limit, answers/s, median s)
        self._probing_from: int | None = None
        self._windows_settled = 0
        self._timeouts_in_row = 0
        self._warming_up = True  # the first window pays for connections and cold caches
        self._start_window()

    def timed_out(self) -> None:
        """A request got no answer in time. One is a hang (a parallel server's other answers
        keep closing windows); as many as half the limit in a row, with no answer between, is
        a server that cannot keep up, where no window would ever close: halve the limit."""
        self._timeouts_in_row += 1
        if self._timeouts_in_row >= max(2, self.limit // 2):
            self._timeouts_in_row = 0
            self.settled = True
            self._probing_from = None
            self.best_limit = max(1, min(self.best_limit, self.limit // 2))
            self._set(self.limit // 2)

    def _start_window(self) -> None:
        self._window_start = self._clock()
        self._latencies: list[float] = []

    def _set(self, limit: int) -> None:
        self.limit = max(1, min(limit, self.ceiling))
        self._start_window()

    def observe(self, sent_at: float, latency_s: float) -> None:
        """An answer to a request sent at `sent_at` (the clock's time) after `latency_s`.
        Only requests sent under the current limit count toward its window."""
        self._timeouts_in_row = 0
        if sent_at < self._window_start:
            return
        self._latencies.append(latency_s)
        if len(self._latencies) >= max(self.limit, self.MIN_WINDOW):
            self._close_window()

    def _close_window(self) -> None:
        if self._warming_up:  # measured again: a cold first window would flatter the next
            self._warming_up = False
            self._start_window()
            return
        elapsed = max(self._clock() - self._window_start, 1e-9)
        throughput = len(self._latencies) / elapsed
        latency = statistics.median(self._latencies)
        self.history.append((self.limit, throughput, latency))
        unqueued = latency <= self.queueing * self.base_latency
        self.base_latency = min(self.base_latency, latency)
        gained = throughput >= self.best_throughput * (1 + self.gain)
        if not self.settled:
            if gained:  # a limit that gains less than `gain` is not worth its queue
                self.best_limit, self.best_throughput = self.limit, throughput
            if (unqueued or gained) and self.limit < self.ceiling:
                self._set(self.limit * 2)
            else:
                self.settled = True
                self._set(self.best_limit)
            return
        if self._probing_from is not None:  # a probe's window: keep the extra slot if it paid
            came_from, self._probing_from = self._probing_from, None
            if gained:
                self.best_limit, self.best_throughput = self.limit, throughput
                self._start_window()
            else:
                self._set(came_from)
            return
        self.best_throughput = throughput  # the settled limit as the server serves it now
        self._windows_settled += 1
        if self._windows_settled % self.probe_every == 0 and self.limit < self.ceiling:
            self._probing_from = self.limit
            self._set(self.limit + 1)
        else:
            self._start_window()


class Slots:
    """Requests in flight, at most `limit()` of them (read at every acquire, so a tuner's change
    applies at once), plus slots held by abandoned requests for a while."""

    def __init__(self, limit: Callable[[], int]) -> None:
        self._limit = limit
        self.in_flight = 0
        self.held = 0  # slots kept busy by requests abandoned to a timeout
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def acquire(self) -> None:
        while self.in_flight + self.held >= self._limit():
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
        self.in_flight += 1

    def release(self) -> None:
        self.in_flight -= 1
        self._wake()

    def hold(self, seconds: float) -> None:
        """Turn one acquired slot into a held one for `seconds` (call instead of release)."""
        self.in_flight -= 1
        self.held += 1
        asyncio.get_running_loop().call_later(seconds, self._unhold)

    def _unhold(self) -> None:
        self.held -= 1
        self._wake()

    def _wake(self) -> None:
        free = self._limit() - self.in_flight - self.held
        for waiter in list(self._waiters)[:max(free, 0)]:
            if not waiter.done():
                waiter.set_result(None)
