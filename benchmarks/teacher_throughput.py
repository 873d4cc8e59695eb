"""Teacher request throughput: OpenAICompatProvider against a loopback server with latency L.

Exactly C requests are kept in flight (C workers share one provider whose pool is sized to C);
ideal = N*L/C, ratio = ideal / wall. The server runs in its own process (benchmarks/loopback.py).
`--raw` adds a plain aiohttp client as the yardstick for what this machine and server allow.
`--end-to-end` adds `fastdistill run --headless` as a child process (whole process wall, fresh
data dirs, student off) on N distinct questions over a real SQLite file; `--source DIR` runs the
engine from another checkout (an A/B against main: `git archive main | tar -x -C DIR`).
Every measure is repeated `--repeats` times (median and range); the load average is read
before and after each, so a figure from a busy machine shows as such.

    python benchmarks/teacher_throughput.py [--latency 0.5] [--n 2000] [--concurrency 64,128,256]
        [--transports httpx,aiohttp,auto] [--raw] [--end-to-end] [--repeats 3] [--source DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
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


def make_questions(root: Path, n: int) -> Path:
    """n distinct questions (one prompt each) over one real SQLite file, as a JSONL dataset."""
    db = root / "bench.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE singer (name TEXT, age INTEGER)")
        conn.executemany("INSERT INTO singer VALUES (?, ?)", [(f"s{i}", i % 90) for i in range(50)])
    path = root / "questions.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for i in range(n):
            out.write(json.dumps({"question": f"How many singers are older than {i}?",
                                  "sql": f"SELECT count(*) FROM singer WHERE age > {i}",
                                  "db": "bench.sqlite"}) + "\n")
    return path


def run_headless(base_url: str, dataset: Path, concurrency: int, source: Path) -> tuple[float, int]:
    """`fastdistill run --headless` as a child process on fresh data dirs: (wall s, exit code).
    The loopback answers `SELECT 1`, so the quality gate is overridden."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "XDG_DATA_HOME": f"{tmp}/data", "XDG_CACHE_HOME": f"{tmp}/cache",
               "XDG_CONFIG_HOME": f"{tmp}/config"}
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "fastdistill_tui", "run", "--headless", "--dataset",
             f"jsonl:{dataset}", "--teacher", "openai:bench", "--base-url", base_url,
             "--concurrency", str(concurrency), "--no-student", "--override-gate",
             "teacher_eval"], env=env, cwd=source,  # -m imports the package in cwd first
            capture_output=True, text=True)
        wall = time.monotonic() - started
    if done.returncode != 0:
        print(done.stderr[-2000:], file=sys.stderr)
    return wall, done.returncode


def load_now() -> float:
    return os.getloadavg()[0]


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
    parser.add_argument("--end-to-end", action="store_true",
                        help="also time `fastdistill run --headless` (whole process)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each measure")
    parser.add_argument("--source", type=Path, default=ROOT,
                        help="checkout whose engine --end-to-end runs (default: this one)")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    clients = ([t for t in args.transports.split(",") if t] + (["raw-aiohttp"] if args.raw else [])
               + (["run --headless"] if args.end_to_end else []))

    proc, base_url = start_server(args.latency)
    rows = []
    tmp = tempfile.TemporaryDirectory()
    dataset = make_questions(Path(tmp.name), args.n) if args.end_to_end else None
    try:
        for concurrency in levels:
            ideal = args.n * args.latency / concurrency
            runs: dict[str, list[tuple[float, int, float, float]]] = {c: [] for c in clients}
            for _ in range(args.repeats):  # interleaved, so load drifts hit every client alike
                for client in clients:
                    before = load_now()
                    if client == "raw-aiohttp":
                        wall, failed = asyncio.run(run_raw_aiohttp(base_url, args.n, concurrency))
                    elif client == "run --headless":
                        wall, failed = run_headless(base_url, dataset, concurrency, args.source)
                    else:
                        wall, failed = asyncio.run(run_provider(base_url, args.n, concurrency,
                                                                client))
                    runs[client].append((wall, failed, before, load_now()))
                    print(f"C={concurrency} {client}: {wall:.2f}s, ratio {ideal / wall:.2f}, "
                          f"load {before:.1f}→{load_now():.1f}", file=sys.stderr, flush=True)
            for client in clients:
                if client in ("raw-aiohttp", "run --headless"):
                    label = client
                else:
                    resolved = resolve_transport(client)
                    label = client if resolved == client else f"{client} (→{resolved})"
                walls = [r[0] for r in runs[client]]
                loads = [x for r in runs[client] for x in r[2:]]
                rows.append((concurrency, label, walls, ideal, sum(r[1] for r in runs[client]),
                             min(loads), max(loads)))
    finally:
        proc.stdin.close()
        proc.wait(10)
        tmp.cleanup()

    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    command = "python benchmarks/teacher_throughput.py " + " ".join(sys.argv[1:])
    print(f"\nN={args.n}, L={args.latency}s, {os.cpu_count()} CPUs, load average now {load}, "
          f"{args.repeats} runs each, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n"
          f"rerun: `{command.strip()}`\n")
    print("| C | client | median wall s | ideal s | median ratio | ratio range | failed | "
          "load (1 min) |")
    print("|---:|---|---:|---:|---:|---|---:|---|")
    for concurrency, label, walls, ideal, failed, low, high in rows:
        median = statistics.median(walls)
        print(f"| {concurrency} | {label} | {median:.2f} | {ideal:.2f} | {ideal / median:.2f} | "
              f"{ideal / max(walls):.2f}–{ideal / min(walls):.2f} | {failed} | "
              f"{low:.1f}–{high:.1f} |")


if __name__ == "__main__":
    main()
