"""The child process that runs mlx for the student: training and batched generation.

    python -m fastdistill_tui.core.student.worker < job.json

It runs apart from the engine so that it can get its own environment (a preloaded fast BLAS must
be in place before the process starts: DESIGN §7), its memory goes back when it ends, and a crash
cannot take the run down. The job is one JSON object on stdin; progress comes back as one JSON
object a line on stdout (anything else mlx-lm prints goes to stderr). SIGINT/SIGTERM stop it
cleanly: training saves its checkpoint at the current iteration, generation stops at its next
step after the answers already sent (the engine kills a worker that takes longer: nothing it
finished is lost). Message types: loaded, note, validating, train, val, saved, step, generated,
stopped, diverged (training made the model worse: the engine says what to change), done.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

from ..artifacts import write_json

ADAPTER_FILE = "adapters.safetensors"  # what mlx_lm.load(adapter_path=...) reads
CHECKPOINT_FILE = "checkpoint.safetensors"  # adapter weights + optimizer state + iteration
OPTIMIZER_PREFIX = "optimizer."
PROGRESS_FILE = "progress.json"
STEP_EVERY_S = 0.5
PREFILL_BATCH = 32  # prompts prefilled together
PREFILL_TOKENS = 512  # tokens the first prefill call processes (then sized to STEP_TARGET_S)
STEP_TARGET_S = 1.0  # what one BatchGenerator call should take: a stop is seen within it
PR_SET_PDEATHSIG = 1  # linux/prctl.h
DIVERGED_RATIO = 2.0  # a validation loss this many times the first one: training diverged


class Diverged(Exception):
    """Training made the model worse than it started (learning rate too high for it)."""


class Stopped(Exception):
    """Raised inside mlx-lm's training loop once a stop was asked for."""


class Channel:
    """The protocol stream: the real stdout, with sys.stdout pointed at stderr."""

    def __init__(self) -> None:
        self.out: TextIO = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
        os.dup2(2, 1)
        sys.stdout = sys.stderr
        self.stop = False
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)
        if sys.platform.startswith("linux"):  # die with the engine (even a SIGKILLed one)
            import ctypes

            ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)

    def _on_signal(self, signum: int, frame: Any) -> None:
        self.stop = True

    def send(self, kind: str, **fields: Any) -> None:
        self.out.write(json.dumps({"type": kind, **fields}) + "\n")
        self.out.flush()


def read_progress(adapter_dir: Path) -> dict[str, Any]:
    """{"iteration": last saved, "finished": bool, "losses": [[iteration, loss], ...],
    "val_losses": [...]}, from the checkpoint's own header: it is written in one atomic step,
    so a worker killed at any moment leaves a consistent state (progress.json is a copy)."""
    empty = {"iteration": 0, "finished": False, "losses": [], "val_losses": []}
    try:
        with open(adapter_dir / CHECKPOINT_FILE, "rb") as handle:
            size = int.from_bytes(handle.read(8), "little")
            return json.loads(json.loads(handle.read(size))["__metadata__"]["progress"])
    except (OSError, ValueError, KeyError, TypeError):
        return empty


def load_model(model_path: str, adapter_dir: str | None) -> tuple[Any, Any]:
    from mlx_lm.utils import load

    if not (Path(model_path) / "config.json").exists():
        raise FileNotFoundError(f"{model_path}: not an mlx-lm model directory (no config.json)")
    return load(model_path, adapter_path=adapter_dir)


def prompt_ids(tokenizer: Any, messages: list[dict[str, str]]) -> list[int]:
    """The chat prompt with thinking disabled where the template knows the switch."""
    return list(tokenizer.apply_chat_template(messages, add_generation_prompt=True,
                                              enable_thinking=False))


