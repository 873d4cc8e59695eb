"""The child process that runs mlx for the student: training and batched generation.

    python -m fastdistill_tui.core.student.worker < job.json

It runs apart from the engine so that it can get its own environment (a preloaded fast BLAS must
be in place before the process starts: DESIGN §7), its memory goes back when it ends, and a crash
cannot take the run down. The job is one JSON object on stdin; progress comes back as one JSON
object a line on stdout (anything else mlx-lm prints goes to stderr). SIGINT/SIGTERM stop it
cleanly: training saves its adapter at the current iteration, generation stops after the answers
already sent. Message types: train, val, saved, generated, stopped, done.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from ..artifacts import write_json

ADAPTER_FILE = "adapters.safetensors"
PROGRESS_FILE = "progress.json"
PR_SET_PDEATHSIG = 1  # linux/prctl.h


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
    """{"iteration": last saved, "finished": bool, "losses": [[iteration, loss], ...]}."""
    path = adapter_dir / PROGRESS_FILE
    if not path.exists() or not (adapter_dir / ADAPTER_FILE).exists():
        return {"iteration": 0, "finished": False, "losses": [], "val_losses": []}
    return json.loads(path.read_text(encoding="utf-8"))


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
    import mlx.core as mx
    import mlx.optimizers as optim
    import numpy as np
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
    # mlx-lm shuffles batches with numpy: seeded, a run's training is reproducible (and a
    # resumed run draws other batches than its start did)
    np.random.seed(job["seed"] + start)
    mx.random.seed(job["seed"] + start)
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
    adapter_file = adapter_dir / ADAPTER_FILE
    if start:
        model.load_weights(str(adapter_file), strict=False)

    def save(iteration: int, finished: bool = False) -> None:
        mx.save_safetensors(str(adapter_file),
                            dict(tree_flatten(model.trainable_parameters())))
        progress.update(iteration=iteration, finished=finished)
        write_json(adapter_dir / PROGRESS_FILE, progress)
        channel.send("saved", iteration=iteration, finished=finished)

    class Reporter(TrainingCallback):
        def on_train_loss_report(self, info: dict[str, Any]) -> None:
            iteration = start + info["iteration"]
            progress["losses"].append([iteration, info["train_loss"]])
            channel.send("train", iteration=iteration, total=total, loss=info["train_loss"],
                         tokens_per_s=info["tokens_per_second"],
                         trained_tokens=info["trained_tokens"])
            if channel.stop:
                save(iteration)
                raise Stopped
            if iteration % job["save_every"] == 0 and iteration < total:
                save(iteration)

        def on_val_loss_report(self, info: dict[str, Any]) -> None:
            iteration = start + info["iteration"]
            progress["val_losses"].append([iteration, info["val_loss"]])
            channel.send("val", iteration=iteration, total=total, val_loss=info["val_loss"])

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
    args = TrainingArgs(batch_size=batch, iters=total - start, val_batches=job["val_batches"],
                        steps_per_report=1, steps_per_eval=job["steps_per_eval"],
                        steps_per_save=10**9,  # saving is ours: adapter + progress together
                        adapter_file=str(adapter_file), max_seq_length=job["max_seq_length"])
    if start < total:
        try:
            mlx_train(model, optim.Adam(learning_rate=job["learning_rate"]), train_set,
                      valid_set, args=args, training_callback=Reporter())
        except Stopped:
            channel.send("stopped", iteration=progress["iteration"])
            return
    save(total, finished=True)
    channel.send("done", iteration=total)


# -- generation -----------------------------------------------------------------------------
def generate(job: dict[str, Any], channel: Channel) -> None:
    """Greedy answers to `prompts` (chat messages), streamed back as each one finishes.

    `batch_size` 1 runs mlx-lm's one-at-a-time `generate` (the baseline batched output is
    compared against); otherwise mlx-lm's BatchGenerator keeps up to batch_size sequences in
    flight."""
    model, tokenizer = load_model(job["model"], job.get("adapter"))
    prompts = [prompt_ids(tokenizer, messages) for messages in job["prompts"]]
    max_tokens, size = job["max_tokens"], job["batch_size"]
    started = time.perf_counter()
    tokens_out = 0
    if size <= 1:
        import mlx.core as mx
        from mlx_lm.generate import generate_step

        for index, prompt in enumerate(prompts):
            if channel.stop:
                break
            ids = []
            for token, _ in generate_step(mx.array(prompt), model,
                                          max_tokens=max_tokens):
                if token in tokenizer.eos_token_ids:
                    break
                ids.append(int(token))
            tokens_out += len(ids)
            _send_answer(channel, tokenizer, index, prompt, ids, max_tokens)
    else:
        from mlx_lm.generate import BatchGenerator

        generator = BatchGenerator(model, stop_tokens=[[t] for t in tokenizer.eos_token_ids],
                                   completion_batch_size=size,
                                   prefill_batch_size=min(size, 32))
        uids = generator.insert(prompts, [max_tokens] * len(prompts))
        index_of = {uid: i for i, uid in enumerate(uids)}
        ids: dict[int, list[int]] = {uid: [] for uid in uids}
        while not channel.stop and (responses := generator.next_generated()):
            for r in responses:
                if r.finish_reason != "stop":
                    ids[r.uid].append(int(r.token))
                if r.finish_reason is not None:
                    tokens_out += len(ids[r.uid])
                    i = index_of[r.uid]
                    _send_answer(channel, tokenizer, i, prompts[i], ids.pop(r.uid), max_tokens)
        generator.close()
    seconds = time.perf_counter() - started
    if channel.stop:
        channel.send("stopped")
        return
    channel.send("done", seconds=seconds, tokens_out=tokens_out)


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
