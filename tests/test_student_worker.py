"""The student worker on a tiny model built here: training lowers the loss and writes an adapter
that loads and changes the answers; batched greedy generation equals one-at-a-time; a cancelled
training keeps a usable adapter, resumes where it stopped, and a rerun reuses the result."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import threading
from dataclasses import replace

import pytest

from fastdistill_tui.core.stages.train import train_student
from fastdistill_tui.core.student.blas import find_blas
from fastdistill_tui.core.student.client import StudentError, TrainingDiverged, run_worker
from fastdistill_tui.core.student.profiles import PROFILES
from student_helpers import chat_rows, tiny_student, write_chat_data

PLAN = replace(PROFILES["quick"], iters=16, batch_size=4, learning_rate=1e-3, num_layers=2,
               lora_rank=8, max_seq_length=128, steps_per_eval=16, save_every=2, val_batches=1)
PROMPTS = [row["messages"][:2] for row in chat_rows(3)] + [
    [{"role": "user", "content": "What is the age of the singer?"}],
    [{"role": "user", "content": "0123"}],
    [{"role": "system", "content": "SQL only."}, {"role": "user", "content": "How many?"}]]


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    return tiny_student(tmp_path_factory.mktemp("student"))


def generate(model, prompts, batch_size, adapter=None, max_tokens=12, **extra):
    out = {}
    job = {"cmd": "generate", "model": str(model), "adapter": adapter and str(adapter),
           "prompts": prompts, "max_tokens": max_tokens, "batch_size": batch_size, **extra}
    asyncio.run(run_worker(job, lambda m: out.__setitem__(m["index"], m)
                           if m["type"] == "generated" else None, find_blas(2)))
    return [out[i]["text"] for i in range(len(prompts))]


def train(student, data, root, cancel=None, on_train=None, plan=PLAN):
    seen = []

    def progress(message):
        seen.append(message)
        if on_train and message["type"] == "train":
            on_train(message)

    outcome = asyncio.run(train_student(
        plan, student, "tiny", data, adapters_root=root / "adapters",
        run_adapters=root / "run_adapters", blas=find_blas(2),
        cancel=cancel or threading.Event(), progress=progress))
    return outcome, seen


def test_training_lowers_the_loss_and_its_adapter_changes_the_answers(student, tmp_path):
    data = write_chat_data(tmp_path / "data")
    outcome, seen = train(student, data, tmp_path)
    losses = [m["loss"] for m in seen if m["type"] == "train"]
    assert outcome.status == "trained" and outcome.iteration == PLAN.iters
    assert len(losses) == PLAN.iters and max(losses[-3:]) < losses[0] * 0.3
    assert [it for it, _ in outcome.val_losses] == [0, PLAN.iters - 1]
    # the seconds before the first iteration and at the end are not silent: the trainer says
    # it loaded the model and which validation batch it is on (issue 17: a counter frozen
    # for 42 s at iteration 0)
    kinds = [m["type"] for m in seen]
    first_train = kinds.index("train")
    assert kinds[0] == "loaded" and "validating" in kinds[:first_train]
    assert "validating" in kinds[first_train:]  # the final validation
    assert all(m["batch"] <= m["batches"] == PLAN.val_batches
               for m in seen if m["type"] == "validating")
    for name in ("adapters.safetensors", "adapter_config.json", "progress.json"):
        assert (tmp_path / "run_adapters" / name).exists()
    before = generate(student, PROMPTS[:3], 8)
    after = generate(student, PROMPTS[:3], 8, adapter=outcome.adapter_dir)
    assert after != before
    assert after[0].startswith("SELECT")  # what it was trained to answer


def test_batched_generation_equals_one_at_a_time(student):
    batched = generate(student, PROMPTS, 4)
    sequential = generate(student, PROMPTS, 1)
    assert batched == sequential
    # prompts prefilled 8 tokens a call (what a slow machine gets) answer the same
    assert generate(student, PROMPTS, 4, prefill_tokens=8, step_target_s=0) == sequential
    assert len(set(batched)) > 1  # the prompts get different answers: the check has teeth


@pytest.mark.parametrize("batch_size", [1, 4])
def test_generation_reports_its_steps_before_the_first_answer(student, batch_size):
    """A long generation is never silent: "step" messages (prompt tokens processed, tokens
    generated, budget left) come before any answer finishes and their counts only grow."""
    seen = []
    job = {"cmd": "generate", "model": str(student), "adapter": None, "prompts": PROMPTS,
           "max_tokens": 24, "batch_size": batch_size, "step_every_s": 0}
    last = asyncio.run(run_worker(job, seen.append, find_blas(2)))
    steps = [m for m in seen if m["type"] == "step"]
    first_answer = next(i for i, m in enumerate(seen) if m["type"] == "generated")
    assert seen[0]["type"] == "loaded" and any(m["type"] == "step" for m in seen[:first_answer])
    work = [m["prompt_done"] + m["tokens_out"] for m in steps]
    assert work == sorted(work) and work[-1] > work[0]
    answers = [m for m in seen if m["type"] == "generated"]
    assert steps[-1]["tokens_out"] == sum(a["tokens_out"] for a in answers) == last["tokens_out"]
    assert steps[-1]["prompt_done"] == steps[-1]["prompt_total"] == sum(
        a["tokens_in"] for a in answers)


def test_cancel_keeps_a_usable_adapter_then_resume_finishes_and_rerun_reuses(student,
                                                                             tmp_path):
    data = write_chat_data(tmp_path / "data")
    cancel = threading.Event()
    plan = replace(PLAN, iters=12)
    stopped, _ = train(student, data, tmp_path, cancel=cancel, plan=plan,
                       on_train=lambda m: m["iteration"] >= 3 and cancel.set())
    # the stop keeps the last checkpoint (every save_every=2 iterations): the worker saves at
    # the stop too, unless it is still inside an iteration when the engine's grace runs out
    assert stopped.status == "stopped" and 2 <= stopped.iteration < plan.iters
    progress = json.loads((stopped.adapter_dir / "progress.json").read_text())
    assert progress == {**progress, "iteration": stopped.iteration, "finished": False}
    assert generate(student, PROMPTS[:1], 1, adapter=stopped.adapter_dir)  # it loads

    resumed, seen = train(student, data, tmp_path, plan=plan)
    first = next(m for m in seen if m["type"] == "train")
    assert resumed.status == "trained" and resumed.resumed_from == stopped.iteration
    assert first["iteration"] == stopped.iteration + 1 and resumed.iteration == plan.iters

    again, seen = train(student, data, tmp_path, plan=plan)
    assert again.status == "reused" and seen == [] and again.adapter_dir == resumed.adapter_dir


def test_a_worker_crash_is_reported_with_its_last_words(tmp_path):
    job = {"cmd": "generate", "model": str(tmp_path / "missing"), "adapter": None,
           "prompts": [], "max_tokens": 4, "batch_size": 2}
    with pytest.raises(StudentError, match="not an mlx-lm model directory"):
        asyncio.run(run_worker(job, lambda m: None, find_blas(2)))


def test_rows_longer_than_the_sequence_limit_are_trained_whole(student, tmp_path):
    """mlx-lm cuts a row at max_seq_length, which cuts off its answer: training raises the
    limit to the longest row and says so (spider-de-dev's prompts with the database's rows
    reach 1,081 SmolLM2 tokens; the quick profile's limit is 512)."""
    from fastdistill_tui.core.student.worker import fitted_seq_length

    assert fitted_seq_length(512, 300) == 512
    assert fitted_seq_length(512, 513) == 576 and fitted_seq_length(512, 1081) == 1088
    data = write_chat_data(tmp_path / "data")
    short = replace(PLAN, iters=2, steps_per_eval=2, max_seq_length=8)
    outcome, seen = train(student, data, tmp_path, plan=short)
    notes = [m["text"] for m in seen if m["type"] == "note"]
    assert outcome.status == "trained" and len(notes) == 1
    assert "max_seq_length 8 -> 64" in notes[0]


def test_a_runaway_validation_loss_stops_training_and_says_what_to_change(student, tmp_path):
    """Qwen2.5-Coder-0.5B on the quick profile's learning rate (5e-4) went from a validation
    loss of 1.22 to 8.03 within 50 iterations and answered nothing right after 200: training
    stops at the first validation that shows it rather than hand on a broken adapter. The
    tiny random model starts near chance, where no loss can double: a base already trained
    on the rows (an adapter fused in) is one a too-high learning rate can ruin."""
    data = write_chat_data(tmp_path / "data")
    trained, _ = train(student, data, tmp_path / "first")
    base = tmp_path / "fused"
    subprocess.run([sys.executable, "-m", "mlx_lm", "fuse", "--model", str(student),
                    "--adapter-path", str(trained.adapter_dir), "--save-path", str(base)],
                   check=True, capture_output=True)
    wild = replace(PLAN, learning_rate=1.0, iters=8, steps_per_eval=2)
    with pytest.raises(TrainingDiverged) as raised:
        train(base, data, tmp_path / "wild", plan=wild)
    text = str(raised.value)
    assert text.startswith("training diverged: the validation loss rose from ")
    assert "(learning rate 1)" in text and "learning_rate in the config (e.g. 0.2)" in text
    first, later = (float(x) for x in re.findall(r"from (\S+) before training to (\S+) at",
                                                  text)[0])
    assert first < trained.val_losses[0][1] / 2  # the fused base starts well trained
    assert not later <= 2 * first  # NaN runs away too