# -- training -------------------------------------------------------------------------------
def train(job: dict[str, Any], channel: Channel) -> None:
    """LoRA (or full) fine-tuning through mlx-lm's trainer, checkpointed every `save_every`
    iterations (weights and optimizer state in one file, replaced atomically), with batches
    drawn from the job's seed alone: a run stopped at any point and resumed trains the same
    weights as one that never stopped."""
    import mlx.core as mx
    import mlx.optimizers as optim
    from mlx.utils import tree_flatten
    from mlx_lm.tuner.callbacks import TrainingCallback
    from mlx_lm.tuner.datasets import CacheDataset, ChatDataset
    from mlx_lm.tuner.trainer import TrainingArgs, train as mlx_train
    from mlx_lm.tuner.utils import linear_to_lora_layers

    adapter_dir = Path(job["adapter_dir"])
    adapter_dir.mkdir(parents=True, exist_ok=True)
    progress = read_progress(adapter_dir)
    start, total = progress["iteration"], job["iters"]
    model, tokenizer = load_model(job["model"], None)
    mx.random.seed(job["seed"])  # the LoRA matrices' initial values
    model.freeze()
    lora = {"rank": job["lora_rank"], "scale": job["lora_scale"], "dropout": 0.0}
    if job["fine_tune_type"] == "full":
        for layer in model.layers[-max(job["num_layers"], 0):]:
            layer.unfreeze()
    else:
        linear_to_lora_layers(model, job["num_layers"], lora)
    write_json(adapter_dir / "adapter_config.json", {
        "fine_tune_type": job["fine_tune_type"], "num_layers": job["num_layers"],
        "lora_parameters": lora, "model": job["model"]})
    optimizer = optim.Adam(learning_rate=job["learning_rate"])
    if start:
        restore_checkpoint(adapter_dir / CHECKPOINT_FILE, model, optimizer)
    channel.send("loaded", iteration=start, total=total)

    def save(iteration: int, finished: bool = False) -> None:
        weights = dict(tree_flatten(model.trainable_parameters()))
        state = {f"{OPTIMIZER_PREFIX}{k}": v for k, v in tree_flatten(optimizer.state)}
        progress.update(iteration=iteration, finished=finished)
        atomic_save(adapter_dir / ADAPTER_FILE, weights, {})
        atomic_save(adapter_dir / CHECKPOINT_FILE, {**weights, **state},
                    {"progress": json.dumps(progress)})
        write_json(adapter_dir / PROGRESS_FILE, progress)
        channel.send("saved", iteration=iteration, finished=finished)

    reported = {"iteration": start}  # the last iteration trained, for "validating" messages

    def validating(batch: int) -> None:
        channel.send("validating", iteration=reported["iteration"], total=total, batch=batch,
                     batches=job["val_batches"])

    class Reporter(TrainingCallback):
        def on_train_loss_report(self, info: dict[str, Any]) -> None:
            iteration = start + info["iteration"]
            reported["iteration"] = iteration
            progress["losses"].append([iteration, info["train_loss"]])
            channel.send("train", iteration=iteration, total=total, loss=info["train_loss"],
                         tokens_per_s=info["tokens_per_second"],
                         trained_tokens=info["trained_tokens"])
            if iteration < total and (iteration % job["save_every"] == 0 or channel.stop):
                save(iteration)
            if channel.stop and iteration < total:
                raise Stopped

        def on_val_loss_report(self, info: dict[str, Any]) -> None:
            iteration, loss = start + info["iteration"], info["val_loss"]
            progress["val_losses"].append([iteration, loss])
            channel.send("val", iteration=iteration, total=total, val_loss=loss)
            first = progress["val_losses"][0][1]  # before any training, resumed runs too
            if not math.isfinite(loss) or loss > DIVERGED_RATIO * first:
                raise Diverged(diverged_text(first, loss, iteration, job["learning_rate"]))

    def dataset(name: str) -> Any:
        path = Path(job["data_dir"]) / f"{name}.jsonl"
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
                if line.strip()]
        if not rows:
            return None
        return CacheDataset(ChatDataset(rows, tokenizer, mask_prompt=job["mask_prompt"]))

    train_set, valid_set = dataset("train"), dataset("valid")
    if train_set is None:
        raise ValueError(f"{job['data_dir']}/train.jsonl has no examples to train on")
    batch = min(job["batch_size"], len(train_set))
    if valid_set is not None and len(valid_set) < batch:
        valid_set = None  # mlx-lm cannot form one validation batch
    longest = max(len(data[i][0]) for data in (train_set, valid_set) if data is not None
                  for i in range(len(data)))
    max_seq_length = fitted_seq_length(job["max_seq_length"], longest)
    if max_seq_length != job["max_seq_length"]:
        channel.send("note", text=f"the longest training row has {longest} tokens: "
                                  f"max_seq_length {job['max_seq_length']} -> {max_seq_length}, "
                                  "so no answer is cut off")
    args = TrainingArgs(batch_size=batch, iters=total - start, val_batches=job["val_batches"],
                        steps_per_report=1, steps_per_eval=job["steps_per_eval"],
                        steps_per_save=10**9,  # saving is ours: weights + optimizer together
                        adapter_file=str(adapter_dir / ADAPTER_FILE),
                        max_seq_length=max_seq_length)
    if start < total:
        try:
            mlx_train(model, optimizer, train_set, valid_set, args=args,
                      iterate_batches=seeded_batches(job["seed"], start, validating),
                      training_callback=Reporter())
        except Stopped:
            channel.send("stopped", iteration=progress["iteration"])
            return
        except Diverged as exc:
            channel.send("diverged", iteration=progress["iteration"], text=str(exc))
            return
    save(total, finished=True)
    channel.send("done", iteration=total)


