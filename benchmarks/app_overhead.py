"""What the app costs a run, and how quickly it answers keys while a fast run floods it.

    python benchmarks/app_overhead.py                 # 3 rounds each, 10,000-sample key test
    python benchmarks/app_overhead.py --rounds 5 --key-samples 2000

1. Wall time, app vs headless, on the same job (the README's default: bundled set, builtin
   teacher, 1,300 samples), each from a fresh data directory: from launching the process to the
   RunFinished event (its timestamp in the --events file). The app runs in a real terminal
   (tmux, 120×40, a socket of its own); headless writes its progress to a pipe. Rounds
   alternate so that a change in the machine's load hits both.
2. Key latency during a 10,000-sample run with the builtin (in-process, instant) teacher: the
   app under Textual's pilot presses a probe key every 0.2 s; the latency is from posting the key
   to its action running on the app's thread. Also counts how many progress messages reached the
   app against the coalescible events the engine emitted.
Prints markdown tables.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def xdg_env(base: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FASTDISTILL_")}
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
        env[name] = str(base / name.lower())
    env.pop("COLUMNS", None)
    env.pop("LINES", None)
    return env


def run_finished(events: Path) -> dict | None:
    if not events.exists():
        return None
    for line in events.read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        if event["type"] == "RunFinished":
            return event
    return None


def headless_once(work: Path) -> float:
    events = work / "events.jsonl"
    start = time.time()
    subprocess.run([sys.executable, "-m", "fastdistill_tui", "run", "--headless", "--events",
                    str(events)], env=xdg_env(work), check=True, cwd=ROOT,
                   stderr=subprocess.DEVNULL)
    return run_finished(events)["ts"] - start


def app_once(work: Path) -> float:
    events = work / "events.jsonl"
    socket = f"fastdistill-bench-{os.getpid()}"
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in xdg_env(work).items()
                   if k.startswith("XDG_"))
    command = (f"cd {shlex.quote(str(ROOT))} && unset COLUMNS LINES && env {env} "
               f"{shlex.quote(sys.executable)} -m fastdistill_tui --events {events}")
    tmux = ["tmux", "-L", socket]
    start = time.time()
    subprocess.run([*tmux, "new-session", "-d", "-s", "app", "-x", "120", "-y", "40",
                    command, ";", "set", "-g", "window-size", "manual"], check=True)
    try:
        while (finished := run_finished(events)) is None:
            time.sleep(0.05)
        subprocess.run([*tmux, "send-keys", "-t", "app", "q"], check=True)
    finally:
        time.sleep(0.5)
        subprocess.run([*tmux, "kill-server"], capture_output=True)
    return finished["ts"] - start


def wall_times(rounds: int) -> None:
    times: dict[str, list[float]] = {"headless": [], "app (tmux 120×40)": []}
    for i in range(rounds):
        with tempfile.TemporaryDirectory() as tmp:
            times["headless"].append(headless_once(Path(tmp)))
        with tempfile.TemporaryDirectory() as tmp:
            times["app (tmux 120×40)"].append(app_once(Path(tmp)))
    base = statistics.median(times["headless"])
    print("| mode | rounds | median s | min–max s | vs headless |")
    print("|---|---:|---:|---:|---:|")
    for mode, values in times.items():
        median = statistics.median(values)
        print(f"| {mode} | {len(values)} | {median:.2f} | {min(values):.2f}–{max(values):.2f} "
              f"| {(median / base - 1) * 100:+.1f} % |")


async def key_latency(samples: int) -> None:
    from engine_overhead import make_dataset
    from textual import events as textual_events
    from textual.binding import Binding

    from fastdistill_tui.app import FastDistillApp, create_app
    from fastdistill_tui.live import ProgressChanged

    class Probe(FastDistillApp):
        BINDINGS = [Binding("x", "probe", show=False)]
        pressed_at = 0.0
        latencies: list[float] = []

        def action_probe(self) -> None:
            self.latencies.append(time.perf_counter() - self.pressed_at)

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        os.environ.update({k: v for k, v in xdg_env(work).items() if k.startswith("XDG_")})
        dataset = make_dataset(work / "data", samples)
        events = work / "events.jsonl"
        made = create_app(["--dataset", f"jsonl:{dataset}", "--events", str(events)])
        app = Probe(made.run_request)
        app.latencies = []
        messages: list = []
        started = time.perf_counter()
        async with app.run_test(size=(120, 40), message_hook=messages.append) as pilot:
            while app.state.finished is None and not app.state.failure:
                app.pressed_at = time.perf_counter()
                app.post_message(textual_events.Key("x", "x"))  # as the terminal driver posts it
                await asyncio.sleep(0.2)
        seconds = time.perf_counter() - started
        coalescible = sum(1 for line in events.read_text(encoding="utf-8").splitlines()
                          if json.loads(line)["type"] in ("StageProgress", "RequestStats",
                                                          "TimingUpdated", "TrainProgress"))
    progress_messages = sum(isinstance(m, ProgressChanged) for m in messages)
    ms = sorted(v * 1000 for v in app.latencies)
    print(f"\n{samples:,}-sample run in the app: {seconds:.1f} s, status "
          f"{app.state.finished.status if app.state.finished else app.state.failure}")
    print("| key presses | p50 ms | p90 ms | max ms | progress events | progress messages |")
    print("|---:|---:|---:|---:|---:|---:|")
    print(f"| {len(ms)} | {statistics.median(ms):.1f} | {ms[int(len(ms) * 0.9)]:.1f} | "
          f"{ms[-1]:.1f} | {coalescible} | {progress_messages} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--key-samples", type=int, default=10_000)
    args = parser.parse_args()
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f}, "
          f"{time.strftime('%Y-%m-%d')}")
    if shutil.which("tmux") is None:
        raise SystemExit("tmux is needed to run the app in a terminal")
    wall_times(args.rounds)
    asyncio.run(key_latency(args.key_samples))


if __name__ == "__main__":
    main()
