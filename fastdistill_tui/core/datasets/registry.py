"""Dataset specs (`bundled`, `wikisql:DIR`, `spider:DIR`, `jsonl:FILE`) to Dataset objects."""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from .base import Dataset
from .bundled import BundledDataset
from .jsonl import JsonlDataset
from .spider import SpiderDataset
from .wikisql import WikiSQLDataset

SPEC_FORMS = "bundled | wikisql:DIR | spider:DIR | jsonl:FILE"


def open_dataset(spec: str, *, cache_dir: Path) -> Dataset:
    """Open the dataset a spec names; cache_dir receives derived files (built SQLite DBs)."""
    kind, sep, location = spec.strip().partition(":")
    kind = kind.lower()
    if kind == "bundled" and not sep:
        return BundledDataset(cache_dir=Path(cache_dir))
    if kind not in ("wikisql", "spider", "jsonl") or not location:
        raise InputError(f"unknown dataset spec {spec!r}", field="dataset",
                         hint=f"valid forms: {SPEC_FORMS}")
    path = Path(location).expanduser()
    if not path.exists():
        raise InputError(f"{kind} dataset path not found", path=str(path), field="dataset",
                         hint=f"valid forms: {SPEC_FORMS}")
    if kind == "wikisql":
        return WikiSQLDataset(path, cache_dir=Path(cache_dir))
    if kind == "spider":
        return SpiderDataset(path)
    return JsonlDataset(path)
