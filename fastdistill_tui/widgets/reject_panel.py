"""Why samples are dropped: for each stage that rejected any, its most frequent reasons in
words, the reason code beside them (the code is what reports and `fastdistill report` show)."""

from __future__ import annotations

import textwrap

from rich.text import Text

from ..run_state import RunState
from .panel import Panel

#: reason code → what it means; a code not listed shows as itself
REASON_WORDS = {
    "gold_error": "the gold query fails on its database",
    "gold_timeout": "the gold query runs too long",
    "gold_empty": "the gold query returns no row",
    "duplicate": "the same question again",
    "no_sql_found": "no SQL in the teacher's answer",
    "empty_sql": "the teacher's SQL is empty",
    "parse_error": "the SQL does not parse",
    "not_select": "not a SELECT",
    "multiple_statements": "more than one statement",
    "too_short": "the SQL is too short",
    "too_long": "the SQL is too long",
    "exec_error": "the SQL fails on the database",
    "timeout": "the SQL runs too long",
    "value_mismatch": "other values than the gold result",
    "row_count": "another number of rows than gold",
    "col_count": "another number of columns than gold",
    "order_mismatch": "rows in another order than gold",
    "suite_mismatch": "differs on a copy",  # a test-suite copy of the database
    "no_agreement": "too few answers agree",
    "teacher_cancelled": "its request was stopped",
    "rate_limited": "the teacher kept refusing (429)",
    "connection": "the teacher could not be reached",
    "length": "the answer hit max_tokens",
    "empty_content": "the teacher answered nothing",
    "malformed_json": "the teacher's reply was not JSON",
}
TOP = 3  # reasons a stage
INDENT = 8  # the count's column and the gap after it: a reason's wrapped lines start here


def in_words(code: str) -> str:
    return REASON_WORDS.get(code, code.replace("_", " "))


class RejectPanel(Panel):
    def key(self, state: RunState) -> object:
        reasons = state.reasons
        return self.width, None if reasons is None else tuple(
            (s, tuple(r.items())) for s, r in reasons.items())

    def draw(self, state: RunState) -> tuple[Text, int]:
        self.display = state.reasons is not None  # a replay has no store to ask
        if not state.reasons:
            return Text("no sample dropped so far", style="dim"), 1
        lines: list[Text] = []
        for stage, reasons in state.reasons.items():
            lines.append(Text(stage, style="bold"))
            for code, count in list(reasons.items())[:TOP]:
                lines += reason_lines(count, code, self.width)
        return Text("\n").join(lines), len(lines)


def reason_lines(count: int, code: str, width: int) -> list[Text]:
    """`    18  another number of columns than` / `        gold (col_count)`: the words
    wrapped under themselves (a hanging indent), the code never split: after the last word
    where it fits, else on a line of its own."""
    room = max(width - INDENT, len(code) + 2)
    words = textwrap.wrap(in_words(code), room) or [""]
    tag = f"({code})"
    lines = [Text(f"{count:>{INDENT - 2}}  " if i == 0 else " " * INDENT).append(part)
             for i, part in enumerate(words)]
    if len(words[-1]) + 1 + len(tag) <= room:
        lines[-1].append(" ")
    else:
        lines.append(Text(" " * INDENT))
    lines[-1].append(tag, style="dim")
    return lines
