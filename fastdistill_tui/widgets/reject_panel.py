"""Why samples are dropped: for each stage that rejected any, its most frequent reasons in
words, the reason code beside them (the code is what reports and `fastdistill report` show)."""

from __future__ import annotations

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
    "teacher_cancelled": "its request was stopped",
    "rate_limited": "the teacher kept refusing (429)",
    "connection": "the teacher could not be reached",
    "length": "the answer hit max_tokens",
    "empty_content": "the teacher answered nothing",
    "malformed_json": "the teacher's reply was not JSON",
}
TOP = 3  # reasons a stage


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
        text = Text()
        lines = 0
        for stage, reasons in state.reasons.items():
            if lines:
                text.append("\n")
            text.append(stage, style="bold")
            lines += 1
            for code, count in list(reasons.items())[:TOP]:
                words = in_words(code)
                text.append(f"\n{count:>6}  {words}")
                lines += 1
                if len(f"{count:>6}  {words} ({code})") > self.width:  # the code below it
                    text.append(f"\n{'':8}")
                    lines += 1
                else:
                    text.append(" ")
                text.append(f"({code})", style="dim")
        return text, lines
