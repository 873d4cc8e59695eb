"""A local MLX model as the teacher, batching concurrent requests into `mlx_lm.batch_generate`.

MLX is not thread-safe across threads, so loading and every generation run in one dedicated
thread. Concurrent `complete` calls wait `batch_window_s` for company, then go as one batch of up
to `max_batch` prompts (grouped by temperature, since a batch shares one sampler).
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from ..config import TeacherConfig
from ..types import Answer, Completion, Failure, GenParams
from .base import Messages, Provider


@dataclass
class _Request:
    messages: Messages
    params: GenParams
    future: asyncio.Future
    started: float = field(default_factory=time.monotonic)


class MLXLocalProvider(Provider):
    name = "mlx"
    local = True

    def __init__(self, path: str, teacher: TeacherConfig, *, max_batch: int | None = None,
                 batch_window_s: float = 0.005) -> None:
        self.path = path
        self.model = path
        self.max_batch = max_batch or min(teacher.concurrency, 32)
        self.batch_window_s = batch_window_s
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlx")
        self._loaded: tuple[Any, Any] | None = None  # (model, tokenizer); only the mlx thread
        self._pending: list[_Request] = []
        self._drainer: asyncio.Task | None = None

    def __repr__(self) -> str:
        return f"MLXLocalProvider(path={self.path!r})"

    async def complete(self, messages: Messages, params: GenParams) -> Answer:
        loop = asyncio.get_running_loop()
        request = _Request(messages, params, loop.create_future())
        self._pending.append(request)
        if self._drainer is None or self._drainer.done():
            self._drainer = loop.create_task(self._drain())
        return await request.future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            await asyncio.sleep(self.batch_window_s)  # let concurrent callers join this batch
            batch = self._pending[: self.max_batch]
            del self._pending[: self.max_batch]
            jobs = [(r.messages, r.params) for r in batch]
            try:
                answers = await loop.run_in_executor(self._thread, self._generate, jobs)
            except Exception as exc:  # a load or generation error fails this batch only
                reason = "error" if self._loaded is not None else "model_load"
                answers = [Failure(reason, f"mlx: {type(exc).__name__}: {exc}")] * len(batch)
            for request, answer in zip(batch, answers):
                if not request.future.done():  # its caller may have been cancelled
                    latency = time.monotonic() - request.started
                    request.future.set_result(replace(answer, latency_s=latency))

    def _load(self) -> tuple[Any, Any]:
        if self._loaded is None:
            import mlx_lm

            self._loaded = mlx_lm.load(self.path)
        return self._loaded

    def _generate(self, jobs: list[tuple[Messages, GenParams]]) -> list[Answer]:
        """Runs in the mlx thread."""
        from mlx_lm import batch_generate
        from mlx_lm.sample_utils import make_sampler

        model, tokenizer = self._load()
        answers: list[Answer | None] = [None] * len(jobs)
        by_temperature: dict[float, list[int]] = defaultdict(list)
        for index, (_, params) in enumerate(jobs):
            by_temperature[params.temperature].append(index)
        for temperature, indices in by_temperature.items():
            prompts = [self._prompt_ids(tokenizer, *jobs[i]) for i in indices]
            limits = [jobs[i][1].max_tokens for i in indices]
            result = batch_generate(model, tokenizer, prompts, max_tokens=limits,
                                    sampler=make_sampler(temp=temperature),
                                    return_token_ids=True)
            for i, prompt, text, ids, limit in zip(indices, prompts, result.texts,
                                                   result.token_ids, limits):
                answers[i] = _answer(text, len(prompt), len(ids), limit)
        return answers

    @staticmethod
    def _prompt_ids(tokenizer: Any, messages: Messages, params: GenParams) -> list[int]:
        extra = {"enable_thinking": False} if params.disable_thinking else {}
        return list(tokenizer.apply_chat_template(messages, add_generation_prompt=True, **extra))

    async def aclose(self) -> None:
        await asyncio.to_thread(self._thread.shutdown)
        self._loaded = None


def _answer(text: str, tokens_in: int, tokens_out: int, max_tokens: int) -> Answer:
    # batch_generate drops the stop token, so a sequence that stopped is shorter than the cap
    if tokens_out >= max_tokens:
        return Failure("length", f"stopped at max_tokens after {tokens_out} tokens",
                       tokens_in=tokens_in, tokens_out=tokens_out)
    if not text.strip():
        return Failure("empty_content", "the model stopped before any text",
                       tokens_in=tokens_in, tokens_out=tokens_out)
    return Completion(text, tokens_in=tokens_in, tokens_out=tokens_out)
