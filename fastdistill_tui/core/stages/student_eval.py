"""student_eval_pre and student_eval_post: the student's greedy answers to the dataset's eval
split, generated in batches by the student worker (mlx-lm's BatchGenerator, not one prompt at a
time) and judged by the run's answer chain, as the teacher's answers are (clean → rules →
execeval → score). Both phases are this one function (DESIGN §6), so a before/after difference
is the training's alone.

Answers are cached in the store by (model, adapter, prompt, max_tokens) like the teacher's, and
each evaluated answer is committed as it comes, so a stopped evaluation resumes where it stopped
and a rerun of the same config generates nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import events as ev
from ..config import PromptConfig
from ..prompt import render_messages
from ..store import Store, StudentResultRow
from ..student.blas import Blas
from ..student.client import run_worker
from ..types import Completion, Example
from .base import WorkItem
from .canonicalize import assign_sample_id, canonicalize
from .chain import AnswerChain
from .dedup import Deduplicator


@dataclass(frozen=True)
class StudentModel:
    path: Path
    key: str  # identity of the weights, for the answer cache
    adapter: Path | None = None
    adapter_key: str = ""


class Rates:
    """exec-pass and gold-match rates of a summary with `total`, `exec_ok`, `gold_match`."""

    total: int
    exec_ok: int
    gold_match: int

    @property
    def exec_pass_rate(self) -> float:
        return self.exec_ok / self.total if self.total else 0.0

    @property
    def gold_match_rate(self) -> float:
        return self.gold_match / self.total if self.total else 0.0


@dataclass
class EvalSummary(Rates):
    phase: str
    total: int
    exec_ok: int
    gold_match: int
    generated: int  # answers generated now (the rest came from the cache or a stopped run)
    seconds_generating: float
    stopped: bool


def model_key(path: Path) -> str:
    """The weights' identity: config plus each weight file's name, size and mtime."""
    digest = hashlib.sha256((path / "config.json").read_bytes())
    for weights in sorted(path.glob("*.safetensors")):
        stat = weights.stat()
        digest.update(f"{weights.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def answer_key(model: StudentModel, messages: list[dict[str, str]], max_tokens: int) -> str:
    blob = json.dumps([model.key, model.adapter_key, messages, max_tokens, "greedy"],
                      sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def eval_items(examples: list[Example], prompt: PromptConfig | None = None) -> list[WorkItem]:
    """The eval questions as work items, deduplicated by sample_id, in file order; their
    prompts are rendered as the teacher's are (prompt: the run's [prompt] settings)."""
    items, dedup = [], Deduplicator()
    for example in examples:
        item = WorkItem(example)
        canonicalize(item)
        assign_sample_id(item)
        if not dedup.is_new(item.sample_id):
            continue
        item.seq = len(items)
        item.messages = render_messages(example.schema, example.question, example.evidence,
                                        db_path=example.db_path, content=prompt)
        items.append(item)
    return items


def fresh_item(item: WorkItem) -> WorkItem:
    """A copy of an eval question with no outcome yet: each phase judges its own answers."""
    return WorkItem(item.example, seq=item.seq, canonical_input=item.canonical_input,
                    schema_hash=item.schema_hash, sample_id=item.sample_id,
                    messages=item.messages)


async def evaluate_student(phase: str, model: StudentModel, questions: list[WorkItem], *,
                           store: Store, run_id: str, chain: AnswerChain, max_tokens: int,
                           batch_size: int, blas: Blas, cancel: threading.Event,
                           progress: Callable[[int, int, dict[str, Any] | None], None]
                           ) -> EvalSummary:
    """Judge every question's answer, from the cache or generated now. `progress(done, total,
    step)` is called as answers are judged and as the worker reports its steps (`step`: its
    latest "step" message: prompt tokens processed, tokens generated, budget still open)."""
    done = store.student_done_ids(run_id, phase)
    total = len(questions)
    todo = [fresh_item(q) for q in questions if q.sample_id not in done]
    finished = total - len(todo)
    for item in todo:
        item.cache_key = answer_key(model, item.messages, max_tokens)
    step: dict[str, Any] | None = None
    progress(finished, total, step)

    async def judge(item: WorkItem, answer: dict[str, Any], fresh: bool) -> None:
        nonlocal finished
        item.mark("student_gen")
        item.answer = Completion(answer["text"], tokens_in=answer["tokens_in"],
                                 tokens_out=answer["tokens_out"])
        await chain.judge(item)
        item.mark("student_eval")
        outcome = item.outcome
        store.put_student_result(run_id, phase, StudentResultRow(
            sample_id=item.sample_id, seq=item.seq, cache_key=item.cache_key, sql=item.sql,
            exec_ok=bool(outcome and outcome.exec_ok),
            gold_match=bool(outcome and outcome.gold_match), score=item.score,
            rejected_at=item.rejected_at, reason=item.reason, detail=item.detail,
            marks=item.marks), answer=answer if fresh else None)
        finished += 1
        progress(finished, total, step)

    to_generate = []
    for item in todo:
        item.mark("distilled")
        cached = store.get_student_answer(item.cache_key)
        if cached is not None:
            await judge(item, cached, fresh=False)
        else:
            to_generate.append(item)
    seconds, stopped = 0.0, False
    if to_generate and not cancel.is_set():
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

        async def consume() -> None:
            while (message := await queue.get()) is not None:
                await judge(to_generate[message["index"]], message, fresh=True)

        consumer = asyncio.create_task(consume())
        job = {"cmd": "generate", "model": str(model.path),
               "adapter": str(model.adapter) if model.adapter else None,
               "prompts": [item.messages for item in to_generate], "max_tokens": max_tokens,
               "batch_size": batch_size}

        def on_message(message: dict[str, Any]) -> None:
            nonlocal step
            if message["type"] == "generated":
                queue.put_nowait(message)
            elif message["type"] == "step":
                step = message
                progress(finished, total, step)

        try:
            last = await run_worker(job, on_message, blas, cancel)
        finally:
            queue.put_nowait(None)
            await consumer
        seconds = last.get("seconds", 0.0)
        stopped = last["type"] == "stopped"
    stopped = stopped or (cancel.is_set() and finished < total)
    return summarize(store, run_id, phase, generated=len(to_generate), seconds=seconds,
                     stopped=stopped)


def generation_progress(run_id: str, stage: str, done: int, total: int,
                        step: dict[str, Any] | None, elapsed: float) -> ev.StageProgress:
    """The stage's progress from answers judged and the worker's latest step: before the first
    answer finishes (a long prefill) the tokens still move, and the ETA comes from the work
    left: prompt tokens to process plus the generation budget still open, at the rate so far."""
    rate = done / elapsed if elapsed > 0 else 0.0
    eta = (total - done) / rate if rate > 0 else None
    if step is None:
        return ev.StageProgress(run_id, stage=stage, done=done, total=total, rate_per_s=rate,
                                eta_s=eta)
    tokens = step["prompt_done"] + step["tokens_out"]
    tokens_per_s = tokens / step["seconds"] if step["seconds"] > 0 else 0.0
    left = step["prompt_total"] - step["prompt_done"] + step["budget"] - step["tokens_out"]
    if tokens_per_s > 0 and done < total:
        eta = max(left, 0) / tokens_per_s
    return ev.StageProgress(run_id, stage=stage, done=done, total=total, rate_per_s=rate,
                            eta_s=eta, tokens=tokens, tokens_per_s=tokens_per_s)


def summarize(store: Store, run_id: str, phase: str, *, generated: int = 0,
              seconds: float = 0.0, stopped: bool = False) -> EvalSummary:
    total = exec_ok = gold = 0
    for row in store.student_results(run_id, phase):
        total += 1
        exec_ok += row["exec_ok"]
        gold += row["gold_match"]
    return EvalSummary(phase, total, exec_ok, gold, generated, seconds, stopped)
