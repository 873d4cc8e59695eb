"""dedup: drop samples whose sample_id was already seen in this run."""

from __future__ import annotations


class Deduplicator:
    """Remembers sample ids (32 bytes each as bytes) so memory stays small at 100k+ samples."""

    def __init__(self) -> None:
        self._seen: set[bytes] = set()
        self.duplicates = 0

    def is_new(self, sample_id: str) -> bool:
        key = bytes.fromhex(sample_id)
        if key in self._seen:
            self.duplicates += 1
            return False
        self._seen.add(key)
        return True
