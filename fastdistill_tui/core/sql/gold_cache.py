"""LRU cache of gold query results: many questions share a gold query, and the engine runs
each gold once before paying the teacher and again when comparing (DESIGN §5)."""

from __future__ import annotations

import threading
from collections import OrderedDict

from .execute import ExecResult

MAX_BYTES = 64 << 20  # the cache's estimated memory, at most (a gold result may be 16 MB)
_ROW_OVERHEAD, _VALUE_OVERHEAD = 64, 48  # bytes of Python objects per row and per value


def entry_bytes(result: ExecResult) -> int:
    """An estimate of the memory a cached result holds: its text and blob bytes plus the
    objects around them."""
    return result.nbytes + len(result.rows) * (_ROW_OVERHEAD
                                               + _VALUE_OVERHEAD * len(result.columns))


class GoldCache:
    """Thread-safe LRU keyed by (db_path, gold_sql), bounded by entries and by estimated bytes;
    counts hits and misses."""

    def __init__(self, max_size: int, max_bytes: int = MAX_BYTES) -> None:
        if max_size < 1:
            raise ValueError(f"max_size must be ≥ 1, got {max_size}")
        self.max_size = max_size
        self.max_bytes = max_bytes
        self.nbytes = 0
        self._entries: OrderedDict[tuple[str, str], tuple[ExecResult, int]] = OrderedDict()
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0

    def get(self, db_path: str, gold_sql: str) -> ExecResult | None:
        key = (db_path, gold_sql)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self._misses += 1
                return None
            self._entries.move_to_end(key)
            self._hits += 1
            return entry[0]

    def put(self, db_path: str, gold_sql: str, result: ExecResult) -> None:
        """Keeps the result unless it alone is larger than max_bytes; evicts the least recently
        used entries until both bounds hold."""
        key, size = (db_path, gold_sql), entry_bytes(result)
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.nbytes -= old[1]
            if size > self.max_bytes:
                return
            self._entries[key] = (result, size)
            self.nbytes += size
            while len(self._entries) > self.max_size or self.nbytes > self.max_bytes:
                self.nbytes -= self._entries.popitem(last=False)[1][1]

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
