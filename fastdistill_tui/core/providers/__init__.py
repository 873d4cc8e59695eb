"""Teachers: `make_provider(TeacherConfig)` turns a spec string into a `Provider`.

Specs: builtin | openai:MODEL | openrouter[:MODEL] | ollama:MODEL | mlx:PATH.
API keys are read from the environment at construction and live only inside the provider's HTTP
headers: never in a config object, a repr, a log line or a Failure.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from ..config import Config, TeacherConfig, judge_teacher_config, redact_url
from ..errors import ConfigError
from .base import Messages, Provider

DEFAULT_OPENAI_URL = "https://api.openai.com/v1"
DEFAULT_OPENROUTER_URL = "https://openrouter.ai/api/v1"
DEFAULT_OPENROUTER_MODEL = "deepseek/deepseek-v3.2"
SPEC_FORMS = "builtin | openai:MODEL | openrouter[:MODEL] | ollama:MODEL | mlx:PATH"

__all__ = ["Messages", "Provider", "make_provider", "make_judge", "endpoint_for", "SPEC_FORMS"]
JUDGE_KEYS = {"teacher.spec": "eval.judge_spec", "teacher.base_url": "eval.judge_base_url",
              "teacher.api_key_env": "eval.judge_api_key_env"}


def make_judge(config: Config, *, env: Mapping[str, str] | None = None) -> Provider:
    """The LLM judge's provider, from its own settings (errors name the eval.judge_* keys)."""
    try:
        return make_provider(judge_teacher_config(config), env=env)
    except ConfigError as exc:
        raise ConfigError(exc.message.replace("teacher.", "eval.judge_"),
                          field=JUDGE_KEYS.get(exc.field or "", exc.field),
                          hint=exc.hint) from None


def endpoint_for(teacher: TeacherConfig) -> str:
    """The server a spec talks to, as part of the answer cache key ("" for in-process
    teachers): the same model name on two servers is two teachers. Credentials are left out."""
    kind = teacher.spec.strip().partition(":")[0]
    if kind not in ("openai", "openrouter", "ollama"):
        return ""
    from .ollama import DEFAULT_OLLAMA_URL

    defaults = {"openai": DEFAULT_OPENAI_URL, "openrouter": DEFAULT_OPENROUTER_URL,
                "ollama": DEFAULT_OLLAMA_URL}
    return redact_url(teacher.base_url or defaults[kind]).rstrip("/")


def make_provider(teacher: TeacherConfig, *, env: Mapping[str, str] | None = None) -> Provider:
    env = os.environ if env is None else env
    kind, _, arg = teacher.spec.strip().partition(":")
    arg = arg.strip()
    if kind == "builtin" and not arg:
        from .builtin import BuiltinTeacher

        return BuiltinTeacher()
    if kind == "openrouter":
        from .openai_compat import OpenAICompatProvider

        names = [teacher.api_key_env] if teacher.api_key_env else ["OPENROUTER_API_KEY",
                                                                   "OPENAI_API_KEY"]
        key = _first_key(env, names)
        if not key:
            raise ConfigError(f"no OpenRouter API key: set {' or '.join(map(_env_name, names))}",
                              field="teacher.api_key_env",
                              hint="export the key in the environment; it is never read from "
                                   "or written to the config file")
        return OpenAICompatProvider(teacher, model=arg or DEFAULT_OPENROUTER_MODEL,
                                    base_url=teacher.base_url or DEFAULT_OPENROUTER_URL,
                                    api_key=key, name="openrouter")
    if kind == "openai" and arg:
        from .openai_compat import OpenAICompatProvider

        base_url = teacher.base_url or DEFAULT_OPENAI_URL
        key = _first_key(env, [teacher.api_key_env or "OPENAI_API_KEY"])
        if teacher.api_key_env and not key:
            raise ConfigError(f"names {_env_name(teacher.api_key_env)}, which is not set",
                              field="teacher.api_key_env", hint="export it, or clear the setting")
        if not key and base_url == DEFAULT_OPENAI_URL:
            raise ConfigError("no OpenAI API key: set OPENAI_API_KEY", field="teacher.spec",
                              hint="or point teacher.base_url (--base-url) at a local server")
        return OpenAICompatProvider(teacher, model=arg, base_url=base_url, api_key=key,
                                    name="openai")
    if kind == "ollama" and arg:
        from .ollama import DEFAULT_OLLAMA_URL, OllamaProvider

        return OllamaProvider(teacher, model=arg, base_url=teacher.base_url or DEFAULT_OLLAMA_URL)
    if kind == "mlx" and arg:
        from .mlx_local import MLXLocalProvider

        if not Path(arg).expanduser().is_dir():
            raise ConfigError(f"mlx model directory not found: {arg}", field="teacher.spec",
                              hint="mlx:PATH needs a local directory with config.json, weights "
                                   "and a tokenizer")
        if not (Path(arg).expanduser() / "config.json").is_file():
            raise ConfigError(f"no model in {arg}: config.json is missing", field="teacher.spec",
                              hint="mlx:PATH needs a local directory with config.json, weights "
                                   "and a tokenizer (e.g. from `mlx_lm.convert`)")
        return MLXLocalProvider(str(Path(arg).expanduser()), teacher)
    raise ConfigError(f"unknown teacher spec {teacher.spec!r}", field="teacher.spec",
                      hint=f"use one of: {SPEC_FORMS}")


def _env_name(name: str) -> str:
    """The variable's name for a message, unless it may be a pasted key (never echoed)."""
    looks_like_a_name = len(name) <= 40 and name.upper() == name
    return name if looks_like_a_name else "a variable"


def _first_key(env: Mapping[str, str], names: list[str]) -> str | None:
    return next((env[name] for name in names if env.get(name)), None)
