"""Case-insensitive text for all of Unicode, for databases that ask for it.

SQLite's NOCASE, LIKE, lower() and upper() fold ASCII only, so "Österreich" = 'österreich' is
false under NOCASE. WikiSQL's official evaluation compares case-insensitively (its database
holds lowercased cells and it lowercases condition values), so our WikiSQL tables declare their
text columns `COLLATE NOCASE_UNICODE`. A connection that opens such a database needs the
collation (`install`); there, LIKE, lower() and upper() also follow Python's Unicode case
rules, so a teacher's `lower(Land) = 'österreich'` or `Land LIKE 'ö%'` holds as it reads.
Other databases keep SQLite's own behaviour.
"""

from __future__ import annotations

import functools
import re
import sqlite3

COLLATION = "NOCASE_UNICODE"
# LIKE runs in Python here, holding the GIL: a long pattern with _ against a long value could
# hold it for seconds. SQLite's own limit (SQLITE_LIMIT_LIKE_PATTERN_LENGTH) is 50,000.
MAX_LIKE_PATTERN = 200


def compare(a: str, b: str) -> int:
    a, b = a.casefold(), b.casefold()
    return (a > b) - (a < b)


def install(conn: sqlite3.Connection) -> None:
    """Register the collation; when the database declares it, also the Unicode LIKE, lower()
    and upper(). Call before an authorizer is set (it reads sqlite_master)."""
    conn.create_collation(COLLATION, compare)
    declared = conn.execute("SELECT 1 FROM sqlite_master WHERE sql LIKE ? LIMIT 1",
                            (f"%COLLATE {COLLATION}%",)).fetchone()
    if declared:
        conn.create_function("lower", 1, _lower, deterministic=True)
        conn.create_function("upper", 1, _upper, deterministic=True)
        conn.create_function("like", 2, _like, deterministic=True)
        conn.create_function("like", 3, _like, deterministic=True)


def _text(value: object) -> str:
    """A value as SQLite renders it as text (floats as %!.15g)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, float):
        text = "%.15g" % value
        if not any(c in text for c in ".en"):  # "n": inf and nan
            return text + ".0"
        if "e" in text and "." not in text:
            mantissa, exponent = text.split("e")
            return f"{mantissa}.0e{exponent}"
        return text
    return str(value)


def _lower(value: object) -> str | None:
    return None if value is None else _text(value).lower()


def _upper(value: object) -> str | None:
    return None if value is None else _text(value).upper()


def _like(pattern: object, value: object, escape: object = None) -> int | None:
    """`value LIKE pattern [ESCAPE escape]`: % any run, _ one character, case-insensitive."""
    if pattern is None or value is None:
        return None
    if escape is not None and len(_text(escape)) != 1:
        raise ValueError("ESCAPE expression must be a single character")
    if len(_text(pattern)) > MAX_LIKE_PATTERN:
        raise ValueError(f"LIKE pattern longer than {MAX_LIKE_PATTERN} characters")
    head, middle, tail = _compile_like(_text(pattern), None if escape is None else _text(escape))
    text = _text(value).lower()
    if tail is None:  # no %: the whole value matches one segment
        return int(head.fullmatch(text) is not None)
    start = head.match(text)
    if start is None:
        return 0
    position = start.end()
    for segment in middle:  # leftmost match of each segment in turn is optimal
        found = segment.search(text, position)
        if found is None:
            return 0
        position = found.end()
    end = tail.search(text, position)
    return int(end is not None)


@functools.lru_cache(maxsize=1024)
def _compile_like(pattern: str, escape: str | None
                  ) -> tuple[re.Pattern, list[re.Pattern], re.Pattern | None]:
    """Split at %: the first segment anchors at the start, the last at the end. Each segment is
    literals and _ only, so matching never backtracks across segments."""
    segments: list[str] = [""]
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if escape is not None and char == escape and i + 1 < len(pattern):
            segments[-1] += re.escape(pattern[i + 1].lower())
            i += 2
            continue
        if char == "%":
            segments.append("")
        elif char == "_":
            segments[-1] += "."
        else:
            segments[-1] += re.escape(char.lower())
        i += 1
    flags = re.DOTALL
    if len(segments) == 1:
        return re.compile(segments[0], flags), [], None
    middle = [re.compile(s, flags) for s in segments[1:-1] if s]
    return (re.compile(segments[0], flags), middle, re.compile(f"(?:{segments[-1]})\\Z", flags))
