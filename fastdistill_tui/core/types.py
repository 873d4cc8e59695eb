"""Value types shared by datasets, providers, SQL evaluation and the engine."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any


@dataclass(frozen=True)
class Column:
    name: str
    type: str = "text"  # normalised: "text" | "real" | "integer" | other declared type, lowercased


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]


@dataclass(frozen=True)
class Schema:
    """The schema a question is asked against (what a teacher is shown)."""

    db_id: str
    tables: tuple[Table, ...]
    # (table, column) -> (ref_table, ref_column); optional
    foreign_keys: tuple[tuple[str, str, str, str], ...] = ()

    # A dataset has few schemas and many questions: hash, JSON and digest are computed once.
    def __hash__(self) -> int:
        return self._hash

    @cached_property
    def _hash(self) -> int:
        return hash((self.db_id, self.tables, self.foreign_keys))

    @cached_property
    def canonical_json(self) -> str:
        """Sorted, compact JSON of the schema: what the schema hash is taken over."""
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False)

    @cached_property
    def digest(self) -> str:
        return hashlib.sha256(self.canonical_json.encode()).hexdigest()

    def to_json(self) -> dict[str, Any]:
        return {
            "db_id": self.db_id,
            "tables": [[t.name, [[c.name, c.type] for c in t.columns]] for t in self.tables],
            "foreign_keys": [list(fk) for fk in self.foreign_keys],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Schema":
        return cls(
            db_id=data["db_id"],
            tables=tuple(
                Table(name, tuple(Column(c, t) for c, t in cols)) for name, cols in data["tables"]
            ),
            foreign_keys=tuple(tuple(fk) for fk in data.get("foreign_keys", ())),
        )


@dataclass(frozen=True)
class Example:
    """One Text2SQL question as loaded from a dataset, before the engine hashes it."""

    task_id: str  # e.g. "text2sql"; part of sample_id
    question: str
    schema: Schema
    db_path: str  # absolute path of the SQLite file the SQL runs against
    gold_sql: str  # "" when the dataset has none for it: checked by agreement instead
    source: str  # "file:line" (or "file#index") for error messages
    evidence: str = ""  # BIRD-style hint shown to the teacher, "" when absent
    logical_form: dict[str, Any] | None = None  # WikiSQL {sel, agg, conds}, when the dataset has it
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def has_gold(self) -> bool:
        return bool(self.gold_sql)


@dataclass(frozen=True)
class GenParams:
    """Generation parameters; part of the teacher cache key."""

    temperature: float = 0.0
    max_tokens: int = 512
    disable_thinking: bool = True
    #: Sent to servers that take one; set for the k-candidates' extra answers, so each is its
    #: own cache entry. Left out of the key when None, so earlier keys stay valid.
    seed: int | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "disable_thinking": self.disable_thinking,
        }
        if self.seed is not None:
            data["seed"] = self.seed
        return data


@dataclass(frozen=True)
class Completion:
    """A successful teacher answer."""

    text: str
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0  # USD, from provider-reported cost or the config price table
    latency_s: float = 0.0
    attempts: int = 1
    finish_reason: str = "stop"
    ok: bool = True


@dataclass(frozen=True)
class Failure:
    """A teacher request that produced no usable answer. Never a silent None.

    reason is one of: http_<status>, timeout, connection, malformed_json, empty_content,
    length (finish_reason=length), rate_limited, cancelled, error.
    """

    reason: str
    detail: str = ""
    attempts: int = 1
    latency_s: float = 0.0
    http_status: int | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0  # billed even though it failed (e.g. finish_reason=length)
    ok: bool = False


Answer = Completion | Failure
