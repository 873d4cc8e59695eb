"""canonicalize + hash: the canonical input of a sample and its sample_id (DESIGN §3)."""

from __future__ import annotations

import hashlib
import json
import unicodedata

from ..types import Schema
from .base import WorkItem


def normalize_text(text: str) -> str:
    """NFC and collapsed whitespace: questions that differ only in spacing are one sample."""
    return " ".join(unicodedata.normalize("NFC", text).split())


class Canonicalizer:
    """Caches each schema's JSON and hash: a dataset has few schemas and many questions."""

    def __init__(self) -> None:
        self._schemas: dict[Schema, tuple[str, str]] = {}

    def schema_json_and_hash(self, schema: Schema) -> tuple[str, str]:
        cached = self._schemas.get(schema)
        if cached is None:
            blob = json.dumps(schema.to_json(), sort_keys=True, separators=(",", ":"),
                              ensure_ascii=False)
            cached = (blob, hashlib.sha256(blob.encode()).hexdigest())
            if len(self._schemas) > 10_000:  # bound memory for datasets with many schemas
                self._schemas.clear()
            self._schemas[schema] = cached
        return cached

    def canonicalize(self, item: WorkItem) -> None:
        ex = item.example
        _, schema_hash = self.schema_json_and_hash(ex.schema)
        fields = {"task_id": ex.task_id, "question": normalize_text(ex.question),
                  "schema_hash": schema_hash}
        if ex.evidence:
            fields["evidence"] = normalize_text(ex.evidence)
        item.canonical_input = json.dumps(fields, sort_keys=True, separators=(",", ":"),
                                          ensure_ascii=False)
        item.schema_hash = schema_hash
        item.mark("canonical")

    @staticmethod
    def hash(item: WorkItem) -> None:
        """sample_id = sha256(task id + canonical input); the input already holds the schema hash."""
        digest = hashlib.sha256()
        digest.update(item.example.task_id.encode())
        digest.update(b"\x00")
        digest.update(item.canonical_input.encode())
        item.sample_id = digest.hexdigest()
        item.mark("hashed")
