"""FastDistill beside its peers on one job: N distinct prompts to a loopback OpenAI-compatible
server with latency L, at C requests in flight; whole process wall, ratio = ideal (N*L/C) / wall.

    python benchmarks/peers/run_peers.py [--latency 0.5] [--n 2000] [--concurrency 64,256]
        [--repeats 3] [--venvs DIR] [--peers distilabel,curator] [--install-only]

Each peer gets a venv of its own under --venvs (created and installed on first use; the peers
are not dependencies of FastDistill and this is not run in CI). What each needs offline:
- distilabel 1.5.3 imports `requests` without depending on it: installed here by hand, with
  its `openai` extra for OpenAILLM.
- bespokelabs-curator 0.1.31 counts tokens with tiktoken, which downloads its encodings unless
  TIKTOKEN_CACHE_DIR points at the copies litellm bundles (set here); it also sends one extra
  request first, to read the server's rate limits. Its response cache is pointed at a fresh
  directory per run (CURATOR_CACHE_DIR), else a repeat would be answered from it; its usage
  upload is turned off (TELEMETRY_ENABLED=false).
The rows for FastDistill (raw aiohttp ceiling, the provider alone, `run --headless`) come from
benchmarks/teacher_throughput.py's functions, against the same server in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import teacher_throughput as tt  # noqa: E402

PEERS = {
    "distilabel": (["distilabel[openai]==1.5.3", "requests"],
                   "distilabel 1.5.3 (input_batch_size = C)"),
    "curator": (["bespokelabs-curator==0.1.31"], "bespokelabs-curator 0.1.31"),
}


def venv_python(venvs: Path, peer: str) -> Path:
    """The peer's venv interpreter, creating and installing the venv on first use."""
    root = venvs / peer
    python = root / "bin" / "python"
    if not (root / ".installed").exists():
        print(f"installing {peer} into {root} …", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(root)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PEERS[peer][0]], check=True)
        (root / ".installed").write_text(" ".join(PEERS[peer][0]) + "\n")
    return python


def peer_env(venvs: Path, peer: str, tmp: str) -> dict[str, str]:
    env = {**os.environ, "HOME": tmp, "XDG_CACHE_HOME": f"{tmp}/cache"}
    if peer == "curator":
        bundled = list((venvs / peer).glob("lib/python3*/site-packages/litellm/"
                                            "litellm_core_utils/tokenizers"))
        if not bundled:
            raise SystemExit(f"no litellm tokenizer files under {venvs / peer}: reinstall it "
                             f"(delete {venvs / peer})")
        env["TIKTOKEN_CACHE_DIR"] = str(bundled[0])
        env["CURATOR_CACHE_DIR"] = f"{tmp}/curator"
        env["TELEMETRY_ENABLED"] = "false"  # no usage upload (offline it fails, after retries)
    return env


def run_peer(python: Path, venvs: Path, peer: str, base_url: str, n: int,
             concurrency: int) -> tuple[float, int]:
    """(whole process wall s, requests without an answer)."""
    with tempfile.TemporaryDirectory() as tmp:
        started = time.monotonic()
        done = subprocess.run([str(python), str(HERE / f"{peer}_job.py"), base_url, str(n),
                               str(concurrency)], env=peer_env(venvs, peer, tmp), cwd=tmp,
                              capture_output=True, text=True)
        wall = time.monotonic() - started
    answered = [line for line in done.stdout.splitlines() if line.startswith("ANSWERED ")]
    if done.returncode != 0 or not answered:
        print(f"{peer} failed (exit {done.returncode}):\n{done.stderr[-3000:]}", file=sys.stderr)
        return wall, n
    return wall, n - int(answered[-1].split()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--concurrency", default="64,256")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--venvs", type=Path,
                        default=Path.home() / ".cache" / "fastdistill-peer-venvs")
    parser.add_argument("--peers", default="distilabel,curator")
    parser.add_argument("--install-only", action="store_true")
    args = parser.parse_args()
    peers = [p for p in args.peers.split(",") if p]
    unknown = [p for p in peers if p not in PEERS]
    if unknown:
        raise SystemExit(f"--peers: unknown {', '.join(unknown)}; choose from {', '.join(PEERS)}")
    pythons = {peer: venv_python(args.venvs, peer) for peer in peers}
    if args.install_only:
        return
    levels = [int(c) for c in args.concurrency.split(",")]
    systems = ["raw aiohttp client (the ceiling)", "FastDistill provider alone",
               "FastDistill `run --headless` end to end", *(PEERS[p][1] for p in peers)]

    proc, base_url = tt.start_server(args.latency)
    tmp = tempfile.TemporaryDirectory()
    dataset = tt.make_questions(Path(tmp.name), args.n)
    walls: dict[tuple[str, int], list[float]] = {}
    failed: dict[tuple[str, int], int] = {}
    loads: list[float] = []
    try:
        for concurrency in levels:
            for _ in range(args.repeats):  # interleaved, so load drifts hit every system alike
                for system in systems:
                    loads.append(tt.load_now())
                    if system.startswith("raw"):
                        wall, bad = asyncio.run(tt.run_raw_aiohttp(base_url, args.n,
                                                                   concurrency))
                    elif "provider" in system:
                        wall, bad = asyncio.run(tt.run_provider(base_url, args.n, concurrency,
                                                                "auto"))
                    elif "headless" in system:
                        wall, code = tt.run_headless(base_url, dataset, concurrency, tt.ROOT)
                        bad = 0 if code == 0 else args.n
                    else:
                        peer = next(p for p in peers if PEERS[p][1] == system)
                        wall, bad = run_peer(pythons[peer], args.venvs, peer, base_url, args.n,
                                             concurrency)
                    loads.append(tt.load_now())
                    walls.setdefault((system, concurrency), []).append(wall)
                    failed[(system, concurrency)] = failed.get((system, concurrency), 0) + bad
                    ideal = args.n * args.latency / concurrency
                    print(f"C={concurrency} {system}: {wall:.2f}s ratio {ideal / wall:.2f} "
                          f"load {loads[-1]:.1f}", file=sys.stderr, flush=True)
    finally:
        proc.stdin.close()
        proc.wait(10)
        tmp.cleanup()

    command = "python benchmarks/peers/run_peers.py " + " ".join(sys.argv[1:])
    print(f"\n{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, N={args.n}, "
          f"L={args.latency}s, {os.cpu_count()} CPUs, load average (1 min) during the runs "
          f"{min(loads):.1f}–{max(loads):.1f}, {args.repeats} runs each (median, range)\n"
          f"rerun: `{command.strip()}`\n")
    print("| system | " + " | ".join(f"C = {c}: fraction of ideal C/L" for c in levels) + " |")
    print("|---|" + "---:|" * len(levels))
    for system in systems:
        cells = []
        for concurrency in levels:
            ideal = args.n * args.latency / concurrency
            times = walls[(system, concurrency)]
            cell = (f"{ideal / statistics.median(times):.2f} "
                    f"({ideal / max(times):.2f}–{ideal / min(times):.2f})")
            if failed[(system, concurrency)]:
                cell += f", {failed[(system, concurrency)]} failed"
            cells.append(cell)
        print(f"| {system} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
