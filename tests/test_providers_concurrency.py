"""Adaptive concurrency (core/providers/concurrency.py): the tuner on simulated servers (a
driven clock, no sleeping), the slots' hold, and the provider against a real one-at-a-time
loopback server that keeps computing after its client leaves, like llama.cpp."""

from __future__ import annotations

import asyncio
import heapq

from loopback_server import LoopbackServer

from fastdistill_tui.core.config import TeacherConfig
from fastdistill_tui.core.providers.concurrency import ConcurrencyTuner, Slots
from fastdistill_tui.core.providers.http_client import Backoff
from fastdistill_tui.core.providers.openai_compat import OpenAICompatProvider
from fastdistill_tui.core.types import GenParams


def simulate(tuner: ConcurrencyTuner, clock: list[float], *, workers: int, service_s: float,
             requests: int) -> list[int]:
    """A server with `workers` compute slots (FIFO) answering an unending demand; returns the
    limit in force at each send."""
    free_at = [0.0] * workers
    done: list[tuple[float, float]] = []  # (done at, sent at)
    limits, sent = [], 0
    while sent < requests or done:
        while sent < requests and len(done) < tuner.limit:
            now = clock[0]
            start = max(now, heapq.heappop(free_at))
            heapq.heappush(free_at, start + service_s)
            heapq.heappush(done, (start + service_s, now))
            limits.append(tuner.limit)
            sent += 1
        finished, sent_at = heapq.heappop(done)
        clock[0] = finished
        tuner.observe(sent_at, finished - sent_at)
    return limits


def tuner_on(ceiling: int = 32) -> tuple[ConcurrencyTuner, list[float]]:
    clock = [0.0]
    return ConcurrencyTuner(ceiling, clock=lambda: clock[0]), clock


def test_a_one_at_a_time_server_settles_at_one_request():
    tuner, clock = tuner_on()
    limits = simulate(tuner, clock, workers=1, service_s=1.3, requests=300)
    assert tuner.settled and tuner.best_limit == 1
    assert max(limits) == 2  # the start-up doubling, then only probes of one more
    assert sum(limit == 1 for limit in limits[20:]) > 0.8 * len(limits[20:])


def test_a_parallel_server_gets_the_whole_ceiling():
    tuner, clock = tuner_on(32)
    limits = simulate(tuner, clock, workers=1000, service_s=2.0, requests=400)
    assert tuner.limit == 32 and limits[-1] == 32
    assert limits.index(32) < 80  # doubling: 1+2+4+8+16 requests ramp it up


def test_a_server_of_four_slots_settles_at_four():
    tuner, clock = tuner_on(32)
    simulate(tuner, clock, workers=4, service_s=1.0, requests=400)
    assert tuner.best_limit == 4 and tuner.limit in (4, 5)  # 5 only while probing


def test_probes_follow_a_server_that_gets_more_slots():
    tuner, clock = tuner_on(32)
    simulate(tuner, clock, workers=1, service_s=1.0, requests=100)
    assert tuner.best_limit == 1
    simulate(tuner, clock, workers=3, service_s=1.0, requests=600)
    assert tuner.best_limit == 3


def test_timeouts_in_a_row_halve_the_limit_but_one_hang_does_not():
    tuner, clock = tuner_on(32)
    simulate(tuner, clock, workers=1000, service_s=1.0, requests=200)
    assert tuner.limit == 32
    tuner.timed_out()
    assert tuner.limit == 32  # one hang among answers
    tuner.observe(clock[0], 1.0)
    for _ in range(16):
        tuner.timed_out()
    assert tuner.limit == 16 and tuner.settled


async def test_a_held_slot_stays_busy_until_its_time_is_up():
    slots = Slots(lambda: 1)
    await slots.acquire()
    slots.hold(0.2)  # abandoned to a timeout: the server still works on it
    waiting = asyncio.ensure_future(slots.acquire())
    for _ in range(5):
        await asyncio.sleep(0)
    assert not waiting.done() and (slots.in_flight, slots.held) == (0, 1)
    await asyncio.wait_for(waiting, 10)
    assert (slots.in_flight, slots.held) == (1, 0)


