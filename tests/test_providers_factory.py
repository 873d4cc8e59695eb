"""make_provider: spec parsing, keys from the environment only, and keys never leaking."""

from __future__ import annotations

import asyncio
import importlib.util
import logging

import pytest
from loopback_server import FaultPlan, LoopbackServer

from fastdistill_tui.core.config import TeacherConfig
from fastdistill_tui.core.errors import ConfigError
from fastdistill_tui.core.providers import SPEC_FORMS, make_provider
from fastdistill_tui.core.providers.ollama import OllamaProvider
from fastdistill_tui.core.providers.openai_compat import OpenAICompatProvider
from fastdistill_tui.core.types import Completion, Failure, GenParams

FAKE_KEY = "sk-or-v1-LEAKCANARY-0123456789abcdef"


@pytest.mark.parametrize("spec,cls,name,model,base_url", [
    ("openai:gpt-4o-mini", OpenAICompatProvider, "openai", "gpt-4o-mini",
     "https://api.openai.com/v1"),
    ("openrouter", OpenAICompatProvider, "openrouter", "deepseek/deepseek-v3.2",
     "https://openrouter.ai/api/v1"),
    ("openrouter:qwen/qwen3-32b", OpenAICompatProvider, "openrouter", "qwen/qwen3-32b",
     "https://openrouter.ai/api/v1"),
    ("ollama:qwen3:8b", OllamaProvider, "ollama", "qwen3:8b", "http://127.0.0.1:11434"),
    (" ollama:llama3.2 ", OllamaProvider, "ollama", "llama3.2", "http://127.0.0.1:11434"),
])
def test_specs_map_to_providers_with_defaults(spec, cls, name, model, base_url):
    p = make_provider(TeacherConfig(spec=spec), env={"OPENAI_API_KEY": FAKE_KEY})
    assert (type(p), p.name, p.model, p.base_url) == (cls, name, model, base_url)


def test_base_url_overrides_the_default_and_a_local_server_needs_no_key():
    p = make_provider(TeacherConfig(spec="openai:local", base_url="http://127.0.0.1:8000/v1/"),
                      env={})
    assert p.base_url == "http://127.0.0.1:8000/v1"


def test_builtin_spec_gives_the_offline_teacher():
    if importlib.util.find_spec("fastdistill_tui.core.providers.builtin") is None:
        pytest.skip("providers/builtin.py is another engineer's and not written yet")
    from fastdistill_tui.core.providers.builtin import BuiltinTeacher

    assert isinstance(make_provider(TeacherConfig(spec="builtin"), env={}), BuiltinTeacher)


def test_mlx_spec_needs_an_existing_directory(tmp_path):
    with pytest.raises(ConfigError) as info:
        make_provider(TeacherConfig(spec=f"mlx:{tmp_path / 'missing'}"), env={})
    assert info.value.field == "teacher.spec" and "missing" in str(info.value)


@pytest.mark.parametrize("spec", ["", "gpt-4o", "openai", "openai:", "ollama", "ollama: ",
                                  "mlx:", "builtin:x", "anthropic:claude", "OPENAI:gpt-4o"])
def test_bad_specs_are_config_errors_listing_the_valid_forms(spec):
    with pytest.raises(ConfigError) as info:
        make_provider(TeacherConfig(spec=spec), env={"OPENAI_API_KEY": FAKE_KEY})
    assert info.value.field == "teacher.spec"
    assert info.value.hint.endswith(SPEC_FORMS) and "openrouter[:MODEL]" in str(info.value)


def test_openrouter_without_a_key_names_the_env_vars():
    with pytest.raises(ConfigError) as info:
        make_provider(TeacherConfig(spec="openrouter"), env={"OPENAI_API_KEY": ""})
    assert "OPENROUTER_API_KEY" in str(info.value) and "OPENAI_API_KEY" in str(info.value)
    assert info.value.exit_code == 2


