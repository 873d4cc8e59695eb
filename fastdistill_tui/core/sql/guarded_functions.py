"""Replacements for SQLite functions whose one call can run for seconds inside one VM step.

Neither the sandbox's deadline check nor `Connection.interrupt()` can stop a step (SQLite checks
both between steps), so a query's worst case is bounded by what one function call can cost.
Measured with 256 KB values (SQLite 3.40): `instr` and `replace` search quadratically (0.3-0.4 s
a call, and one expression may hold thousands of calls); `printf('%.*c', N, 'x')` loops N times
whatever the length limit (~11 ns each: 25 s at N = 2^31). Here `instr` and `replace` use
Python's linear string search, and printf/format refuse a width or precision above the value
cap before SQLite's own printf (on a private in-memory connection) formats the rest. LIKE and
GLOB are bounded by the pattern length limit the sandbox sets instead.
"""

from __future__ import annotations

import re
import sqlite3
import threading

_SPEC = re.compile(r"%[-+ 0#,!]*(\*|\d+)?(?:\.(\*|\d*))?(?:ll|l)?(.|$)", re.DOTALL)
_local = threading.local()


def install(conn: sqlite3.Connection, max_value_bytes: int) -> None:
    conn.create_function("instr", 2, _instr, deterministic=True)
    conn.create_function("replace", 3, _Replace(max_value_bytes), deterministic=True)
    printf = _Printf(max_value_bytes)
    conn.create_function("printf", -1, printf, deterministic=True)
    conn.create_function("format", -1, printf, deterministic=True)


def sqlite_text(value: object) -> str:
    """A value as SQLite renders it as text (reals as %!.15g)."""
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


def _instr(haystack: object, needle: object) -> int | None:
    """1-based position of the first `needle` in `haystack` (bytes for two blobs, else
    characters), 0 if absent."""
    if haystack is None or needle is None:
        return None
    if isinstance(haystack, bytes) and isinstance(needle, bytes):
        return haystack.find(needle) + 1
    return sqlite_text(haystack).find(sqlite_text(needle)) + 1


class _Replace:
    def __init__(self, max_value_bytes: int) -> None:
        self.max_value_bytes = max_value_bytes

    def __call__(self, text: object, old: object, new: object) -> str | bytes | None:
        if text is None or old is None or new is None:
            return None
        old_text = sqlite_text(old)
        if not old_text:
            return text if isinstance(text, (str, bytes)) else sqlite_text(text)
        result = sqlite_text(text).replace(old_text, sqlite_text(new))
        if len(result) > self.max_value_bytes or len(result.encode()) > self.max_value_bytes:
            raise ValueError("string or blob too big")
        return result


class _Printf:
    def __init__(self, max_value_bytes: int) -> None:
        self.max_value_bytes = max_value_bytes

    def __call__(self, *args: object) -> object:
        if not args or args[0] is None:
            return None
        fmt = sqlite_text(args[0])
        self._check(fmt, args[1:])
        conn = getattr(_local, "conn", None)
        if conn is None:
            conn = _local.conn = sqlite3.connect(":memory:", check_same_thread=False)
            conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, self.max_value_bytes)
        marks = ", ".join("?" * len(args))
        return conn.execute(f"SELECT printf({marks})", (fmt, *args[1:])).fetchone()[0]

    def _check(self, fmt: str, values: tuple[object, ...]) -> None:
        position = 0
        for spec in _SPEC.finditer(fmt):
            width, precision, kind = spec.groups()
            for part in (width, precision):
                if part == "*":
                    number = _as_int(values[position]) if position < len(values) else 0
                    position += 1
                else:
                    number = int(part) if part and len(part) < 12 else (
                        0 if not part else self.max_value_bytes + 1)
                if abs(number) > self.max_value_bytes:
                    raise ValueError(f"printf width or precision above {self.max_value_bytes}")
            if kind != "%":
                position += 1


def _as_int(value: object) -> int:
    try:
        return int(float(sqlite_text(value)))
    except (ValueError, OverflowError):
        return 0
