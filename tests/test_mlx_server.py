"""Real MLX end to end: MLXLocalProvider in-process, and `mlx_lm server` driven over HTTP.

Both use the tiny model from make_tiny_model.py, which answers every chat with "SELECT 1".
The first MLX run on a machine JIT-compiles CPU kernels (~20 s, cached under /tmp/mlx).
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time

import httpx
import pytest
from make_tiny_model import ANSWER, make_tiny_model

from fastdistill_tui.core.config import TeacherConfig
from fastdistill_tui.core.providers import make_provider
from fastdistill_tui.core.providers.mlx_local import MLXLocalProvider
from fastdistill_tui.core.types import Completion, Failure, GenParams

SERVER_START_TIMEOUT_S = 120.0


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    return str(make_tiny_model(tmp_path_factory.mktemp("tiny-llama")))


def chat(question: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": "Answer with SQL ."},
            {"role": "user", "content": question}]


async def test_mlx_local_provider_batches_concurrent_requests(tiny_model):
    provider = make_provider(TeacherConfig(spec=f"mlx:{tiny_model}", concurrency=8), env={})
    assert isinstance(provider, MLXLocalProvider) and provider.name == "mlx"
    batch_sizes: list[int] = []
    generate = provider._generate
    provider._generate = lambda jobs: batch_sizes.append(len(jobs)) or generate(jobs)

    questions = [f"How many singers {'are there ' * i}?" for i in range(6)]
    params = [GenParams(max_tokens=8, temperature=0.0 if i % 2 else 0.7) for i in range(6)]
    answers = await asyncio.gather(*(provider.complete(chat(q), p)
                                     for q, p in zip(questions, params)))
    cut_short = await provider.complete(chat("How many singers ?"), GenParams(max_tokens=1))
    await provider.aclose()

    assert batch_sizes == [6, 1]  # the six concurrent calls went as one batch
    assert all(isinstance(a, Completion) and a.text == ANSWER for a in answers)
    assert [a.tokens_out for a in answers] == [2] * 6  # SELECT, 1 (the stop token not counted)
    # "<|system|> Answer with SQL . <|end|> <|user|> How many singers ... ? <|end|> <|assistant|>"
    assert [a.tokens_in for a in answers] == [13 + 2 * i for i in range(6)]
    assert isinstance(cut_short, Failure) and cut_short.reason == "length"
    assert cut_short.tokens_out == 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_serving(proc: subprocess.Popen, base_url: str) -> None:
    """Poll with a real chat request: /v1/models needs a Hugging Face cache dir (DESIGN §7)."""
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    body = {"model": "default_model", "messages": chat("ping"), "max_tokens": 2}
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"mlx_lm server exited with {proc.returncode}: "
                                 f"{proc.stdout.read().decode(errors='replace')[-2000:]}")
        try:
            if httpx.post(f"{base_url}/chat/completions", json=body, timeout=60).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"mlx_lm server did not answer within {SERVER_START_TIMEOUT_S:.0f}s")


@pytest.fixture
def mlx_server(tiny_model):
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlx_lm", "server", "--model", tiny_model,
         "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env={**os.environ, "HF_HUB_OFFLINE": "1"})
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_until_serving(proc, base_url)
        yield base_url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def test_openai_compat_provider_drives_mlx_lm_server(mlx_server):
    teacher = TeacherConfig(spec="openai:default_model", base_url=mlx_server, timeout_s=60)
    provider = make_provider(teacher, env={})
    answers = await asyncio.gather(*(provider.complete(chat(f"How many singers {i} ?"),
                                                       GenParams(max_tokens=8))
                                     for i in range(3)))
    await provider.aclose()
    assert all(isinstance(a, Completion) for a in answers), answers
    assert [(a.text, a.attempts) for a in answers] == [(ANSWER, 1)] * 3
    assert all(a.tokens_in > 0 and a.tokens_out >= 2 for a in answers)  # it counts </s> too
