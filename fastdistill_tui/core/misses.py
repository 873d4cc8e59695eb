"""Why answers missed the gold, counted one way for the score and select reports, `fastdistill
report`, the headless summary and the teacher-eval gate.

A miss is an answer (of a sample whose gold executes) that is not a gold match; its reason is
the one stored with it: the comparison's (row_count, value_mismatch, col_count, order_mismatch,
truncated, empty_result: no rows where the gold has some, gold_empty: both empty), the
execution's (exec_error, timeout, denied, ...), or an earlier stage's (teacher_timeout,
parse_error, ...). SQLite's error messages are grouped by kind ("no such column", not each
column).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

TOP_MESSAGES = 5  # error kinds listed
_QUOTED = re.compile(r'"[^"]*"|\'[^\']*\'')
_KIND = re.compile(r"[a-z][a-z ]*[a-z]")


def error_kind(detail: str | None) -> str:
    """'no such column: T1.nme' -> 'no such column'; 'near "FORM": syntax error' ->
    'near …: syntax error'."""
    text = (detail or "").strip().split("\n", 1)[0]
    if not text:
        return "unknown"
    head, sep, _ = text.partition(": ")
    if sep and _KIND.fullmatch(head):
        return head
    return _QUOTED.sub("…", text)[:80]


class MissTally:
    def __init__(self) -> None:
        self.reasons: Counter[str] = Counter()
        self.messages: Counter[str] = Counter()

    def add(self, gold_match: bool, reason: str | None, detail: str | None) -> None:
        if gold_match:
            return
        self.reasons[reason or "unknown"] += 1
        if reason == "exec_error":
            self.messages[error_kind(detail)] += 1

    def reason_counts(self) -> dict[str, int]:
        return dict(self.reasons.most_common())

    def top_messages(self) -> dict[str, int]:
        return dict(self.messages.most_common(TOP_MESSAGES))

    def report(self) -> dict[str, Any]:
        return {"mismatch_reason_counts": self.reason_counts(),
                "exec_error_messages": self.top_messages()}


def misses_title(labelled: bool = True, unlabelled: bool = False) -> str:
    """What the misses are, for a run with questions with gold SQL (`labelled`), without it
    (`unlabelled`: checked by agreement), or both."""
    if unlabelled and not labelled:
        return "answers without agreement"
    return "answers missing the gold or agreement" if unlabelled else "answers missing the gold"


def format_misses(reasons: dict[str, int], messages: dict[str, int]) -> str:
    """'row_count 453, value_mismatch 147, exec_error 127 (no such column 114, ...)'; '' when
    nothing missed."""
    parts = []
    for reason, count in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])):
        part = f"{reason} {count}"
        if reason == "exec_error" and messages:
            part += " (" + ", ".join(f"{m} {n}" for m, n in messages.items()) + ")"
        parts.append(part)
    return ", ".join(parts)
