"""Teacher request throughput: OpenAICompatProvider against a loopback server with latency L.

Exactly C requests are kept in flight (C workers share one provider whose pool is sized to C);
ideal = N*L/C, ratio = ideal / wall. The server runs in its own process (benchmarks/loopback.py).
`--raw` adds a plain aiohttp client as the yardstick for what this machine and server allow.

    python benchmarks/teacher_throughput.py [--latency 0.5] [--n 2000] [--concurrency 64,128,256]
        [--transports httpx,aiohttp,auto] [--raw]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fastdistill_tui.core.config import TeacherConfig  # noqa: E402
from fastdistill_tui.core.providers.http_client import resolve_transport  # noqa: E402
from fastdistill_tui.core.providers.openai_compat import OpenAICompatProvider  # noqa: E402
from fastdistill_tui.core.types import GenParams  # noqa: E402


def messages(i: int) -> list[dict[str, str]]:
    return [{"role": "system", "content": "Answer with one SQL query."},
            {"role": "user", "content": f"How many singers are older than {i}?"}]


async def keep_in_flight(n: int, concurrency: int, send) -> tuple[float, int]:
    """Run send(i) for i < n with exactly `concurrency` in flight; (wall seconds, failures)."""
    next_index = iter(range(n))
    failures = 0

    async def worker() -> None:
        nonlocal failures
        for i in next_index:
            if not await send(i):
                failures += 1

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.monotonic() - started, failures


async def run_provider(base_url: str, n: int, concurrency: int, transport: str
                       ) -> tuple[float, int]:
    teacher = TeacherConfig(spec="openai:bench", concurrency=concurrency, transport=transport,
                            max_retries=0, timeout_s=60)
    provider = OpenAICompatProvider(teacher, model="bench", base_url=base_url)
    params = GenParams(max_tokens=64)

    async def send(i: int) -> bool:
        return (await provider.complete(messages(i), params)).ok

    try:
        return await keep_in_flight(n, concurrency, send)
    finally:
        await provider.aclose()


async def run_raw_aiohttp(base_url: str, n: int, concurrency: int) -> tuple[float, int]:
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def send(i: int) -> bool:
            body = {"model": "bench", "messages": messages(i), "max_tokens": 64}
            async with session.post(f"{base_url}/chat/completions", json=body) as response:
                data = await response.json()
                return response.status == 200 and bool(data["choices"][0]["message"]["content"])

        return await keep_in_flight(n, concurrency, send)


def start_server(latency: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, str(ROOT / "benchmarks" / "loopback.py"),
                             "--latency", str(latency)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        raise SystemExit(f"loopback server did not start: {line!r}")
    return proc, f"http://127.0.0.1:{int(line.split()[1])}/v1"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--concurrency", default="64,128,256")
    parser.add_argument("--transports", default="httpx,aiohttp,auto")
    parser.add_argument("--raw", action="store_true", help="also time a raw aiohttp client")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    clients = [t for t in args.transports.split(",") if t] + (["raw-aiohttp"] if args.raw else [])

    proc, base_url = start_server(args.latency)
    rows = []
    try:
        for concurrency in levels:
            for client in clients:
                if client == "raw-aiohttp":
                    wall, failed = asyncio.run(run_raw_aiohttp(base_url, args.n, concurrency))
                    label = client
                else:
                    wall, failed = asyncio.run(run_provider(base_url, args.n, concurrency,
                                                            client))
                    resolved = resolve_transport(client)
                    label = client if resolved == client else f"{client} (→{resolved})"
                ideal = args.n * args.latency / concurrency
                rows.append((concurrency, label, wall, ideal, ideal / wall, failed))
                print(f"C={concurrency} {label}: {wall:.2f}s, ratio {ideal / wall:.2f}",
                      file=sys.stderr, flush=True)
    finally:
        proc.stdin.close()
        proc.wait(10)

    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    command = "python benchmarks/teacher_throughput.py " + " ".join(sys.argv[1:])
    print(f"\nN={args.n}, L={args.latency}s, {os.cpu_count()} CPUs, load average {load}\n"
          f"rerun: `{command.strip()}`\n")
    print("| C | client | wall s | ideal s | ratio | failed |")
    print("|---:|---|---:|---:|---:|---:|")
    for concurrency, label, wall, ideal, ratio, failed in rows:
        print(f"| {concurrency} | {label} | {wall:.2f} | {ideal:.2f} | {ratio:.2f} | {failed} |")


if __name__ == "__main__":
    main()