def diverged_text(first: float, loss: float, iteration: int, learning_rate: float) -> str:
    return (f"training diverged: the validation loss rose from {first:.3f} before training to "
            f"{loss:.3f} at iteration {iteration} (learning rate {learning_rate:g}), so the "
            "adapter would answer worse than the model it started from. Set a lower "
            f"[student] learning_rate in the config (e.g. {learning_rate / 5:g}) and run "
            "again: the teacher's answers and the student's first evaluation are reused")


def fitted_seq_length(limit: int, longest: int) -> int:
    """The sequence limit to train with: `limit`, raised to the longest row (to a multiple of
    64) where a row is longer. mlx-lm cuts a longer row at the limit, which cuts its end, the
    answer: a row with the prompt alone teaches nothing (and a prompt that shows the database's
    rows easily passes 512 tokens)."""
    return limit if longest <= limit else -(-longest // 64) * 64


def seeded_batches(base_seed: int, skip: int,
                   validating: Callable[[int], None] = lambda batch: None
                   ) -> Callable[..., Iterator[Any]]:
    """mlx-lm's iterate_batches with a batch order that depends on `base_seed` alone: training
    draws from its own numpy state (mlx-lm shuffles with the global one, which validation
    also draws from), skipping the `skip` batches a resumed run already trained on;
    validation sees the same batches every time, and `validating(i)` is told as the i-th
    (from 1) is handed out: a validation pass takes many seconds on a CPU."""
    import numpy as np
    from mlx_lm.tuner.trainer import iterate_batches

    def iterate(dataset: Any, batch_size: int, max_seq_length: int, loop: bool = False,
                seed: int | None = None, comm_group: Any = None) -> Iterator[Any]:
        if not loop:
            for number, batch in enumerate(iterate_batches(
                    dataset, batch_size, max_seq_length, seed=base_seed,
                    comm_group=comm_group), start=1):
                validating(number)
                yield batch
            return
        outer = np.random.get_state()
        np.random.seed(base_seed)
        own = np.random.get_state()
        np.random.set_state(outer)
        batches = iterate_batches(dataset, batch_size, max_seq_length, loop=True,
                                  comm_group=comm_group)
        drawn = 0
        while True:
            outer = np.random.get_state()
            np.random.set_state(own)
            try:
                batch = next(batches)
            finally:
                own = np.random.get_state()
                np.random.set_state(outer)
            drawn += 1
            if drawn > skip:
                yield batch

    return iterate


def atomic_save(path: Path, arrays: dict[str, Any], metadata: dict[str, str]) -> None:
    import mlx.core as mx

    tmp = path.with_name(f".{path.stem}.tmp.safetensors")
    mx.save_safetensors(str(tmp), arrays, metadata=metadata)
    os.replace(tmp, path)


def restore_checkpoint(path: Path, model: Any, optimizer: Any) -> None:
    import mlx.core as mx

    saved = mx.load(str(path))
    model.load_weights([(k, v) for k, v in saved.items()
                        if not k.startswith(OPTIMIZER_PREFIX)], strict=False)
    optimizer.init(model.trainable_parameters())
    for key, value in saved.items():
        if key.startswith(OPTIMIZER_PREFIX):
            _assign(optimizer.state, key[len(OPTIMIZER_PREFIX):].split("."), value)


def _assign(tree: Any, parts: list[str], value: Any) -> None:
    for part in parts[:-1]:
        tree = tree[int(part)] if isinstance(tree, list) else tree[part]
    tree[int(parts[-1]) if isinstance(tree, list) else parts[-1]] = value


# -- generation -----------------------------------------------------------------------------
def generate(job: dict[str, Any], channel: Channel) -> None:
    """Greedy answers to `prompts` (chat messages), streamed back as each one finishes, with a
    "step" message (tokens through the model so far) at most every `step_every_s`.

    `batch_size` 1 runs mlx-lm's one-at-a-time `generate_step` (the baseline batched output
    is compared against); otherwise mlx-lm's BatchGenerator keeps up to batch_size sequences
    in flight, fed shortest prompt first (less padding) in prefill chunks small enough that
    every call takes about STEP_TARGET_S on this machine, so progress moves and a stop is seen
    at the next step."""
    model, tokenizer = load_model(job["model"], job.get("adapter"))
    prompts = [prompt_ids(tokenizer, messages) for messages in job["prompts"]]
    max_tokens, size = job["max_tokens"], job["batch_size"]
    meter = Meter(channel, sum(len(p) for p in prompts), len(prompts) * max_tokens,
                  job.get("step_every_s", STEP_EVERY_S))
    channel.send("loaded", prompt_tokens=meter.prompt_total)
    if size <= 1:
        import mlx.core as mx
        from mlx_lm.generate import generate_step

        for index, prompt in enumerate(prompts):
            if channel.stop:
                break
            ids = []
            meter.prompt_done += len(prompt)
            began = time.perf_counter()
            for token, _ in generate_step(mx.array(prompt), model, max_tokens=max_tokens):
                if not ids:  # the first token comes out of the prefill
                    meter.split["prompt_s"] += time.perf_counter() - began
                if token in tokenizer.eos_token_ids or channel.stop:
                    break
                ids.append(int(token))
                meter.step(1)
            meter.split["decode_steps"] += len(ids)
            if channel.stop:
                break
            meter.finish(max_tokens - len(ids))
            _send_answer(channel, tokenizer, index, prompt, ids, max_tokens)
    else:
        from mlx_lm.generate import BatchGenerator

        prefill = min(size, job.get("prefill_batch", PREFILL_BATCH))
        chunk = ChunkSizer(prefill, job.get("prefill_tokens", PREFILL_TOKENS),
                           job.get("step_target_s", STEP_TARGET_S))
        generator = BatchGenerator(model, stop_tokens=[[t] for t in tokenizer.eos_token_ids],
                                   completion_batch_size=size, prefill_batch_size=prefill,
                                   prefill_step_size=chunk.size)
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        uids = generator.insert([prompts[i] for i in order], [max_tokens] * len(prompts))
        index_of = dict(zip(uids, order))
        ids: dict[int, list[int]] = {uid: [] for uid in uids}
        with generator.stats() as stats:
            meter.split["prompt_s"] = -time.perf_counter()
            prefilled = False
            while ids and not channel.stop:
                began, before = time.perf_counter(), meter.prompt_done
                prompt_steps, responses = generator.next()
                for p in prompt_steps:
                    meter.prompt_seen(p.uid, p.progress[0])
                generator.prefill_step_size = chunk.after(
                    meter.prompt_done - before, len(prompt_steps), time.perf_counter() - began)
                if not prefilled and meter.prompt_done == meter.prompt_total:
                    prefilled = True  # up to here each call also prefilled a chunk
                    meter.split["prompt_s"] += time.perf_counter()
                for r in responses:
                    if r.finish_reason != "stop":
                        ids[r.uid].append(int(r.token))
                    if r.finish_reason is not None:
                        i = index_of[r.uid]
                        answer = ids.pop(r.uid)
                        meter.finish(max_tokens - len(answer))
                        _send_answer(channel, tokenizer, i, prompts[i], answer, max_tokens)
                meter.step(len(responses))
        meter.split["decode_steps"] = stats.generation_steps
        generator.close()
    if channel.stop:
        channel.send("stopped")
        return
    channel.send("done", seconds=meter.seconds(), tokens_out=meter.tokens_out,
                 prompt_tokens=meter.prompt_total, **meter.split)


class ChunkSizer:
    """The prefill chunk (tokens per prompt per call) that makes a call take about target_s
    here: the first call processes `first` tokens, each later one is sized from the rate
    measured so far (prefill dominates a call's time while prompts are being processed). On a
    2-core machine at load 13 (14 tokens/s through the model) a floor of 8 tokens a prompt
    still made calls of ~20 s: the floor is 1."""

    def __init__(self, prompts: int, first: int, target_s: float) -> None:
        self.size = max(1, first // prompts)
        self.target_s = target_s
        self.tokens = 0
        self.seconds = 0.0

    def after(self, tokens: int, prompts: int, seconds: float) -> int:
        if tokens and prompts:
            self.tokens += tokens
            self.seconds += seconds
            rate = self.tokens / max(self.seconds, 1e-6)
            self.size = int(min(2048, max(1, rate * self.target_s / prompts)))
        return self.size


class Meter:
    """Counts a generation's work and sends it as "step" messages, at most every
    STEP_EVERY_S: prompt tokens processed, tokens generated, and the generation budget still
    open (max_tokens for each unfinished answer), from which the engine estimates time left."""

    def __init__(self, channel: Channel, prompt_total: int, budget: int,
                 every_s: float) -> None:
        self.channel, self.prompt_total, self.budget = channel, prompt_total, budget
        self.every_s = every_s
        self.prompt_done = self.tokens_out = 0
        self.prompt_by_uid: dict[int, int] = {}
        # where the time goes (the benchmark prints it): seconds until every prompt was
        # prefilled (batched: decode steps of the first prompts overlap it) and decode steps
        self.split = {"prompt_s": 0.0, "decode_steps": 0}
        self.started = time.perf_counter()
        self.last = 0.0

    def seconds(self) -> float:
        return time.perf_counter() - self.started

    def prompt_seen(self, uid: int, done: int) -> None:
        self.prompt_done += done - self.prompt_by_uid.get(uid, 0)
        self.prompt_by_uid[uid] = done

    def finish(self, unused: int) -> None:
        self.budget -= unused  # an answer that stopped early frees the rest of its budget

    def step(self, tokens: int) -> None:
        self.tokens_out += tokens
        now = time.perf_counter()
        if now - self.last >= self.every_s:
            self.last = now
            self.channel.send("step", prompt_done=self.prompt_done,
                              prompt_total=self.prompt_total, tokens_out=self.tokens_out,
                              budget=self.budget, seconds=now - self.started)


def _send_answer(channel: Channel, tokenizer: Any, index: int, prompt: list[int],
                 ids: list[int], max_tokens: int) -> None:
    channel.send("generated", index=index, text=tokenizer.decode(ids),
                 tokens_in=len(prompt), tokens_out=len(ids), truncated=len(ids) >= max_tokens)


def main() -> int:
    channel = Channel()
    job = json.loads(sys.stdin.readline())
    {"train": train, "generate": generate}[job["cmd"]](job, channel)
    return 0


if __name__ == "__main__":
    sys.exit(main())
