"""Sandboxed, read-only execution of untrusted SQL against SQLite files (DESIGN §5).

Defence in depth: the file is opened read-only (`mode=ro`) with `query_only` on; an authorizer
allows only reads and harmless functions; `ATTACH` is limited to zero databases; one value may
not exceed MAX_VALUE_BYTES, so runaway `randomblob`/`zeroblob`/`replace` calls fail fast; a
progress handler aborts a query once its deadline passes (and `aexecute` stops waiting for
one that overruns inside a single step); rows are capped by count and bytes.
"""

from __future__ import annotations

import asyncio
import math
import os
import sqlite3
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .clean import split_statements

MAX_VALUE_BYTES = 1 << 20  # the longest string or blob a query may build or return
PROGRESS_STEPS = 1000  # VM instructions between deadline checks
HARD_DEADLINE_GRACE_S = 0.25  # see SqlExecutor.aexecute
_FETCH_BATCH = 32  # small, so the byte cap is checked before much is held in memory

_ALLOWED_ACTIONS = frozenset(
    {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION,
     sqlite3.SQLITE_RECURSIVE})
# Functions that touch the file system or process when a build provides them.
_DENIED_FUNCTIONS = frozenset(
    {"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer", "fts5_tokenizer"})
# Names for the `detail` of a denial (the authorizer passes only a number).
_ACTION_NAMES = {
    getattr(sqlite3, "SQLITE_" + name): name
    for name in ("ALTER_TABLE", "ANALYZE", "ATTACH", "DETACH", "DELETE", "INSERT", "UPDATE",
                 "PRAGMA", "TRANSACTION", "SAVEPOINT", "REINDEX", "CREATE_TABLE",
                 "CREATE_INDEX", "CREATE_VIEW", "CREATE_TRIGGER", "CREATE_VTABLE",
                 "CREATE_TEMP_TABLE", "CREATE_TEMP_INDEX", "CREATE_TEMP_VIEW",
                 "CREATE_TEMP_TRIGGER", "DROP_TABLE", "DROP_INDEX", "DROP_VIEW", "DROP_TRIGGER",
                 "DROP_VTABLE", "DROP_TEMP_TABLE", "DROP_TEMP_INDEX", "DROP_TEMP_VIEW",
                 "DROP_TEMP_TRIGGER")
}


@dataclass(frozen=True)
class ExecResult:
    """Rows of one query, or `error`: a reason code ("empty_sql", "exec_error", "timeout",
    "denied", "multiple_statements") with `detail` for humans."""

    columns: tuple[str, ...]
    rows: list[tuple]
    truncated: bool = False  # more rows (or bytes) than the caps allowed
    error: str | None = None
    detail: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


class _Guard:
    """Per-connection state the SQLite callbacks read: the deadline, and what was denied."""

    def __init__(self) -> None:
        self.deadline = math.inf
        self.denied: list[str] = []

    def authorize(self, action: int, arg1: str | None, arg2: str | None, _db: str | None,
                  _trigger: str | None) -> int:
        if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in _DENIED_FUNCTIONS:
            self.denied.append(f"function {arg2}()")
        elif action not in _ALLOWED_ACTIONS:
            what = " ".join(a for a in (arg1, arg2) if a)
            self.denied.append(f"{_ACTION_NAMES.get(action, action)} {what}".strip())
        else:
            return sqlite3.SQLITE_OK
        return sqlite3.SQLITE_DENY

    def past_deadline(self) -> int:
        return 1 if time.monotonic() > self.deadline else 0


def _decode_text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


def _encodes_as_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _value_bytes(value: object) -> int:
    return len(value) if isinstance(value, (str, bytes)) else 8


