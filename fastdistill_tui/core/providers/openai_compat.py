"""OpenAI-compatible chat completions: OpenAI, OpenRouter, vLLM, `mlx_lm server`, llama.cpp ..."""

from __future__ import annotations

from typing import Any

from ..config import TeacherConfig, basic_auth, redact_url, url_credentials
from ..types import Answer, Completion, Failure, GenParams
from .base import Messages
from .http_client import Backoff, HttpProvider, JsonPoster, estimate_tokens

NO_THINK_SUFFIX = " /no_think"  # Qwen3's soft switch; its chat template honours it per turn


def price_cost(tokens_in: int, tokens_out: int, teacher: TeacherConfig) -> float:
    """USD from the config price table (per 1M tokens)."""
    return (tokens_in * teacher.price_in_per_m + tokens_out * teacher.price_out_per_m) / 1e6


def answer_from(content: str, finish_reason: str, *, tokens_in: int, tokens_out: int,
                cost: float, limit_param: str) -> Answer:
    """A parsed chat response as a Completion, or a billed Failure when the model hit its
    token limit (`limit_param` names it in the detail) or said nothing."""
    if finish_reason == "length":
        return Failure("length", f"stopped at {limit_param} after {tokens_out} tokens",
                       tokens_in=tokens_in, tokens_out=tokens_out, cost=cost)
    if not content.strip():
        return Failure("empty_content", f"finish_reason={finish_reason}",
                       tokens_in=tokens_in, tokens_out=tokens_out, cost=cost)
    return Completion(content, tokens_in=tokens_in, tokens_out=tokens_out, cost=cost,
                      finish_reason=finish_reason)


class OpenAICompatProvider(HttpProvider):
    """POST {base_url}/chat/completions. OpenRouter-only fields go only to name="openrouter"."""

    def __init__(self, teacher: TeacherConfig, *, model: str, base_url: str,
                 api_key: str | None = None, name: str = "openai",
                 backoff: Backoff | None = None) -> None:
        self.name = name
        self.model = model
        secrets = [api_key, *url_credentials(base_url)]
        base_url, headers = basic_auth(base_url)  # an API key, if any, is what authenticates
        self.base_url = base_url.rstrip("/")
        self._teacher = teacher
        if api_key:
            headers = {"Authorization": f"Bearer {api_key}"}
        self._http = JsonPoster(teacher, headers=headers, secrets=secrets, backoff=backoff)
        # OpenRouter models whose reasoning is mandatory answer 400 to {"enabled": false};
        # after the first such answer the field is no longer sent.
        self._reasoning_switch = name == "openrouter"

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(name={self.name!r}, model={self.model!r}, "
                f"base_url={redact_url(self.base_url)!r})")

    def request_body(self, messages: Messages, params: GenParams) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "messages": list(messages),
                                "temperature": params.temperature,
                                "max_tokens": params.max_tokens}
        if params.seed is not None:
            body["seed"] = params.seed
        if params.disable_thinking:
            if self._reasoning_switch:
                body["reasoning"] = {"enabled": False}
            if "qwen3" in self.model.lower():
                body["messages"] = _append_to_last_user(messages, NO_THINK_SUFFIX)
        return body

    async def complete(self, messages: Messages, params: GenParams) -> Answer:
        body = self.request_body(messages, params)
        answer = await self._post(body, messages, params)
        if ("reasoning" in body and isinstance(answer, Failure) and answer.http_status == 400
                and "reasoning" in answer.detail.lower()):
            self._reasoning_switch = False
            answer = await self._post(self.request_body(messages, params), messages, params)
        return answer

    async def _post(self, body: dict[str, Any], messages: Messages, params: GenParams) -> Answer:
        return await self._http.post(f"{self.base_url}/chat/completions", body, self._parse,
                                     token_estimate=estimate_tokens(messages, params.max_tokens))

    def _parse(self, data: Any) -> Answer:
        choice = data["choices"][0]
        content = _text(choice["message"].get("content"))  # reasoning_content is never read
        finish_reason = choice.get("finish_reason") or "stop"
        usage = data.get("usage") or {}
        tokens_in = int(usage.get("prompt_tokens") or 0)
        tokens_out = int(usage.get("completion_tokens") or 0)
        reported = usage.get("cost")
        cost = (float(reported) if isinstance(reported, (int, float))
                else price_cost(tokens_in, tokens_out, self._teacher))
        return answer_from(content, finish_reason, tokens_in=tokens_in, tokens_out=tokens_out,
                           cost=cost, limit_param="max_tokens")


def _text(content: Any) -> str:
    """Message content as text: a string, null, or a list of {"type": "text", "text": ...}."""
    if content is None:
        return ""
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content)


def _append_to_last_user(messages: Messages, suffix: str) -> Messages:
    out = [dict(m) for m in messages]
    for message in reversed(out):
        if message.get("role") == "user":
            if not message["content"].rstrip().endswith(suffix.strip()):
                message["content"] = message["content"] + suffix
            break
    return out
