"""LRU cache of gold query results: many questions share a gold query, and the engine runs
each gold once before paying the teacher and again when comparing (DESIGN §5)."""

from __future__ import annotations

import threading
from collections import OrderedDict

from .execute import ExecResult


class GoldCache:
    """Thread-safe LRU keyed by (db_path, gold_sql); counts hits and misses."""

    def __init__(self, max_size: int) -> None:
        if max_size < 1:
            raise ValueError(f"max_size must be ≥ 1, got {max_size}")
        self.max_size = max_size
        self._entries: OrderedDict[tuple[str, str], ExecResult] = OrderedDict()
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0

    def get(self, db_path: str, gold_sql: str) -> ExecResult | None:
        key = (db_path, gold_sql)
        with self._lock:
            result = self._entries.get(key)
            if result is None:
                self._misses += 1
                return None
            self._entries.move_to_end(key)
            self._hits += 1
            return result

    def put(self, db_path: str, gold_sql: str, result: ExecResult) -> None:
        key = (db_path, gold_sql)
        with self._lock:
            self._entries[key] = result
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_size:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    @property
    def hits(self) -> int:
        return self._hits

    @property
    def misses(self) -> int:
        return self._misses

    @property
    def hit_ratio(self) -> float:
        """hits / lookups; 0.0 before the first lookup."""
        with self._lock:
            lookups = self._hits + self._misses
            return self._hits / lookups if lookups else 0.0
