"""Shared fixtures: every test gets its own config/data/cache dirs (XDG on Linux)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from fastdistill_tui.core.student import models as student_models

TESTS_DIR = Path(__file__).resolve().parent
REPO_DIR = TESTS_DIR.parent
SPIDER_DE_DEV = REPO_DIR.parent / "shared" / "data" / "spider-de-dev"

if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path_factory, monkeypatch):
    """Point platformdirs (XDG) and FASTDISTILL_* at fresh temp dirs; drop inherited keys."""
    base = tmp_path_factory.mktemp("xdg")
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
        path = base / name.lower()
        path.mkdir()
        monkeypatch.setenv(name, str(path))
    for key in list(os.environ):
        if key.startswith("FASTDISTILL_") or key in ("OPENROUTER_API_KEY", "OPENAI_API_KEY"):
            monkeypatch.delenv(key)
    # The default run trains the real student (minutes, a 98 MB download): in tests the
    # student is off unless a test turns it on with a tiny model (tests/student_helpers.py).
    # Configs read as the CLI reads them get that from the environment; a test that builds a
    # Config() itself sees the real defaults and says `StudentConfig(enabled=False)`. A test
    # that forgets meets _no_fetch below, not a download.
    monkeypatch.setenv("FASTDISTILL_STUDENT_ENABLED", "0")
    monkeypatch.setattr("fastdistill_tui.core.student.models.fetch_known", _no_fetch)
    return base


REAL_FETCH_KNOWN = student_models.fetch_known


def _no_fetch(spec, cache):
    raise AssertionError("a test tried to fetch the real student: set config.student.enabled = "
                         "False, or point student.spec at a tiny model (tests/student_helpers.py)")


@pytest.fixture
def spider_de_dev() -> Path:
    if not SPIDER_DE_DEV.exists():
        pytest.skip(f"shared dataset absent: {SPIDER_DE_DEV} (only in the developers' checkout)")
    return SPIDER_DE_DEV
