"""Pull one SQL statement out of a model's free-form answer.

Teachers wrap SQL in thinking blocks, Markdown fences, labels ("SQL:") and prose. The order of
preference is: the first fence holding SQL, then SQL after a label or at the start of a line,
then an inline code span. A cleaner may drop the prose around the SQL, never part of it: where
the end of an unfenced statement is unclear, or a second statement follows the first, the answer
is rejected with a reason code rather than guessed at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TAG = re.compile(r"<(/?)(think|thinking|reasoning)>", re.IGNORECASE)

# A fenced block: ```lang\n body ``` (an unterminated last fence runs to the end).
_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)

# Where a query starts: SELECT, or WITH [RECURSIVE] name [(cols)] AS ( -- the latter is strict
# so that prose such as "With this table ..." is not taken for SQL.
_QUERY_START = (r"(?:select\b|with\s+(?:recursive\s+)?[^\s(]+\s*(?:\([^)]*\)\s*)?"
                r"as\s*(?:not\s+)?(?:materialized\s+)?\()")
_QUERY_START_RE = re.compile(_QUERY_START, re.IGNORECASE)
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
# Text after a blank line that can only continue the statement before it.
_CONTINUES = re.compile(
    r"\s*(?:[),=<>+*/|%.-]|(?:from|where|and|or|not|group|order|having|limit|offset|join|inner"
    r"|left|right|full|outer|cross|natural|on|using|union|intersect|except|as|when|then|else"
    r"|end|between|in|is|like|glob|collate|asc|desc|window)\b)", re.IGNORECASE)
# The end of a statement that cannot be its end.
_DANGLING = re.compile(
    r"(?:[(,=<>+*/|%-]|\b(?:select|from|where|and|or|not|join|on|by|group|order|having|limit"
    r"|offset|union|all|intersect|except|as|in|is|like|between|case|when|then|else|distinct"
    r"|inner|left|right|outer|cross|natural|using|with))\s*$", re.IGNORECASE)
_LITERAL_OR_COMMENT = re.compile(
    r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|`[^`]*`|\[[^\]]*\]|--[^\n]*|/\*.*?\*/", re.DOTALL)


@dataclass(frozen=True)
class CleanResult:
    """`sql` is the extracted statement (no trailing `;`), or None with a `reason`:
    "empty_output" (nothing but whitespace or reasoning), "no_sql_found",
    "multiple_statements" (a second statement follows the first) or "unclear_sql_end"
    (unfenced SQL whose end cannot be told from the prose after it)."""

    sql: str | None
    reason: str | None


def clean_output(text: str) -> CleanResult:
    answer = strip_reasoning(text or "")
    if not answer.strip():
        return CleanResult(None, "empty_output")
    for extract in (_from_fences, _from_text, _from_inline_code):
        result = extract(answer)
        if result is not None:
            return result
    return CleanResult(None, "no_sql_found")


def strip_reasoning(text: str) -> str:
    """Remove <think>/<reasoning> blocks, everything before a closing tag with no opening one,
    and an unterminated leading block (a model cut off while thinking has given no answer).
    A tag inside a SQL string literal (`SELECT '</think>'`) is text, not a tag."""
    tags = [m for m in _TAG.finditer(text) if not _in_sql_string(text, m.start())]
    kept: list[str] = []
    position = index = 0
    orphan_seen = False
    while index < len(tags):
        tag = tags[index]
        index += 1
        if tag.start() < position:
            continue
        if tag.group(1):  # a closing tag without an opening one: the answer starts after it
            if not orphan_seen:
                orphan_seen = True
                kept, position = [], tag.end()
            continue
        name = tag.group(2).lower()
        close = next((j for j in range(index, len(tags)) if tags[j].group(1)
                      and tags[j].group(2).lower() == name), None)
        if close is None:
            if not "".join(kept).strip() and not text[position:tag.start()].strip():
                return ""
            continue
        kept.append(text[position:tag.start()])
        position, index = tags[close].end(), close + 1
        orphan_seen = True  # a closing tag after a block is not an orphan's
    kept.append(text[position:])
    return "".join(kept)


def _in_sql_string(text: str, position: int) -> bool:
    """Whether `position` falls inside a string literal of a query that starts earlier on the
    same line."""
    line = text[text.rfind("\n", 0, position) + 1:position]
    start = _QUERY_START_RE.search(line)
    if start is None:
        return False
    rest = _LITERAL_OR_COMMENT.sub(" ", line[start.start():])
    return "'" in rest or '"' in rest


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


def _single_statement(sql: str) -> CleanResult | None:
    """The first statement of `sql`, rejected when another statement follows it (pieces
    after a `;` that are prose are dropped)."""
    statements = split_statements(_drop_leading_comments(sql))
    if not statements:
        return None
    if any(_STATEMENT_KEYWORD.match(_drop_leading_comments(s)) for s in statements[1:]):
        return CleanResult(None, "multiple_statements")
    return CleanResult(statements[0], None)


def _from_fences(answer: str) -> CleanResult | None:
    for match in _FENCE.finditer(answer):
        lang, body = match.group(1).lower(), match.group(2)
        if lang in ("sql", "sqlite") or _STATEMENT_KEYWORD.match(_drop_leading_comments(body)):
            result = _single_statement(body)
            if result is not None:
                return result
    return None


def _from_text(answer: str) -> CleanResult | None:
    starts = [m.end() for m in (_SQL_AT_LINE_START.search(answer), _SQL_AFTER_LABEL.search(answer))
              if m]
    if not starts:
        return None
    rest = answer[min(starts):]
    # Without a fence, the statement also ends at a blank line or a line of prose -- unless
    # what follows can only continue it.
    end = _unfenced_end(rest)
    head, tail = rest[:end], rest[end:]
    if _STATEMENT_KEYWORD.match(tail):
        return CleanResult(None, "multiple_statements")
    result = _single_statement(head)
    if result is None or result.sql is None:
        return result
    sql = result.sql.rstrip("`").strip()
    if not sql:
        return None
    if tail.strip() and ";" not in head and _incomplete(sql):
        return CleanResult(None, "unclear_sql_end")
    return CleanResult(sql, None)


def _unfenced_end(rest: str) -> int:
    position = 1
    while True:
        ends = [m for m in (_BLANK_LINE.search(rest, position), _PROSE_LINE.search(rest, position))
                if m]
        if not ends:
            return len(rest)
        end = min(ends, key=lambda m: m.start())
        code = _LITERAL_OR_COMMENT.sub(" ", rest[:end.start()])
        if _left_open(code) or (end.re is _BLANK_LINE and (
                _CONTINUES.match(rest, end.end()) or _DANGLING.search(code))):
            position = end.end()
            continue
        return end.start()


def _left_open(code: str) -> bool:
    """Whether SQL with its complete literals and comments blanked out (_LITERAL_OR_COMMENT)
    ends inside one that is still open."""
    return any(q in code for q in ("'", '"', "`", "/*")) or bool(re.search(r"\[[^\]]*$", code))


def _incomplete(sql: str) -> bool:
    """Unbalanced parentheses, an open literal, or a last word that needs more after it."""
    code = _LITERAL_OR_COMMENT.sub(" ", sql)
    return (code.count("(") != code.count(")") or _left_open(code)
            or bool(_DANGLING.search(code)))


def _from_inline_code(answer: str) -> CleanResult | None:
    match = _INLINE_CODE.search(answer)
    return _single_statement(match.group(1)) if match else None


def _drop_leading_comments(body: str) -> str:
    return re.sub(r"^(?:\s*--[^\n]*\n|\s*/\*.*?\*/)*", "", body, flags=re.DOTALL)