async def test_slots_follow_a_limit_that_grows():
    limit = [1]
    slots = Slots(lambda: limit[0])
    await slots.acquire()
    waiters = [asyncio.ensure_future(slots.acquire()) for _ in range(3)]
    await asyncio.sleep(0)
    limit[0] = 3
    slots.release()  # wakes as many as the new limit allows
    await asyncio.wait_for(asyncio.gather(*waiters[:3]), 10)
    assert slots.in_flight == 3


def slow_server_provider(srv: LoopbackServer, **teacher: object) -> OpenAICompatProvider:
    config = TeacherConfig(spec="openai:m", **{"concurrency": 32, "max_retries": 3, **teacher})
    return OpenAICompatProvider(config, model="m", base_url=srv.base_url,
                                backoff=Backoff(base_s=0.01, cap_s=0.02))


async def ask_all(provider: OpenAICompatProvider, count: int) -> list:
    try:
        return await asyncio.gather(*(provider.complete(
            [{"role": "user", "content": f"question {i}"}], GenParams()) for i in range(count)))
    finally:
        await provider.aclose()


async def test_adaptive_concurrency_stops_queuing_at_a_one_at_a_time_server():
    # 0.1 s a generation: far above a busy machine's scheduling noise
    with LoopbackServer(latency_s=0.1, serial=True) as fixed_srv:
        answers = await ask_all(slow_server_provider(fixed_srv, adaptive_concurrency=False), 40)
    assert all(a.ok for a in answers)
    with LoopbackServer(latency_s=0.1, serial=True) as srv:
        provider = slow_server_provider(srv)
        answers = await ask_all(provider, 40)
    assert all(a.ok for a in answers) and srv.computed == 40
    assert fixed_srv.max_waiting >= 30  # 32 in flight: all but one queue at the server
    assert srv.max_waiting <= 4 and provider._http.tuner.best_limit <= 2


async def test_a_timed_out_request_is_not_resent_while_the_server_computes_it():
    # 0.5 s a generation, 0.4 s timeout: the first attempt is abandoned, the server finishes it
    # anyway; the retry waits for that slot and gets a longer timeout (0.8 s)
    with LoopbackServer(latency_s=0.5, serial=True) as srv:
        provider = slow_server_provider(srv, timeout_s=0.4)
        [answer] = await ask_all(provider, 1)
        for _ in range(100):  # the abandoned generation is counted when it ends
            if srv.computed == 2:
                break
            await asyncio.sleep(0.05)
    assert answer.ok and answer.attempts == 2
    assert (srv.request_count, srv.computed, srv.abandoned) == (2, 2, 1)
    assert srv.max_waiting == 1  # the retry never queued behind its own ghost
    assert provider._http.timeouts == 1


def test_an_abandoned_request_is_held_for_what_a_typical_answer_has_left():
    poster = OpenAICompatProvider(TeacherConfig(spec="openai:m"), model="m",
                                  base_url="http://127.0.0.1:9/v1")._http
    assert poster.ghost_s(1.0) == 1.0  # no answer yet: as long again
    poster._latencies.extend([20.0, 22.0, 21.0])
    assert poster.ghost_s(1.0) == 20.0  # a typical answer takes 21 s: 20 s left
    assert poster.ghost_s(30.0) == 30.0  # slower than typical: as long again


async def test_the_provider_says_where_the_limit_settled():
    with LoopbackServer(latency_s=0.1, serial=True) as srv:
        provider = slow_server_provider(srv)
        await ask_all(provider, 20)
    note = provider.concurrency_note()
    # 1, or 2 on a machine so busy that its scheduling noise rivals 0.1 s
    assert note.startswith(("teacher requests in flight settled at 1 (teacher.concurrency = 32)",
                            "teacher requests in flight settled at 2 "))
