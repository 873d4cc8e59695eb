"""Sandboxed, read-only execution of untrusted SQL against SQLite files (DESIGN §5).

Defence in depth: the file is opened read-only (`mode=ro`) with `query_only` on and
`trusted_schema` off; an authorizer allows only reads and harmless functions; `ATTACH` is
limited to zero databases.

Time: every query's deadline runs from its submission (time spent queued counts). A watchdog
thread answers "timeout" at the deadline and calls `Connection.interrupt()`; a progress handler
checks the same deadline. SQLite checks both only between steps, so one step can outlast them:
the functions whose single call could run for seconds are replaced or bounded
(guarded_functions.py; LIKE/GLOB patterns are capped), and so that a slow query never holds up
the others, the watchdog adds a thread beside each query running longer than SLOW_QUERY_S while
others wait (at most MAX_EXTRA_THREADS). A query that ends after its deadline is a timeout,
whatever it returned.

Memory: one value may not exceed MAX_VALUE_BYTES, a result MAX_COLUMNS columns, the SQL text
MAX_SQL_BYTES; SQLite's heap is capped at SQLITE_HEAP_LIMIT (process-wide: SQLite has one heap);
text cells are counted as they are decoded and rows one at a time, against the result's byte cap.
"""

from __future__ import annotations

import asyncio
import math
import os
import queue
import sqlite3
import threading
import time
import urllib.parse
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field

from . import guarded_functions, unicode_case
from .clean import split_statements

MAX_VALUE_BYTES = 256 << 10  # the longest string or blob a query may build, read or return
MAX_COLUMNS = 100  # columns in a result (SQLITE_LIMIT_COLUMN)
MAX_SQL_BYTES = 100_000  # length of the SQL text (SQLITE_LIMIT_SQL_LENGTH)
SQLITE_HEAP_LIMIT = 64 << 20  # PRAGMA hard_heap_limit: all SQLite memory of the process
PROGRESS_STEPS = 1000  # VM instructions between deadline checks
SLOW_QUERY_S = 0.25  # a query running this long gets a thread added beside it
MAX_EXTRA_THREADS = 8  # threads beyond `workers`, at most
MAX_CONNECTIONS = 64  # open connections a thread keeps (test-suite copies add databases)

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
    nbytes: int = 0  # text and blob bytes of the rows (+8 a number), for the gold cache

    @property
    def ok(self) -> bool:
        return self.error is None


class _ResultTooBig(Exception):
    """Raised from the text factory when a result's text passes the byte cap."""


class _Guard:
    """Per-connection state the SQLite callbacks read: the deadline, what was denied, and the
    text bytes decoded so far."""

    def __init__(self, text_budget: int) -> None:
        self.deadline = math.inf
        self.denied: list[str] = []
        self.text_bytes = 0
        self.text_budget = text_budget

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

    def decode_text(self, raw: bytes) -> str:
        """The text factory: bad UTF-8 never raises; text past the byte cap stops the fetch."""
        self.text_bytes += len(raw)
        if self.text_bytes > self.text_budget:
            raise _ResultTooBig
        return raw.decode("utf-8", errors="replace")


@dataclass(eq=False)
class _Job:
    db_path: str
    sql: str
    deadline: float
    future: Future = field(default_factory=Future)
    conn: sqlite3.Connection | None = None  # set while a worker runs it
    started: float = math.inf  # when a worker took it
    slow: bool = False  # counted as slow: a thread was added beside it


def _encodes_as_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _value_bytes(value: object) -> int:
    return len(value) if isinstance(value, (str, bytes)) else 8


