"""The distillation result (not CI): a real teacher's verified answers on some databases make a
student better on databases it never saw.

A llama.cpp server (llama-cpp-python, loopback only) serves the teacher GGUF; for each student,
`fastdistill run --headless` distils the training databases of a Spider-format set
(`--eval-split by-database:F:SEED` holds a seeded fraction of databases out), trains the student
on the exported set and evaluates it before and after on the held-out databases' questions, next
to the teacher's own rates on those same questions. All students share one data directory, so the
teacher answers each question once. Prints one markdown table (docs/PERFORMANCE.md) and writes
the figures as JSON.

    python benchmarks/distillation.py --teacher-gguf /work/llm/models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf \
        --llama-python /work/llm/venv/bin/python --dataset ../shared/data/spider-de-dev \
        [--students smollm2,qwen2.5-coder-0.5b] [--profile quick] [--iters N] [--limit N] \
        [--eval-limit N] [--eval-split by-database:0.2:0] [--base-url URL] [--work DIR]

A tiny slice to try it: `--limit 12 --eval-limit 6 --iters 2 --students smollm2`.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_teacher(python: str, gguf: str, threads: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    server = subprocess.Popen(
        [python, "-m", "llama_cpp.server", "--model", gguf, "--model_alias", "teacher",
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096",
         "--n_threads", str(threads)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    for _ in range(240):
        if server.poll() is not None:
            raise SystemExit(f"the llama.cpp server exited ({server.returncode})")
        try:
            urllib.request.urlopen(url + "/models", timeout=2).read()
            return server, url
        except OSError:
            time.sleep(1)
    server.kill()
    raise SystemExit("the llama.cpp server did not come up in 4 minutes")


def write_config(path: Path, args: argparse.Namespace) -> None:
    lines = ["[teacher]", "concurrency = 2", "timeout_s = 300.0", "max_tokens = 256", "",
             "[run]", 'override_gates = ["teacher_eval"]', "", "[student]",
             f'profile = "{args.profile}"']
    if args.iters:
        lines.append(f"iters = {args.iters}")
    if args.eval_limit:
        lines.append(f"eval_limit = {args.eval_limit}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def run_student(student: str, args: argparse.Namespace, url: str, work: Path) -> dict:
    env = dict(os.environ, XDG_CONFIG_HOME=str(work / "config"),
               XDG_DATA_HOME=str(work / "data"), PYTHONPATH=str(ROOT))
    command = [sys.executable, "-m", "fastdistill_tui", "run", "--headless",
               "--config", str(work / "config.toml"), "--dataset", f"spider:{args.dataset}",
               "--eval-split", args.eval_split, "--teacher", "openai:teacher",
               "--base-url", url, "--student", student]
    if args.limit:
        command += ["--limit", str(args.limit)]
    started = time.monotonic()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.monotonic() - started
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-3000:])
        raise SystemExit(f"{student}: fastdistill run exited {done.returncode}")
    run_dir = Path(done.stderr.strip().splitlines()[-1].rsplit(" ", 1)[-1])
    reports = {name: json.loads((run_dir / "reports" / f"{name}.quality_report.json")
                                .read_text()) for name in
               ("select", "student_eval_pre", "train", "student_eval_post")}
    return {"student": student, "wall_s": wall, "run_dir": str(run_dir), **reports}


def row(result: dict, profile: str) -> str:
    pre, post, train = (result[k] for k in ("student_eval_pre", "student_eval_post", "train"))
    teacher, split = post["teacher_on_eval"], post["eval_databases"]
    rate = lambda q, key: f"{q[key]:.3f}"  # noqa: E731
    return (f"| {result['student']} | {profile}, {train['iteration']} it | "
            f"{result['select']['kept']} | {len(split['held_out_databases'])} dbs / "
            f"{post['total']} q | {rate(pre, 'exec_pass_rate')} → {rate(post, 'exec_pass_rate')}"
            f" | {rate(pre, 'gold_match_rate')} → {rate(post, 'gold_match_rate')} | "
            f"{pre['judge_score']['mean']:.2f} → {post['judge_score']['mean']:.2f} | "
            f"{teacher['exec_pass_rate']:.3f} / {teacher['gold_match_rate']:.3f} | "
            f"{train['seconds']:.0f} s | {result['wall_s']:.0f} s |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher-gguf", help="GGUF to serve (unless --base-url)")
    parser.add_argument("--llama-python", default="/work/llm/venv/bin/python")
    parser.add_argument("--base-url", help="an OpenAI-compatible teacher already serving")
    parser.add_argument("--dataset", required=True, help="a Spider-format directory")
    parser.add_argument("--students", default="smollm2,qwen2.5-coder-0.5b")
    parser.add_argument("--profile", default="quick", choices=["quick", "standard"])
    parser.add_argument("--iters", type=int, default=0, help="0 = the profile's")
    parser.add_argument("--limit", type=int, default=0, help="distilled questions; 0 = all")
    parser.add_argument("--eval-limit", type=int, default=0, help="0 = the profile's")
    parser.add_argument("--eval-split", default="by-database:0.2:0")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work", help="data directory kept between calls (teacher cache)")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    if not args.base_url and not args.teacher_gguf:
        parser.error("give --teacher-gguf (served here) or --base-url")
    work = Path(args.work or tempfile.mkdtemp(prefix="fastdistill-distillation-"))
    work.mkdir(parents=True, exist_ok=True)
    write_config(work / "config.toml", args)
    load = os.getloadavg()[0]
    server, url = (None, args.base_url) if args.base_url else start_teacher(
        args.llama_python, args.teacher_gguf, args.threads)
    results = []
    try:
        for student in args.students.split(","):
            results.append(run_student(student, args, url, work))
            print(f"{student}: done in {results[-1]['wall_s']:.0f} s\n"
                  f"{row(results[-1], args.profile)}", file=sys.stderr, flush=True)
            if args.json:  # after each student: a long run keeps what it finished
                Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
    split = results[0]["student_eval_post"]["eval_databases"]
    print(f"teacher {args.teacher_gguf or args.base_url}; dataset {args.dataset} "
          f"({args.eval_split}: held out {', '.join(split['held_out_databases'])}; "
          f"{split['training_questions']} training questions"
          + (f", first {args.limit} distilled" if args.limit else "") + f"); load average "
          f"{load:.1f} before, {os.getloadavg()[0]:.1f} after\n")
    print("| student | training | distilled rows | eval (held-out) | exec-pass before → after "
          "| gold-match before → after | judge before → after | teacher exec / gold "
          "(same questions) | train | wall |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for result in results:
        print(row(result, args.profile))
    return 0


if __name__ == "__main__":
    sys.exit(main())
