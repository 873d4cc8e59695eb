"""What a prompt shows of a database beside its schema: the column types the database declares,
a few rows per table, and the stored values closest to the question's words (value retrieval,
as CodeS and CHESS do). A teacher that sees `'arizona'` stored does not write `'Arizona'`.

Read once per (database file, schema), read-only (datasets' open_dataset_db), with bounded
scans, never a deadline: what is read must not depend on the machine's load, because the
rendered prompt is part of the teacher's cache key.
"""

from __future__ import annotations

import os
import re
import sqlite3
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .datasets.base import normalize_type, open_dataset_db
from .types import Schema

SCAN_ROWS = 100_000  # rows read per text column when collecting its distinct values
MAX_DISTINCT = 5_000  # distinct values kept per text column
MAX_INDEXED_CHARS = 80  # longer texts are prose, not literals a question names
MAX_SHOWN_CHARS = 40  # a value longer than this is shown cut, with "…"
PREFIX_CHARS = 5  # words of at least this length also match by a common prefix (inflections)

# Words too common to say which value a question means (English and German, like the builtin).
STOP_WORDS = frozenset("""
a an and are as at be by did do does for from has have how in is it its of on or the their
them they this to was were what when where which who whom whose why with all any each list
show give find name names number many much more most than that those these
der die das den dem des ein eine einen einem einer und oder ist sind war waren wie was wer
wo welche welcher welches welchen mit von vom zu zum zur im in an am auf für aus bei alle
allen jeder jede jedes nach über unter als auch nicht namen name anzahl viele zeige gib
""".split())

_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Value:
    table: str
    column: str
    text: str
    words: tuple[str, ...]  # case-folded


@dataclass(frozen=True, eq=False)  # hashed by identity: one object per file and schema
class DatabaseContent:
    """What was read of one database for one schema."""

    types: dict[tuple[str, str], str]  # (table, column) -> normalised type declared in the DB
    rows: dict[str, list[tuple]]  # table -> its first rows, in the schema's column order
    index: dict[str, tuple[Value, ...]]  # word key -> the text values containing such a word

    def matching_values(self, question: str) -> list[tuple[float, Value]]:
        """The stored text values sharing words with the question, best first: (score, value),
        score = the share of the value's letters in words the question also has."""
        asked = [w for w in _words(question) if w not in STOP_WORDS]
        candidates: dict[Value, None] = {}
        for word in asked:
            for value in self.index.get(_key(word), ()):
                candidates.setdefault(value)
        scored = []
        for value in candidates:
            covered = sum(len(w) for w in value.words if any(_same_word(w, a) for a in asked))
            if covered:
                total = sum(len(w) for w in value.words)
                scored.append((covered / total, value))
        scored.sort(key=lambda sv: (-sv[0], len(sv[1].text), sv[1].table, sv[1].column,
                                    sv[1].text))
        return scored


def _words(text: str) -> list[str]:
    return [w.casefold() for w in _WORD.findall(text)]


def _key(word: str) -> str:
    return word[:PREFIX_CHARS]


def _same_word(stored: str, asked: str) -> bool:
    """Equal, or (both long) one a prefix of the other within 3 letters: 'deutsch'/'deutsche'."""
    if stored == asked:
        return True
    short, long_ = sorted((stored, asked), key=len)
    return (len(short) >= PREFIX_CHARS and long_.startswith(short)
            and len(long_) - len(short) <= 3)


def _indexable(word: str) -> bool:
    return word not in STOP_WORDS and (len(word) >= 3 or word.isdigit())


def database_content(db_path: str, schema: Schema, rows_per_table: int) -> DatabaseContent:
    """The content of db_path for schema; cached, and re-read when the file changes."""
    try:
        stat = os.stat(db_path)
    except OSError:
        return _EMPTY
    return _read(db_path, stat.st_mtime_ns, stat.st_size, schema, rows_per_table)


_EMPTY = DatabaseContent({}, {}, {})


@lru_cache(maxsize=256)
def _read(db_path: str, _mtime_ns: int, _size: int, schema: Schema,
          rows_per_table: int) -> DatabaseContent:
    try:
        conn = open_dataset_db(Path(db_path))
    except sqlite3.Error:
        return _EMPTY
    try:
        return _read_open(conn, schema, rows_per_table)
    finally:
        conn.close()


def _read_open(conn: sqlite3.Connection, schema: Schema, rows_per_table: int) -> DatabaseContent:
    conn.text_factory = lambda raw: raw.decode("utf-8", errors="replace")
    types: dict[tuple[str, str], str] = {}
    rows: dict[str, list[tuple]] = {}
    index: dict[str, list[Value]] = {}
    for table in schema.tables:
        try:
            declared = {name.casefold(): decl for _, name, decl, *_ in
                        conn.execute(f"PRAGMA table_info({_quote(table.name)})")}
        except sqlite3.Error:
            continue
        if not declared:
            continue  # not in this file
        for column in table.columns:
            decl = declared.get(column.name.casefold())
            if decl:
                types[(table.name, column.name)] = normalize_type(decl)
        present = [c.name for c in table.columns if c.name.casefold() in declared]
        if len(present) != len(table.columns):
            continue  # the schema names columns the file lacks: its rows would not line up
        names = ", ".join(_quote(c) for c in present)
        try:
            if rows_per_table:
                rows[table.name] = conn.execute(
                    f"SELECT {names} FROM {_quote(table.name)} LIMIT ?",
                    (rows_per_table,)).fetchall()
            for column in table.columns:
                kind = types.get((table.name, column.name), column.type)
                if kind not in ("text", ""):
                    continue
                _index_column(conn, table.name, column.name, index)
        except sqlite3.Error:
            continue
    return DatabaseContent(types, rows, {k: tuple(v) for k, v in index.items()})


def _index_column(conn: sqlite3.Connection, table: str, column: str,
                  index: dict[str, list[Value]]) -> None:
    col = _quote(column)
    cursor = conn.execute(
        f"SELECT DISTINCT {col} FROM (SELECT {col} FROM {_quote(table)} LIMIT {SCAN_ROWS})"
        f" WHERE typeof({col}) = 'text' AND length({col}) <= {MAX_INDEXED_CHARS}"
        f" LIMIT {MAX_DISTINCT}")
    for (text,) in cursor:
        words = tuple(_words(text))
        keys = {_key(w) for w in words if _indexable(w)}
        if not keys:
            continue
        value = Value(table, column, text, words)
        for key in keys:
            index.setdefault(key, []).append(value)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def show_value(value: object) -> str:
    """A cell as a SQL literal on one line: text quoted (cut past MAX_SHOWN_CHARS), numbers as
    they are, NULL, and bytes as <blob>."""
    if value is None:
        return "NULL"
    if isinstance(value, bytes):
        return "<blob>"
    if isinstance(value, str):
        text = " ".join(value.split())
        if len(text) > MAX_SHOWN_CHARS:
            text = text[:MAX_SHOWN_CHARS] + "…"
        return "'" + text.replace("'", "''") + "'"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return f"{value:.1f}"
    return str(value)