class SqlExecutor:
    """Runs each SELECT on one of `workers` threads (more while queries are slow);
    `aexecute` keeps the event loop free.

    Connections are cached per (thread, db_path): SQLite connections are cheap to reuse and
    a connection must not run two statements from two threads at once. A thread keeps at most
    MAX_CONNECTIONS open, closing the least recently used first.
    """

    def __init__(self, timeout_s: float = 5.0, row_cap: int = 10_000, workers: int = 2, *,
                 max_result_bytes: int = 16 << 20) -> None:
        self.timeout_s = timeout_s
        self.row_cap = row_cap
        self.max_result_bytes = max_result_bytes
        self.workers = workers
        self.connections_opened = 0
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._cond = threading.Condition(threading.Lock())
        self._pending: deque[_Job] = deque()  # submission order = deadline order
        self._running: set[_Job] = set()
        self._slow = 0  # running jobs counted as slow
        self._threads: list[threading.Thread] = []
        self._idle = 0  # threads waiting for a job
        self._closed = False
        with self._cond:
            for _ in range(workers):
                self._start_thread()
        self._watchdog = threading.Thread(target=self._watch, name="sql-watchdog", daemon=True)
        self._watchdog.start()

    def execute(self, db_path: str, sql: str) -> ExecResult:
        """Blocks until the result, or the deadline."""
        early = self._precheck(sql)
        return early if early is not None else self._submit(db_path, sql).result()

    async def aexecute(self, db_path: str, sql: str) -> ExecResult:
        early = self._precheck(sql)
        if early is not None:
            return early
        return await asyncio.wrap_future(self._submit(db_path, sql))

    @property
    def threads(self) -> int:
        """Execution threads now alive (`workers`, plus those added beside slow queries)."""
        with self._cond:
            return len(self._threads)

    def close(self) -> None:
        """Wait for running queries (steps past their deadline included) to finish, then close
        every connection."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            threads = list(self._threads)
        for _ in threads:
            self._jobs.put(None)
        for thread in threads:
            thread.join()
        self._watchdog.join()

    # -- submission and the watchdog -------------------------------------------------------
    def _precheck(self, sql: str) -> ExecResult | None:
        if self._closed:
            raise RuntimeError("SqlExecutor is closed")
        sql = sql or ""
        if "\x00" in sql:
            return _failure("exec_error", "the SQL contains a NUL byte")
        if not sql.isascii() and not _encodes_as_utf8(sql):  # e.g. a lone surrogate from JSON
            return _failure("exec_error", "the SQL is not valid Unicode")
        if not split_statements(sql):
            return _failure("empty_sql", "no statement (blank or comments only)")
        return None

    def _submit(self, db_path: str, sql: str) -> Future:
        job = _Job(db_path, sql, time.monotonic() + self.timeout_s)
        with self._cond:
            if not self._pending:
                self._cond.notify()  # the watchdog sleeps while nothing is pending
            self._pending.append(job)
        self._jobs.put(job)
        return job.future

    def _watch(self) -> None:
        """Sleeps until the next deadline, or until a running query turns slow; answers
        "timeout" at a deadline (and interrupts the query), adds a thread beside a slow one."""
        with self._cond:
            while True:
                while self._pending and self._pending[0].future.done():
                    self._pending.popleft()
                if not self._pending:
                    if self._closed:
                        return
                    self._cond.wait()
                    continue
                now = time.monotonic()
                head = self._pending[0]
                if head.deadline <= now:
                    self._pending.popleft()
                    _resolve(head, _timeout(self.timeout_s))
                    if head.conn is not None:
                        head.conn.interrupt()
                    continue
                # A job that starts later does not wake us: look again within SLOW_QUERY_S.
                wake = min(head.deadline, now + SLOW_QUERY_S)
                for job in self._running:
                    if not job.slow and job.started + SLOW_QUERY_S <= now:
                        job.slow = True
                        self._slow += 1
                while (self._idle == 0 and not self._closed
                       and len(self._threads) < self.workers + min(self._slow,
                                                                   MAX_EXTRA_THREADS)):
                    self._start_thread()
                self._cond.wait(wake - now)

    def _start_thread(self) -> None:
        """Called with the lock held; the thread counts as idle until it takes a job."""
        thread = threading.Thread(target=self._work, name="sql-exec", daemon=True)
        self._threads.append(thread)
        self._idle += 1
        thread.start()

    # -- worker threads --------------------------------------------------------------------
    def _work(self) -> None:
        connections: dict[str, tuple[sqlite3.Connection, _Guard]] = {}
        try:
            while True:
                job = self._jobs.get()
                with self._cond:
                    self._idle -= 1
                if job is None:
                    return
                if job.future.done():  # answered "timeout" while it waited
                    with self._cond:
                        self._idle += 1
                    continue
                _resolve(job, self._run(job, connections))
                with self._cond:
                    if len(self._threads) > self.workers + min(self._slow, MAX_EXTRA_THREADS):
                        self._threads.remove(threading.current_thread())
                        return  # the slow query that called for this thread has ended
                    self._idle += 1
        finally:
            for conn, _guard in connections.values():
                conn.close()

    def _run(self, job: _Job, connections: dict[str, tuple[sqlite3.Connection, _Guard]]
             ) -> ExecResult:
        started = time.monotonic()
        if job.db_path not in connections:
            try:
                connections[job.db_path] = self._open(job.db_path)
            except sqlite3.Error as exc:
                return _failure("exec_error", f"cannot open {job.db_path}: {exc}", started)
            if len(connections) > MAX_CONNECTIONS:  # the least recently used one goes
                connections.pop(next(iter(connections)))[0].close()
        connections[job.db_path] = connections.pop(job.db_path)  # now the most recent
        conn, guard = connections[job.db_path]
        guard.deadline = job.deadline
        guard.denied.clear()
        guard.text_bytes = 0
        with self._cond:
            if job.future.done():  # the deadline passed while the connection opened
                return _timeout(self.timeout_s)
            job.conn, job.started = conn, time.monotonic()
            self._running.add(job)
        try:
            result = self._query(conn, guard, job.sql, started)
        finally:
            with self._cond:
                job.conn = None
                self._running.discard(job)
                if job.slow:
                    self._slow -= 1
            guard.deadline = math.inf
        if time.monotonic() > job.deadline:
            return _timeout(self.timeout_s)
        return result

    def _query(self, conn: sqlite3.Connection, guard: _Guard, sql: str,
               started: float) -> ExecResult:
        cursor = conn.cursor()
        try:
            cursor.execute(sql)
            if cursor.description is None:  # e.g. REINDEX on a file without indexes: a no-op
                return _failure("denied", "not a query: the statement returns no result set",
                                started)
            columns = tuple(d[0] for d in cursor.description)
            rows, truncated, nbytes = self._fetch(cursor)
        except _ResultTooBig:
            return _failure("exec_error", "a single row is larger than the result byte cap "
                            f"({self.max_result_bytes} bytes)", started)
        except MemoryError:  # SQLITE_NOMEM: the heap limit
            return _failure("exec_error", "the query needs more memory than the sandbox allows "
                            f"({SQLITE_HEAP_LIMIT >> 20} MB)", started)
        except sqlite3.ProgrammingError as exc:
            if "one statement at a time" in str(exc):
                return _failure("multiple_statements", str(exc), started)
            return _failure("exec_error", str(exc), started)
        except sqlite3.Error as exc:
            if guard.denied:
                return _failure("denied", "not allowed: " + "; ".join(guard.denied[:3]), started)
            if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_INTERRUPT:
                return _timeout(self.timeout_s)
            if str(exc) == "user-defined function raised exception":  # guarded_functions
                return _failure("exec_error", f"{exc}: an argument over the sandbox's limits "
                                "(printf width or precision, replace result, LIKE pattern)",
                                started)
            return _failure("exec_error", str(exc), started)
        finally:
            cursor.close()
        return ExecResult(columns, rows, truncated, seconds=time.monotonic() - started,
                          nbytes=nbytes)

    def _fetch(self, cursor: sqlite3.Cursor) -> tuple[list[tuple], bool, int]:
        """One row at a time, so a few huge rows never sit in memory together."""
        rows: list[tuple] = []
        size = 0
        try:
            for row in cursor:
                row_bytes = sum(_value_bytes(v) for v in row)
                if len(rows) >= self.row_cap or size + row_bytes > self.max_result_bytes:
                    return rows, True, size
                size += row_bytes
                rows.append(row)
        except _ResultTooBig:
            if not rows:
                raise
            return rows, True, size
        return rows, False, size

    def _open(self, db_path: str) -> tuple[sqlite3.Connection, _Guard]:
        uri = "file:" + urllib.parse.quote(os.path.abspath(db_path)) + "?mode=ro"
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
        try:
            guard = _Guard(self.max_result_bytes)
            conn.text_factory = guard.decode_text
            # Pragmas before the authorizer denies them.
            conn.execute("PRAGMA query_only = ON")
            conn.execute("PRAGMA trusted_schema = OFF")
            conn.execute(f"PRAGMA hard_heap_limit = {SQLITE_HEAP_LIMIT}")  # lowers, never raises
            guarded_functions.install(conn, MAX_VALUE_BYTES)
            unicode_case.install(conn)
            conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
            conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
            conn.setlimit(sqlite3.SQLITE_LIMIT_COLUMN, MAX_COLUMNS)
            conn.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, MAX_SQL_BYTES)
            conn.setlimit(sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH, unicode_case.MAX_LIKE_PATTERN)
            conn.set_authorizer(guard.authorize)
            conn.set_progress_handler(guard.past_deadline, PROGRESS_STEPS)
        except sqlite3.Error:
            conn.close()
            raise
        with self._cond:
            self.connections_opened += 1
        return conn, guard


def _resolve(job: _Job, result: ExecResult) -> None:
    """The first answer wins: the watchdog's "timeout" or the worker's result."""
    try:
        job.future.set_result(result)
    except Exception:  # concurrent.futures.InvalidStateError: already answered
        pass


def _timeout(timeout_s: float) -> ExecResult:
    return ExecResult((), [], error="timeout", seconds=timeout_s,
                      detail=f"no result within {timeout_s:g} s of submission")


def _failure(reason: str, detail: str, started: float | None = None) -> ExecResult:
    seconds = time.monotonic() - started if started is not None else 0.0
    return ExecResult((), [], error=reason, detail=detail, seconds=seconds)
