"""Run tests/loopback_server.py's LoopbackServer in its own process for benchmarks.

A separate process keeps the server's CPU off the client's event loop and GIL, so a benchmark
measures the client. Prints "PORT <n>" once listening; serves until stdin closes.

    python benchmarks/loopback.py --latency 0.5
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from loopback_server import LoopbackServer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.5, help="seconds per request")
    args = parser.parse_args()
    with LoopbackServer(latency_s=args.latency) as srv:
        print(f"PORT {srv.port}", flush=True)
        sys.stdin.read()  # the parent closes our stdin to stop us


if __name__ == "__main__":
    main()
