"""Canonical SQL text for dedup hashing (never for execution: sqlglot may change semantics)."""

from __future__ import annotations

import hashlib

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers


def parse_query(sql: str) -> exp.Expression | None:
    """The sqlglot tree of one SQLite statement, or None when it does not parse.

    sqlglot falls back to `exp.Command` for syntax it does not understand; that is a failure
    to parse, not a statement we can reason about. More than one statement is None too.
    """
    try:
        trees = [t for t in sqlglot.parse(sql, read="sqlite") if t is not None]
    except SqlglotError:
        return None
    if len(trees) != 1 or isinstance(trees[0], exp.Command):
        return None
    return trees[0]


def canonical_sql(sql: str) -> str | None:
    """One spelling per query: sqlglot's SQLite rendering with identifiers case-normalised
    (SQLite compares identifiers case-insensitively). None when `sql` does not parse."""
    tree = parse_query(sql)
    if tree is None:
        return None
    try:
        return normalize_identifiers(tree, dialect="sqlite").sql(dialect="sqlite")
    except SqlglotError:
        return None


def sql_fingerprint(sql: str) -> str:
    """sha256 hex of the canonical SQL, or of the stripped text when it does not parse."""
    canonical = canonical_sql(sql)
    text = canonical if canonical is not None else sql.strip()
    return hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()
