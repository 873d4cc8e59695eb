"""The bundled offline dataset: a synthetic WikiSQL-format set shipped with the package.

Written by scripts/generate_bundled.py (deterministic, seeded, no network); bundled/README.md
says what it is.
"""

from __future__ import annotations

from pathlib import Path

from .wikisql import WikiSQLDataset

BUNDLED_DIR = Path(__file__).resolve().parent / "bundled"


class BundledDataset(WikiSQLDataset):
    kind = "bundled"

    def __init__(self, *, cache_dir: Path, path: Path = BUNDLED_DIR) -> None:
        super().__init__(path, cache_dir=cache_dir, default_split="train",
                         eval_preference=("eval",))
