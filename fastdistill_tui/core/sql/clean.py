"""Pull one SQL statement out of a model's free-form answer.

Teachers wrap SQL in thinking blocks, Markdown fences, labels ("SQL:") and prose. The order of
preference is: the first fence holding SQL, then SQL after a label or at the start of a line,
then an inline code span. Only the first statement is kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_REASONING_BLOCK = re.compile(r"<(think|thinking|reasoning)>.*?</\1>", re.IGNORECASE | re.DOTALL)
_UNTERMINATED_LEADING = re.compile(r"^\s*<(think|thinking|reasoning)>", re.IGNORECASE)
# Some APIs put the opening tag in the prompt template, so the answer starts mid-thought.
_ORPHAN_CLOSE = re.compile(r"^.*?</(think|thinking|reasoning)>", re.IGNORECASE | re.DOTALL)

# A fenced block: ```lang\n body ``` (an unterminated last fence runs to the end).
_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)

# Where a query starts: SELECT, or WITH [RECURSIVE] name [(cols)] AS ( -- the latter is strict
# so that prose such as "With this table ..." is not taken for SQL.
_QUERY_START = (r"(?:select\b|with\s+(?:recursive\s+)?[^\s(]+\s*(?:\([^)]*\)\s*)?"
                r"as\s*(?:not\s+)?(?:materialized\s+)?\()")
_STATEMENT_KEYWORD = re.compile(
    r"\s*(?:" + _QUERY_START + r"|(?:insert|update|delete|replace|create|drop|alter|pragma"
    r"|attach|detach|vacuum|begin|commit)\b)", re.IGNORECASE)
_SQL_AT_LINE_START = re.compile(r"^[ \t>*]*`?(?=" + _QUERY_START + ")",
                                re.IGNORECASE | re.MULTILINE)
_SQL_AFTER_LABEL = re.compile(
    r"\b(?:sql(?:\s+query)?|query|answer)\s*:\**[ \t]*`?(?=" + _QUERY_START + ")", re.IGNORECASE)
_INLINE_CODE = re.compile(r"`(" + _QUERY_START + r"[^`]*)`", re.IGNORECASE)

# Prose that follows an unterminated, unfenced statement ends it.
_PROSE_LINE = re.compile(
    r"^\s*(?:This|The|These|Here|Explanation|Note|It|I|We|In this|That|Which)\b", re.MULTILINE)
_BLANK_LINE = re.compile(r"\n[ \t]*\n")


@dataclass(frozen=True)
class CleanResult:
    """`sql` is the extracted statement (no trailing `;`), or None with a `reason`:
    "empty_output" (nothing but whitespace or reasoning) or "no_sql_found"."""

    sql: str | None
    reason: str | None


def clean_output(text: str) -> CleanResult:
    answer = strip_reasoning(text or "")
    if not answer.strip():
        return CleanResult(None, "empty_output")
    for extract in (_from_fences, _from_text, _from_inline_code):
        sql = extract(answer)
        if sql:
            return CleanResult(sql, None)
    return CleanResult(None, "no_sql_found")


def strip_reasoning(text: str) -> str:
    """Remove <think>/<reasoning> blocks, a closing tag with no opening one, and an unterminated
    leading block (a model cut off while thinking has given no answer)."""
    text = _REASONING_BLOCK.sub("", text)
    if _UNTERMINATED_LEADING.match(text):
        return ""
    return _ORPHAN_CLOSE.sub("", text, count=1)


_QUOTE_CLOSERS = {"'": "'", '"': '"', "`": "`", "[": "]"}
_SPLIT_SPECIAL = re.compile(r"""['"`\[;]|--|/\*""")


def split_statements(sql: str) -> list[str]:
    """Split on `;` outside string literals, quoted identifiers and comments.

    Returns the statements, stripped and without their `;`; pieces holding only whitespace and
    comments are dropped, so "SELECT 1; -- done" is one statement. (It jumps from one special
    character to the next: it runs several times per sample.)
    """
    statements: list[str] = []
    start = i = 0
    n = len(sql)
    has_code = False
    while True:
        match = _SPLIT_SPECIAL.search(sql, i)
        j = match.start() if match else n
        has_code = has_code or bool(sql[i:j].strip())
        if match is None:
            break
        token = match.group()
        if token in _QUOTE_CLOSERS:
            end = sql.find(_QUOTE_CLOSERS[token], j + 1)
            # A doubled quote ('it''s') is an escape: the scan simply resumes after it.
            i = n if end == -1 else end + 1
            has_code = True
        elif token == "--":
            end = sql.find("\n", j)
            i = n if end == -1 else end + 1
        elif token == "/*":
            end = sql.find("*/", j + 2)
            i = n if end == -1 else end + 2
        else:  # ";"
            if has_code:
                statements.append(sql[start:j].strip())
            i = start = j + 1
            has_code = False
    if has_code:
        statements.append(sql[start:].strip())
    return statements


def _first_statement(sql: str) -> str:
    statements = split_statements(_drop_leading_comments(sql))
    return statements[0] if statements else ""


def _from_fences(answer: str) -> str | None:
    for match in _FENCE.finditer(answer):
        lang, body = match.group(1).lower(), match.group(2)
        if lang in ("sql", "sqlite") or _STATEMENT_KEYWORD.match(_drop_leading_comments(body)):
            sql = _first_statement(body)
            if sql:
                return sql
    return None


def _from_text(answer: str) -> str | None:
    starts = [m.end() for m in (_SQL_AT_LINE_START.search(answer), _SQL_AFTER_LABEL.search(answer))
              if m]
    if not starts:
        return None
    rest = answer[min(starts):]
    # Without a fence, the statement also ends at a blank line or a line of prose.
    ends = [m.start() for m in (_BLANK_LINE.search(rest), _PROSE_LINE.search(rest, 1)) if m]
    if ends:
        rest = rest[:min(ends)]
    return _first_statement(rest).rstrip("`").strip() or None


def _from_inline_code(answer: str) -> str | None:
    match = _INLINE_CODE.search(answer)
    return _first_statement(match.group(1)) if match else None


def _drop_leading_comments(body: str) -> str:
    return re.sub(r"^(?:\s*--[^\n]*\n|\s*/\*.*?\*/)*", "", body, flags=re.DOTALL)
