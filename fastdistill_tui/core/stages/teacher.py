"""teacher: render the prompt, answer from the cache or the provider, persist before use."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field

from ..config import PromptConfig
from ..prompt import prompt_tokens, render_messages
from ..providers.base import Provider
from ..store import Store
from ..types import Answer, Completion, GenParams
from .base import WorkItem


def cache_key(provider: str, model: str, messages: list[dict[str, str]],
              params: GenParams, endpoint: str = "") -> str:
    """sha256(provider, model, rendered messages, generation params) — DESIGN §3 — plus the
    server's URL for remote teachers: one model name on two servers is two teachers."""
    parts: list[object] = [provider, model, messages, params.to_json()]
    if endpoint:
        parts.append(endpoint)
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass
class RequestCounter:
    """What the RequestStats event reports; failed-but-billed requests count in cost."""

    cached: int = 0
    fresh: int = 0
    failed: int = 0
    in_flight: int = 0
    retries: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0
    earlier: int = 0  # a resumed run: samples answered in an earlier part (not asked again)
    started: float = field(default_factory=time.monotonic)

    def per_minute(self, value: float) -> float:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        return value * 60.0 / elapsed


#: Stored failures that are reused rather than asked again: deterministic and already billed.
FINAL_FAILURES = frozenset({"length"})
#: Fresh failures that say the teacher cannot be reached or used at all (after retries): a
#: streak of them stops the run (a wrong URL, key or model name, or a request it rejects).
UNREACHABLE_FAILURES = frozenset({"connection", "http_400", "http_401", "http_403", "http_404",
                                  "http_422", "model_load"})


class StoredAnswers(Provider):
    """A provider whose answers are persisted before use and reused: successful answers and
    FINAL_FAILURES come from the store; other failures are recorded with their reason and
    asked again on the next run or resume (after a fixed key or a provider outage)."""

    def __init__(self, provider: Provider, store: Store, endpoint: str = "") -> None:
        self.provider, self.store, self.endpoint = provider, store, endpoint
        self.name, self.model, self.local = provider.name, provider.model, provider.local
        self.deterministic = provider.deterministic
        self.fresh = 0  # requests made (answers not from the store) and what they cost
        self.cost = 0.0

    def stored(self, key: str) -> Answer | None:
        answer = self.store.get_answer(key)
        if answer is not None and (answer.ok or answer.reason in FINAL_FAILURES):
            return answer
        return None

    async def ask(self, key: str, messages: list[dict[str, str]], params: GenParams) -> Answer:
        answer = await self.provider.complete(messages, params)
        if not answer.ok and answer.reason == "cancelled":
            return answer  # never asked: nothing to keep
        self.fresh += 1
        self.cost += answer.cost
        # billed remote answers are committed at once; free local ones with the next batch
        self.store.put_answer(key, self.name, self.model, answer, commit_now=not self.local)
        return answer

    async def complete(self, messages: list[dict[str, str]], params: GenParams) -> Answer:
        key = cache_key(self.name, self.model, messages, params, self.endpoint)
        return self.stored(key) or await self.ask(key, messages, params)

    def stop(self) -> None:
        self.provider.stop()

    async def aclose(self) -> None:
        await self.provider.aclose()


class TeacherStage:
    name = "teacher"

    def __init__(self, provider: Provider, store: Store, params: GenParams,
                 endpoint: str = "", prompt: PromptConfig | None = None) -> None:
        self.answers = StoredAnswers(provider, store, endpoint)
        self.params = params
        self.prompt = prompt  # what the prompt shows of the database; None = the schema alone
        self.counter = RequestCounter()
        self.unreachable_streak = 0  # consecutive fresh UNREACHABLE_FAILURES

    def prepare(self, item: WorkItem) -> None:
        ex = item.example
        item.messages = render_messages(ex.schema, ex.question, ex.evidence,
                                        db_path=ex.db_path, content=self.prompt)
        item.prompt_tokens = prompt_tokens(item.messages)
        item.cache_key = self.key_for(item.messages, self.params)

    async def run(self, item: WorkItem) -> None:
        self.prepare(item)
        answer = await self.answer(item.cache_key, item.messages, self.params)
        item.answer = answer
        if not answer.ok and answer.reason == "cancelled":
            item.reject(self.name, "teacher_cancelled", answer.detail)
            return  # neither fresh nor failed: it goes to the resume
        if not isinstance(answer, Completion):
            self.counter.failed += 1
            item.reject(self.name, f"teacher_{answer.reason}", answer.detail)
        item.mark("teacher")

    async def answer(self, key: str, messages: list[dict[str, str]],
                     params: GenParams) -> Answer:
        """The stored answer for `key`, or a request (persisted before use), counted in the
        request stats; also how the repair round and k candidates ask their extra turns."""
        counter = self.counter
        answer = self.answers.stored(key)
        if answer is not None:
            counter.cached += 1
            return answer
        counter.in_flight += 1
        try:
            answer = await self.answers.ask(key, messages, params)
        finally:
            counter.in_flight -= 1
        if not answer.ok and answer.reason == "cancelled":
            return answer
        counter.fresh += 1
        counter.retries += max(0, answer.attempts - 1)
        counter.tokens_in += answer.tokens_in
        counter.tokens_out += answer.tokens_out
        counter.cost += answer.cost
        unreachable = not answer.ok and answer.reason in UNREACHABLE_FAILURES
        self.unreachable_streak = self.unreachable_streak + 1 if unreachable else 0
        return answer

    def key_for(self, messages: list[dict[str, str]], params: GenParams) -> str:
        return cache_key(self.answers.name, self.answers.model, messages, params,
                         self.answers.endpoint)
