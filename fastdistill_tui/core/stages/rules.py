"""rules: cheap checks before execution (empty, length, one statement, SELECT only, parses)."""

from __future__ import annotations

from ..sql.canonical import sql_fingerprint
from ..sql.rules import rule_verdict
from .base import WorkItem


def apply_rules(item: WorkItem) -> None:
    reason, tree = rule_verdict(item.sql or "")
    if reason is not None:
        item.reject("rules", reason)
    else:
        item.sql_fingerprint = sql_fingerprint(item.sql, tree)
