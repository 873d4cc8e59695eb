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

from .guarded_functions import sqlite_text

COLLATION = "NOCASE_UNICODE"
# A LIKE/GLOB call costs up to (value length × pattern length) inside one VM step: SQLite's own
# default limit of 50,000 allowed 15-25 s a call over 256 KB values; at 200, ~0.15 s. The
# sandbox sets this as SQLITE_LIMIT_LIKE_PATTERN_LENGTH; the Python LIKE here checks it itself.
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


def _lower(value: object) -> str | None:
    return None if value is None else sqlite_text(value).lower()


def _upper(value: object) -> str | None:
    return None if value is None else sqlite_text(value).upper()


def _like(pattern: object, value: object, escape: object = None) -> int | None:
    """`value LIKE pattern [ESCAPE escape]`: % any run, _ one character, case-insensitive."""
    if pattern is None or value is None:
        return None
    if escape is not None and len(sqlite_text(escape)) != 1:
        raise ValueError("ESCAPE expression must be a single character")
    if len(sqlite_text(pattern)) > MAX_LIKE_PATTERN:
        raise ValueError(f"LIKE pattern longer than {MAX_LIKE_PATTERN} characters")
    head, middle, tail = _compile_like(sqlite_text(pattern),
                                       None if escape is None else sqlite_text(escape))
    text = sqlite_text(value).lower()
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