def test_openai_default_url_without_a_key_is_a_config_error():
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        make_provider(TeacherConfig(spec="openai:gpt-4o"), env={})


def test_a_named_key_env_var_must_be_set():
    teacher = TeacherConfig(spec="openai:m", base_url="http://127.0.0.1:1/v1",
                            api_key_env="MY_TEACHER_KEY")
    with pytest.raises(ConfigError, match="MY_TEACHER_KEY"):
        make_provider(teacher, env={"OPENAI_API_KEY": FAKE_KEY})


async def test_keys_come_from_the_env_in_order_of_preference():
    with LoopbackServer() as srv:
        cases = [
            ("openrouter:m", "", {"OPENROUTER_API_KEY": "k-router", "OPENAI_API_KEY": "k-oa"}),
            ("openrouter:m", "", {"OPENAI_API_KEY": "k-oa"}),
            ("openrouter:m", "MINE", {"MINE": "k-mine", "OPENROUTER_API_KEY": "k-router"}),
            ("openai:m", "", {"OPENAI_API_KEY": "k-oa"}),
            ("openai:m", "", {}),
        ]
        for spec, key_env, env in cases:
            p = make_provider(TeacherConfig(spec=spec, base_url=srv.base_url,
                                            api_key_env=key_env), env=env)
            assert (await p.complete([{"role": "user", "content": "q"}], GenParams())).ok
            await p.aclose()
    assert srv.authorizations == {"Bearer k-router": 1, "Bearer k-oa": 2, "Bearer k-mine": 1}
    assert srv.request_count == 5  # the last one went without an Authorization header


async def test_the_key_appears_nowhere_but_the_authorization_header(caplog, capfd):
    caplog.set_level(logging.DEBUG)
    env = {"OPENROUTER_API_KEY": FAKE_KEY}
    plan = FaultPlan(rate=1.0, kinds=("401", "500", "truncated", "malformed", "429", "slow"),
                     fail_attempts=10**6, retry_after_s=0.01, slow_s=1.0)
    with LoopbackServer(faults=plan) as srv:
        teacher = TeacherConfig(spec="openrouter:m", base_url=srv.base_url, max_retries=2,
                                timeout_s=0.3)
        p = make_provider(teacher, env=env)
        answers = await asyncio.gather(*(
            p.complete([{"role": "user", "content": f"q{i}"}], GenParams()) for i in range(30)))
        await p.aclose()
    assert srv.authorizations == {f"Bearer {FAKE_KEY}": srv.request_count}
    assert all(isinstance(a, Failure) for a in answers)
    reasons = {a.reason for a in answers}
    assert {"http_401", "http_500", "connection", "malformed_json"} <= reasons
    quoted = next(a for a in answers if a.reason == "http_401")
    assert "Incorrect API key provided: Bearer ***" in quoted.detail  # the server quoted it
    out, err = capfd.readouterr()
    haystack = [repr(p), str(vars(teacher)), out, err, caplog.text]
    haystack += [repr(a) for a in answers]
    assert all(FAKE_KEY not in text for text in haystack)
    assert all("LEAKCANARY" not in text for text in haystack)


def test_provider_repr_names_model_and_url_but_not_the_key():
    p = make_provider(TeacherConfig(spec="openai:gpt-4o"), env={"OPENAI_API_KEY": FAKE_KEY})
    assert repr(p) == ("OpenAICompatProvider(name='openai', model='gpt-4o', "
                       "base_url='https://api.openai.com/v1')")


async def test_ollama_spec_talks_to_the_ollama_shape():
    with LoopbackServer(shape="ollama") as srv:
        p = make_provider(TeacherConfig(spec="ollama:qwen3:8b", base_url=srv.base_url), env={})
        answer = await p.complete([{"role": "user", "content": "q"}], GenParams())
        await p.aclose()
    assert isinstance(answer, Completion) and answer.text == "SELECT 1"
