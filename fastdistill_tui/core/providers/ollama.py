"""Ollama's native chat API (POST {base}/api/chat, stream=false), which takes `think`."""

from __future__ import annotations

from typing import Any

from ..config import TeacherConfig, basic_auth, redact_url, url_credentials
from ..types import Answer, GenParams
from .base import Messages
from .http_client import Backoff, HttpProvider, JsonPoster, estimate_tokens
from .openai_compat import answer_from, price_cost

DEFAULT_OLLAMA_URL = "http://127.0.0.1:11434"


class OllamaProvider(HttpProvider):
    def __init__(self, teacher: TeacherConfig, *, model: str, base_url: str = DEFAULT_OLLAMA_URL,
                 name: str = "ollama", backoff: Backoff | None = None) -> None:
        self.name = name
        self.model = model
        secrets = url_credentials(base_url)
        base_url, headers = basic_auth(base_url)
        self.base_url = base_url.rstrip("/")
        self._teacher = teacher
        self._http = JsonPoster(teacher, headers=headers, secrets=secrets, backoff=backoff)

    def __repr__(self) -> str:
        return f"OllamaProvider(model={self.model!r}, base_url={redact_url(self.base_url)!r})"

    def request_body(self, messages: Messages, params: GenParams) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "messages": list(messages), "stream": False,
                                "options": {"temperature": params.temperature,
                                            "num_predict": params.max_tokens}}
        if params.seed is not None:
            body["options"]["seed"] = params.seed
        if params.disable_thinking:
            body["think"] = False
        return body

    async def complete(self, messages: Messages, params: GenParams) -> Answer:
        return await self._http.post(f"{self.base_url}/api/chat",
                                     self.request_body(messages, params), self._parse,
                                     token_estimate=estimate_tokens(messages, params.max_tokens))

    def _parse(self, data: Any) -> Answer:
        content = data["message"].get("content") or ""  # a "thinking" field is never read
        tokens_in = int(data.get("prompt_eval_count") or 0)
        tokens_out = int(data.get("eval_count") or 0)
        cost = price_cost(tokens_in, tokens_out, self._teacher)
        return answer_from(content, data.get("done_reason") or "stop", tokens_in=tokens_in,
                           tokens_out=tokens_out, cost=cost, limit_param="num_predict")

