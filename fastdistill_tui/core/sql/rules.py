"""Cheap checks on a cleaned SQL answer before it is executed."""

from __future__ import annotations

from sqlglot import exp

from .canonical import parse_query, sql_fingerprint
from .clean import split_statements

# Statement types that change data; rejected even when nested (e.g. a CTE wrapping a DELETE).
_WRITES = (exp.Insert, exp.Update, exp.Delete, exp.Merge)


def check_rules(sql: str, *, min_chars: int = 8, max_chars: int = 8000) -> str | None:
    """None when `sql` may be executed, else a reason code: "empty_sql", "too_short",
    "too_long", "multiple_statements", "parse_error" or "not_select"."""
    return rule_verdict(sql, min_chars=min_chars, max_chars=max_chars)[0]


def rule_verdict(sql: str, *, min_chars: int = 8, max_chars: int = 8000
                 ) -> tuple[str | None, exp.Expression | None]:
    """check_rules' reason plus the parsed tree when the SQL passes, so a caller that also
    needs the tree (canonical SQL for dedup) parses once."""
    statements = split_statements(sql or "")
    if not statements:
        return "empty_sql", None
    if len(statements) > 1:
        return "multiple_statements", None
    statement = statements[0]
    if len(statement) < min_chars:
        return "too_short", None
    if len(statement) > max_chars:
        return "too_long", None
    tree = parse_query(statement)
    if tree is None:
        return "parse_error", None
    if not is_read_only_query(tree):
        return "not_select", None
    return None, tree


def rule_check(sql: str) -> tuple[str | None, str]:
    """What the rules stage keeps of an answer: (None, its fingerprint) when it may be executed,
    else (reason, "")."""
    reason, tree = rule_verdict(sql)
    return (reason, "") if reason is not None else (None, sql_fingerprint(sql, tree))


def is_read_only_query(tree: exp.Expression) -> bool:
    """True for SELECT, set operations of SELECTs and WITH ... SELECT, with no nested write."""
    while isinstance(tree, exp.Subquery):  # "(SELECT ...)"
        tree = tree.this
    if not isinstance(tree, (exp.Select, exp.SetOperation)):
        return False
    return tree.find(*_WRITES) is None