class SqlExecutor:
    """Runs one SELECT at a time per thread; `aexecute` keeps the event loop free.

    Connections are cached per (thread, db_path): SQLite connections are cheap to reuse and
    a connection must not run two statements from two threads at once.
    """

    def __init__(self, timeout_s: float = 5.0, row_cap: int = 10_000, workers: int = 2, *,
                 max_result_bytes: int = 16 << 20) -> None:
        self.timeout_s = timeout_s
        self.row_cap = row_cap
        self.max_result_bytes = max_result_bytes
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sql-exec")
        self._local = threading.local()
        self._all_connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False

    def execute(self, db_path: str, sql: str) -> ExecResult:
        started = time.monotonic()
        if self._closed:
            raise RuntimeError("SqlExecutor is closed")
        sql = sql or ""
        if "\x00" in sql:
            return _failure("exec_error", "the SQL contains a NUL byte", started)
        if not sql.isascii() and not _encodes_as_utf8(sql):  # e.g. a lone surrogate from JSON
            return _failure("exec_error", "the SQL is not valid Unicode", started)
        if not split_statements(sql):
            return _failure("empty_sql", "no statement (blank or comments only)", started)
        try:
            conn, guard = self._connection(db_path)
        except sqlite3.Error as exc:
            return _failure("exec_error", f"cannot open {db_path}: {exc}", started)
        guard.deadline = started + self.timeout_s
        guard.denied.clear()
        cursor = conn.cursor()
        try:
            cursor.execute(sql)
            if cursor.description is None:  # e.g. REINDEX on a file without indexes: a no-op
                return _failure("denied", "not a query: the statement returns no result set",
                                started)
            columns = tuple(d[0] for d in cursor.description)
            rows, truncated = self._fetch(cursor)
        except sqlite3.ProgrammingError as exc:
            if "one statement at a time" in str(exc):
                return _failure("multiple_statements", str(exc), started)
            return _failure("exec_error", str(exc), started)
        except sqlite3.Error as exc:
            if guard.denied:
                return _failure("denied", "not allowed: " + "; ".join(guard.denied[:3]), started)
            if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_INTERRUPT:
                return _failure("timeout", f"query ran longer than {self.timeout_s:g} s", started)
            return _failure("exec_error", str(exc), started)
        finally:
            guard.deadline = math.inf
            cursor.close()
        return ExecResult(columns, rows, truncated, seconds=time.monotonic() - started)

    async def aexecute(self, db_path: str, sql: str) -> ExecResult:
        """`execute` on a pool thread, with a hard deadline the progress handler cannot give.

        A single VM step can outlast the deadline (e.g. `instr` over two long strings). Then
        the caller gets "timeout" HARD_DEADLINE_GRACE_S later while the thread finishes the
        step in the background (its result is discarded). Time spent queued is not counted.
        """
        loop = asyncio.get_running_loop()
        started: list[float] = []  # appended by the pool thread when the query begins

        def run() -> ExecResult:
            started.append(time.monotonic())
            return self.execute(db_path, sql)

        job = loop.run_in_executor(self._pool, run)
        limit = self.timeout_s + HARD_DEADLINE_GRACE_S
        while True:
            remaining = started[0] + limit - time.monotonic() if started else limit
            done, _ = await asyncio.wait({job}, timeout=max(remaining, 0.0))
            if done:
                return job.result()
            if started and time.monotonic() >= started[0] + limit:
                return ExecResult((), [], error="timeout", seconds=limit,
                                  detail=f"a single SQLite step ran past {self.timeout_s:g} s")

    def close(self) -> None:
        """Wait for running queries to finish, then close every connection."""
        self._closed = True
        self._pool.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            for conn in self._all_connections:
                conn.close()
            self._all_connections.clear()

    def _fetch(self, cursor: sqlite3.Cursor) -> tuple[list[tuple], bool]:
        rows: list[tuple] = []
        size = 0
        while batch := cursor.fetchmany(_FETCH_BATCH):
            for row in batch:
                size += sum(_value_bytes(v) for v in row)
                if len(rows) >= self.row_cap or size > self.max_result_bytes:
                    return rows, True
                rows.append(row)
        return rows, False

    def _connection(self, db_path: str) -> tuple[sqlite3.Connection, _Guard]:
        cache: dict[str, tuple[sqlite3.Connection, _Guard]] | None = getattr(
            self._local, "connections", None)
        if cache is None:
            cache = self._local.connections = {}
        if db_path not in cache:
            cache[db_path] = self._open(db_path)
        return cache[db_path]

    def _open(self, db_path: str) -> tuple[sqlite3.Connection, _Guard]:
        uri = "file:" + urllib.parse.quote(os.path.abspath(db_path)) + "?mode=ro"
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
        try:
            conn.text_factory = _decode_text  # bad UTF-8 in a database never raises
            conn.execute("PRAGMA query_only = ON")  # before the authorizer denies pragmas
            conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
            conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
            guard = _Guard()
            conn.set_authorizer(guard.authorize)
            conn.set_progress_handler(guard.past_deadline, PROGRESS_STEPS)
        except sqlite3.Error:
            conn.close()
            raise
        with self._lock:
            self._all_connections.append(conn)
        return conn, guard


def _failure(reason: str, detail: str, started: float) -> ExecResult:
    return ExecResult((), [], error=reason, detail=detail, seconds=time.monotonic() - started)
