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
    return None if tree is None else canonical_sql_of_tree(tree)


def canonical_sql_of_tree(tree: exp.Expression) -> str | None:
    """canonical_sql of an already parsed tree; the tree is normalised in place."""
    try:
        return normalize_identifiers(tree, dialect="sqlite").sql(dialect="sqlite", copy=False)
    except SqlglotError:
        return None


def sql_fingerprint(sql: str, tree: exp.Expression | None = None) -> str:
    """sha256 hex of the canonical SQL, or of the stripped text when it does not parse.
    Pass the parsed `tree` (it is normalised in place) to skip parsing again."""
    canonical = canonical_sql_of_tree(tree) if tree is not None else canonical_sql(sql)
    text = canonical if canonical is not None else sql.strip()
    return hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()
