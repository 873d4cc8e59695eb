"""Student speed on this machine, through the same worker the default run uses.

    python benchmarks/student_speed.py generate [--prompts 32] [--max-tokens 48]
    python benchmarks/student_speed.py train [--iters 3] [--blas openblas|bundled]

generate (P4): the same eval-split prompts answered by mlx-lm's BatchGenerator (batch = all
prompts) and one at a time (mlx-lm's generate_step), greedy; prints wall time, generated tokens/s
and how many answers are identical. train: a few LoRA iterations of the quick profile on a run's
exported train.jsonl, with the chosen BLAS; prints mlx-lm's tokens/s per iteration (the first
one includes compilation). The model defaults to the converted SmolLM2 in the cache.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import threading
import time
from dataclasses import replace
from itertools import islice
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastdistill_tui.core.config import cache_dir  # noqa: E402
from fastdistill_tui.core.datasets.bundled import BundledDataset  # noqa: E402
from fastdistill_tui.core.stages.train import train_student  # noqa: E402
from fastdistill_tui.core.student.blas import find_blas  # noqa: E402
from fastdistill_tui.core.student.client import run_worker  # noqa: E402
from fastdistill_tui.core.student.models import resolve_student  # noqa: E402
from fastdistill_tui.core.student.profiles import PROFILES  # noqa: E402
from fastdistill_tui.core.prompt import render_messages  # noqa: E402


def load() -> str:
    return str(os.getloadavg()[0])


def generate(model: Path, prompts: list, max_tokens: int, batch_size: int) -> tuple[float, list]:
    out: dict[int, dict] = {}
    job = {"cmd": "generate", "model": str(model), "adapter": None, "prompts": prompts,
           "max_tokens": max_tokens, "batch_size": batch_size}
    started = time.perf_counter()
    last = asyncio.run(run_worker(job, lambda m: out.__setitem__(m["index"], m)
                                  if m["type"] == "generated" else None, find_blas()))
    wall = time.perf_counter() - started
    return last["seconds"], [out[i] for i in range(len(prompts))], wall


def bench_generate(args: argparse.Namespace, model: Path) -> None:
    dataset = BundledDataset(cache_dir=cache_dir())
    examples = islice(dataset.iter_examples("eval"), args.prompts)
    prompts = [render_messages(e.schema, e.question, e.evidence) for e in examples]
    print(f"load average before: {load()}")
    rows = []
    for name, size in (("batched", len(prompts)), ("sequential", 1)):
        seconds, answers, wall = generate(model, prompts, args.max_tokens, size)
        tokens = sum(a["tokens_out"] for a in answers)
        rows.append((name, seconds, tokens, answers))
        print(f"{name:<10} {len(prompts)} prompts: generation {seconds:.1f} s (process "
              f"{wall:.1f} s), {tokens} tokens, {tokens / seconds:.1f} tokens/s, "
              f"load {load()}")
    same = sum(a["text"] == b["text"] for a, b in zip(rows[0][3], rows[1][3]))
    print(f"identical greedy outputs: {same}/{len(prompts)}; batched speed-up "
          f"{rows[1][1] / rows[0][1]:.2f}x")


def bench_train(args: argparse.Namespace, model: Path) -> None:
    if args.blas == "bundled":
        os.environ["FASTDISTILL_BLAS"] = "bundled"
    blas = find_blas()
    plan = replace(PROFILES["quick"], iters=args.iters, steps_per_eval=10**6,
                   save_every=10**6, val_batches=1)  # mlx-lm validates at 1 and at the end
    data = Path(args.data)
    print(f"BLAS {blas.name}; load average before: {load()}")
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()

        def progress(message: dict) -> None:
            if message["type"] == "train":
                print(f"  iteration {message['iteration']}: loss {message['loss']:.3f}, "
                      f"{message['tokens_per_s']:.1f} tokens/s, "
                      f"{time.perf_counter() - started:.1f} s since start, load {load()}")

        asyncio.run(train_student(plan, model, f"bench-{time.time()}", data,
                                  adapters_root=Path(tmp), run_adapters=Path(tmp) / "run",
                                  blas=blas, cancel=threading.Event(), progress=progress))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=["generate", "train"])
    parser.add_argument("--model", help="mlx-lm model dir (default: the cached smollm2)")
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--blas", choices=["openblas", "bundled"], default="openblas")
    parser.add_argument("--data", help="a directory with train.jsonl/valid.jsonl (a run's mlx/)")
    args = parser.parse_args()
    model = Path(args.model) if args.model else resolve_student("smollm2", cache_dir())
    (bench_generate if args.what == "generate" else bench_train)(args, model)


if __name__ == "__main__":
    main()
