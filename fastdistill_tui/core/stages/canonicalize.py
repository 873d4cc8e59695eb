"""canonicalize + hash: the canonical input of a sample and its sample_id (DESIGN §3)."""

from __future__ import annotations

import hashlib
import json
import unicodedata

from .base import WorkItem


def normalize_text(text: str) -> str:
    """NFC and collapsed whitespace: questions that differ only in spacing are one sample."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def canonicalize(item: WorkItem) -> None:
    """The fields that define the task, as sorted compact JSON; the schema enters by its hash."""
    ex = item.example
    fields = {"task_id": ex.task_id, "question": normalize_text(ex.question),
              "schema_hash": ex.schema.digest}
    if ex.evidence:
        fields["evidence"] = normalize_text(ex.evidence)
    item.canonical_input = json.dumps(fields, sort_keys=True, separators=(",", ":"),
                                      ensure_ascii=False)
    item.schema_hash = ex.schema.digest
    item.mark("canonical")


def assign_sample_id(item: WorkItem) -> None:
    """sample_id = sha256(task id + canonical input); the input already holds the schema hash."""
    digest = hashlib.sha256()
    digest.update(item.example.task_id.encode())
    digest.update(b"\x00")
    digest.update(item.canonical_input.encode())
    item.sample_id = digest.hexdigest()
    item.mark("hashed")
