"""Student speed on this machine, through the same worker the default run uses.

    python benchmarks/student_speed.py generate [--prompts 32] [--max-tokens 48]
        [--batch N] [--prefill-batch N] [--prefill-tokens N]
    python benchmarks/student_speed.py train [--iters 3] [--blas NAME]
    python benchmarks/student_speed.py blas

--blas NAME (or FASTDISTILL_BLAS) picks the BLAS: openblas (the system's), openblas-wheel, mkl,
bundled. blas: each BLAS found here, 1024² float32 matmul GFLOP/s in a child (the probe the
run uses).

generate (P4): the same eval-split prompts answered by mlx-lm's BatchGenerator (batch = all
prompts unless --batch) and one at a time (mlx-lm's generate_step), greedy; prints wall time,
generated tokens/s, where the time went (prefill until every prompt was processed vs. the
rest) and how many answers are identical. train: a few LoRA iterations of the quick profile on a
run's exported train.jsonl, with the chosen BLAS; prints mlx-lm's tokens/s per iteration (the
first one includes compilation). The model defaults to the converted SmolLM2 in the cache.
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
from fastdistill_tui.core.student.blas import find_blas, probe_gflops  # noqa: E402
from fastdistill_tui.core.student.client import run_worker  # noqa: E402
from fastdistill_tui.core.student.models import resolve_student  # noqa: E402
from fastdistill_tui.core.student.profiles import PROFILES  # noqa: E402
from fastdistill_tui.core.prompt import render_messages  # noqa: E402


def load() -> str:
    return str(os.getloadavg()[0])


def generate(model: Path, prompts: list, max_tokens: int, batch_size: int,
             **extra: int) -> tuple[dict, list, float]:
    out: dict[int, dict] = {}
    job = {"cmd": "generate", "model": str(model), "adapter": None, "prompts": prompts,
           "max_tokens": max_tokens, "batch_size": batch_size, **extra}
    started = time.perf_counter()
    last = asyncio.run(run_worker(job, lambda m: out.__setitem__(m["index"], m)
                                  if m["type"] == "generated" else None, find_blas()))
    wall = time.perf_counter() - started
    return last, [out[i] for i in range(len(prompts))], wall


def bench_generate(args: argparse.Namespace, model: Path) -> None:
    dataset = BundledDataset(cache_dir=cache_dir())
    examples = islice(dataset.iter_examples("eval"), args.prompts)
    prompts = [render_messages(e.schema, e.question, e.evidence) for e in examples]
    print(f"BLAS {find_blas().name}; load average before: {load()}")
    extra = {k: v for k, v in (("prefill_batch", args.prefill_batch),
                               ("prefill_tokens", args.prefill_tokens)) if v}
    rows = []
    for name, size in (("batched", args.batch or len(prompts)), ("sequential", 1)):
        last, answers, wall = generate(model, prompts, args.max_tokens, size, **extra)
        seconds = last["seconds"]
        tokens = sum(a["tokens_out"] for a in answers)
        rows.append((name, seconds, tokens, answers))
        print(f"{name:<10} {len(prompts)} prompts ({last['prompt_tokens']} prompt tokens): "
              f"generation {seconds:.1f} s (process {wall:.1f} s), {tokens} tokens, "
              f"{tokens / seconds:.1f} tokens/s; prefill {last['prompt_s']:.1f} s, "
              f"{last['decode_steps']} decode steps in the rest; load {load()}")
    same = sum(a["text"] == b["text"] for a, b in zip(rows[0][3], rows[1][3]))
    print(f"identical greedy outputs: {same}/{len(prompts)}; batched speed-up "
          f"{rows[1][1] / rows[0][1]:.2f}x")


def bench_blas() -> None:
    print(f"load average before: {load()}")
    for name in ("openblas", "openblas-wheel", "mkl", "bundled"):
        os.environ["FASTDISTILL_BLAS"] = name
        blas = find_blas(2)
        if blas.name == name:
            print(f"{name:<15} {probe_gflops(blas) or 0:.1f} GFLOP/s  load {load()}")


def bench_train(args: argparse.Namespace, model: Path) -> None:
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
    parser.add_argument("what", choices=["generate", "train", "blas"])
    parser.add_argument("--model", help="mlx-lm model dir (default: the cached smollm2)")
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--batch", type=int, help="batched: sequences in flight")
    parser.add_argument("--prefill-batch", type=int, help="prompts prefilled together")
    parser.add_argument("--prefill-tokens", type=int, help="tokens a prefill call processes")
    parser.add_argument("--blas", choices=["openblas", "openblas-wheel", "mkl", "bundled"])
    parser.add_argument("--data", help="a directory with train.jsonl/valid.jsonl (a run's mlx/)")
    args = parser.parse_args()
    if args.blas:
        os.environ["FASTDISTILL_BLAS"] = args.blas
    if args.what == "blas":
        return bench_blas()
    model = Path(args.model) if args.model else resolve_student("smollm2", cache_dir())
    (bench_generate if args.what == "generate" else bench_train)(args, model)


if __name__ == "__main__":
    main()
