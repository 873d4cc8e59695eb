"""The distillation result (not CI): a real teacher's verified answers on some databases make a
student better on databases it never saw.

A llama.cpp server (llama-cpp-python, loopback only) serves the teacher GGUF; for each student,
`fastdistill run --headless` distils the training databases of a Spider-format set
(`--eval-split by-database:F:SEED` holds a seeded fraction of databases out), trains the student
on the exported set and evaluates it before and after on the held-out databases' questions, next
to the teacher's own rates on those same questions, with the prompt it distilled with and with
the plain prompt (the schema alone, no repair round: the teacher before issue 20). All students
share one data directory, so the teacher answers each question once. Prints one markdown table
(docs/PERFORMANCE.md) and writes the figures as JSON.

    python benchmarks/distillation.py --teacher-gguf /work/llm/models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf \
        --llama-python /work/llm/venv/bin/python --dataset ../shared/data/spider-de-dev \
        [--students smollm2,qwen2.5-coder-0.5b] [--profile quick] [--iters N] [--limit N] \
        [--eval-limit N] [--eval-split by-database:0.2:0] [--base-url URL] [--work DIR]
        [--no-repair] [--student-set KEY=VALUE ...] [--no-plain]

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
    """The teacher's requests in flight follow the server (teacher.adaptive_concurrency, on by
    default): a llama.cpp server answers one at a time."""
    lines = ["[teacher]", "timeout_s = 300.0", "max_tokens = 256",
             f"repair = {'false' if args.no_repair else 'true'}", "",
             "[run]", 'override_gates = ["teacher_eval"]', "", "[student]",
             f'profile = "{args.profile}"']
    if args.iters:
        lines.append(f"iters = {args.iters}")
    lines += [f"{key} = {value}" for key, value in
              (setting.split("=", 1) for setting in args.student_set)]
    if args.eval_limit >= 0:
        lines.append(f"eval_limit = {args.eval_limit}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def teacher_plain(held_out: list[str], count: int, args: argparse.Namespace, url: str,
                  work: Path) -> dict:
    """The teacher's rates with the plain prompt (no database content, no repair round) on the
    questions the students were evaluated on: the first `count` of the held-out databases' in
    file order, as the student's evaluation takes them. A `--no-student` run on a copy of the
    dataset that holds only those questions (the databases and tables.json linked, not
    copied); a question whose gold fails counts as a miss, as in the student's evaluation."""
    source = Path(args.dataset)
    subset = work / "held-out-dataset"
    subset.mkdir(parents=True, exist_ok=True)
    split = "dev" if (source / "dev.json").exists() else "train_spider"
    rows = [r for r in json.loads((source / f"{split}.json").read_text(encoding="utf-8"))
            if r["db_id"] in held_out][:count]
    (subset / f"{split}.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    for name in ("database", "tables.json"):
        if not (subset / name).exists():
            (subset / name).symlink_to((source / name).resolve())
    config = work / "plain.toml"
    config.write_text('[teacher]\ntimeout_s = 300.0\nmax_tokens = 256\nrepair = false\n\n'
                      '[prompt]\ndb_content = false\n\n[run]\n'
                      'override_gates = ["teacher_eval"]\n', encoding="utf-8")
    env = dict(os.environ, XDG_CONFIG_HOME=str(work / "config"),
               XDG_DATA_HOME=str(work / "data"), PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-m", "fastdistill_tui", "run", "--headless", "--no-student",
         "--config", str(config), "--dataset", f"spider:{subset}", "--split", split,
         "--teacher", "openai:teacher", "--base-url", url], env=env, capture_output=True,
        text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-3000:])
        raise SystemExit(f"the plain-prompt teacher run exited {done.returncode}")
    run_dir = Path(done.stderr.strip().splitlines()[-1].rsplit(" ", 1)[-1])
    score = json.loads((run_dir / "reports" / "score.quality_report.json").read_text())
    matched = round(score["gold_match_rate"] * score["total"])
    executed = round(score["exec_pass_rate"] * score["total"])
    return {"questions": len(rows), "exec_pass_rate": executed / len(rows),
            "gold_match_rate": matched / len(rows), "run_dir": str(run_dir)}


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


def row(result: dict, profile: str, plain: dict | None) -> str:
    pre, post, train = (result[k] for k in ("student_eval_pre", "student_eval_post", "train"))
    teacher, split = post["teacher_on_eval"], post["eval_databases"]
    plain_cell = (f"{plain['exec_pass_rate']:.3f} / {plain['gold_match_rate']:.3f}" if plain
                  else "—")
    rate = lambda q, key: f"{q[key]:.3f}"  # noqa: E731
    return (f"| {result['student']} | {profile}, {train['iteration']} it | "
            f"{result['select']['kept']} | {len(split['held_out_databases'])} dbs / "
            f"{post['total']} q | {rate(pre, 'exec_pass_rate')} → {rate(post, 'exec_pass_rate')}"
            f" | {rate(pre, 'gold_match_rate')} → {rate(post, 'gold_match_rate')} | "
            f"{pre['score']['mean']:.2f} → {post['score']['mean']:.2f} | "
            f"{teacher['exec_pass_rate']:.3f} / {teacher['gold_match_rate']:.3f} | "
            f"{plain_cell} | {train['seconds']:.0f} s | {result['wall_s']:.0f} s |")


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
    parser.add_argument("--eval-limit", type=int, default=-1,
                        help="held-out questions evaluated; 0 = all, -1 = the profile's")
    parser.add_argument("--eval-split", default="by-database:0.2:0")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work", help="data directory kept between calls (teacher cache)")
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--no-repair", action="store_true",
                        help="teacher.repair = false: no second request for failed answers")
    parser.add_argument("--student-set", action="append", default=[], metavar="KEY=VALUE",
                        help="a [student] setting in TOML, e.g. max_tokens=128 (Spider's "
                             "joins need more than the quick profile's 48) or "
                             "max_seq_length=1024; repeatable")
    parser.add_argument("--no-plain", action="store_true",
                        help="skip the teacher's plain-prompt rates on the held-out questions")
    args = parser.parse_args()
    if not args.base_url and not args.teacher_gguf:
        parser.error("give --teacher-gguf (served here) or --base-url")
    work = Path(args.work or tempfile.mkdtemp(prefix="fastdistill-distillation-"))
    work.mkdir(parents=True, exist_ok=True)
    write_config(work / "config.toml", args)
    load = os.getloadavg()[0]
    server, url = (None, args.base_url) if args.base_url else start_teacher(
        args.llama_python, args.teacher_gguf, args.threads)
    results: list[dict] = []
    plain = None
    try:
        for student in args.students.split(","):
            results.append(run_student(student, args, url, work))
            if plain is None and not args.no_plain:
                post = results[0]["student_eval_post"]
                plain = teacher_plain(post["eval_databases"]["held_out_databases"],
                                      post["total"], args, url, work)
            print(f"{student}: done in {results[-1]['wall_s']:.0f} s\n"
                  f"{row(results[-1], args.profile, plain)}", file=sys.stderr, flush=True)
            if args.json:  # after each student: a long run keeps what it finished
                Path(args.json).write_text(json.dumps({"students": results,
                                                       "teacher_plain": plain},
                                                      indent=2, default=str))
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
          "| gold-match before → after | score before → after | teacher exec / gold "
          "(same questions) | teacher, plain prompt | train | wall |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for result in results:
        print(row(result, args.profile, plain))
    return 0


if __name__ == "__main__":
    sys.exit(main())
