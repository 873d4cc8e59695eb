"""The SQL sandbox against a hostile corpus, on real SQLite files.

Every case must end within its timeout plus a generous margin (the bound holds on a loaded
machine: it catches a query that ignores its deadline, not a slow one), leave every database
file byte-identical, create no file, and return the reason code (or the harmless result) decided
for it here. The whole corpus also runs in a child process that must stay within +200 MB of RSS.
"""

import asyncio
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fastdistill_tui.core.sql import execute
from fastdistill_tui.core.sql.execute import ExecResult, SqlExecutor

TIMEOUT_S = 1.0
MARGIN_S = 3.0  # past the timeout: far above scheduling noise, far below a missed deadline
RSS_BOUND_MB = 200


def build_database(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE singer (singer_id INTEGER PRIMARY KEY, name TEXT, country TEXT, age INT);
        CREATE INDEX singer_age ON singer (age);
        INSERT INTO singer VALUES (1, 'Joe Sharp', 'Netherlands', 52),
                                  (2, 'Timbaland', 'United States', 32),
                                  (3, 'Justin Brown', 'France', 29),
                                  (4, 'Rose White', 'France', 41);
        CREATE TABLE numbers (n INTEGER);
        WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000)
        INSERT INTO numbers SELECT x FROM c;
        CREATE TABLE raw_text (t TEXT);
    """)
    # Invalid UTF-8 stored as TEXT: decoding must not raise.
    conn.execute("INSERT INTO raw_text VALUES (CAST(X'41FF42' AS TEXT))")
    conn.commit()
    conn.close()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(directory: Path) -> dict[str, str]:
    return {p.name: sha256(p) for p in sorted(directory.iterdir())}


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    directory = tmp_path_factory.mktemp("dbs")
    db = directory / "music.sqlite"
    build_database(db)
    executor = SqlExecutor(timeout_s=TIMEOUT_S, row_cap=10_000, workers=2)
    yield executor, db, directory
    executor.close()


def rows_are(expected):
    def check(result: ExecResult) -> bool:
        return result.ok and not result.truncated and result.rows == expected
    return check


def in_time(result: ExecResult) -> bool:
    """A result, not a timeout, must come from a query that ended within its timeout."""
    return result.seconds <= TIMEOUT_S


def truncated_result(result: ExecResult) -> bool:
    return result.ok and result.truncated and len(result.rows) > 0


def capped_or_timed_out(result: ExecResult) -> bool:
    """An endless query is bounded either way: by the row cap, or, on a machine too busy to
    fetch the capped rows within the timeout, by the timeout."""
    return truncated_result(result) or result.error == "timeout"


NEW_FILE = "{dir}/created_by_attack.sqlite"
# From the issue: ~10 s inside one step with 1 MB values (quadratic `instr`).
INSTR_BOMB = ("WITH s(a,b) AS (SELECT hex(zeroblob({a})), hex(zeroblob({b}))||'1') "
              "SELECT " + "+".join(["instr(a,b)"] * 8) + " FROM s")


def like_bomb(calls: int, op: str = "LIKE") -> str:
    """`calls` LIKE (or GLOB) calls with a pattern at the length cap over a 240 KB value, all
    in one VM step: ~60 ms a call here (distinct calls: SQLite computes a repeated constant
    expression once)."""
    wild = "%" if op == "LIKE" else "*"
    return (f"WITH s(a, p) AS (SELECT hex(zeroblob(120000)), '{wild}' || hex(zeroblob(98)) "
            f"|| '1{wild}') SELECT " + " + ".join(f"(substr(a, {i}) {op} p)"
                                                   for i in range(1, calls + 1)) + " FROM s")


def _wide(n: int, size: int) -> str:
    return "SELECT " + ", ".join(f"hex(zeroblob({size + i}))" for i in range(n))

CASES = [
    # (id, sql, expected reason code, or a predicate on the ExecResult for harmless SQL)
    ("drop_table", "DROP TABLE singer", "denied"),
    ("delete", "DELETE FROM singer", "denied"),
    ("update", "UPDATE singer SET age = 0", "denied"),
    ("insert", "INSERT INTO singer VALUES (9, 'x', 'y', 1)", "denied"),
    ("replace", "REPLACE INTO singer VALUES (1, 'x', 'y', 1)", "denied"),
    ("create_table", "CREATE TABLE evil (a)", "denied"),
    ("create_temp_table", "CREATE TEMP TABLE evil (a)", "denied"),
    ("create_view", "CREATE VIEW v AS SELECT 1", "denied"),
    ("create_index", "CREATE INDEX idx ON singer (age)", "denied"),
    ("create_trigger",
     "CREATE TRIGGER tr AFTER INSERT ON singer BEGIN DELETE FROM singer; END", "denied"),
    ("alter_add_column", "ALTER TABLE singer ADD COLUMN x INT", "denied"),
    ("alter_rename", "ALTER TABLE singer RENAME TO s2", "denied"),
    ("attach_new_file", f"ATTACH DATABASE '{NEW_FILE}' AS evil", "denied"),
    ("attach_memory", "ATTACH DATABASE ':memory:' AS mem", "denied"),
    ("detach", "DETACH DATABASE main", "denied"),
    ("pragma_journal_mode", "PRAGMA journal_mode = WAL", "denied"),
    ("pragma_writable_schema", "PRAGMA writable_schema = ON", "denied"),
    ("pragma_user_version", "PRAGMA user_version = 42", "denied"),
    ("pragma_query_only_off", "PRAGMA query_only = OFF", "denied"),
    ("pragma_read", "PRAGMA table_info(singer)", "denied"),
    ("pragma_table_function", "SELECT * FROM pragma_table_info('singer')", "denied"),
    ("vacuum", "VACUUM", "denied"),
    ("vacuum_into_new_file", f"VACUUM INTO '{NEW_FILE}'", "denied"),
    ("load_extension", "SELECT load_extension('/tmp/evil.so')", "denied"),
    ("begin", "BEGIN IMMEDIATE", "denied"),
    ("commit", "COMMIT", "denied"),
    ("savepoint", "SAVEPOINT s1", "denied"),
    ("analyze", "ANALYZE", "denied"),
    ("reindex", "REINDEX", "denied"),
    ("cte_wrapping_delete", "WITH c AS (SELECT 1) DELETE FROM singer", "denied"),
    ("drop_then_select", "DROP TABLE singer; SELECT 1", "denied"),
    ("select_then_drop", "SELECT * FROM singer; DROP TABLE singer", "multiple_statements"),
    ("two_selects", "SELECT 1; SELECT 2", "multiple_statements"),
    ("nul_byte", "SELECT 1\x00; DROP TABLE singer", "exec_error"),
    ("nul_in_literal", "SELECT 'a\x00b'", "exec_error"),
    ("lone_surrogate", "SELECT '\ud800'", "exec_error"),
    ("empty", "", "empty_sql"),
    ("comments_only", "-- nothing here\n/* at all */", "empty_sql"),
    ("unknown_function", "SELECT readfile('/etc/passwd')", "exec_error"),
    ("recursive_cte_forever",
     "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
     "timeout"),
    ("cartesian_count",
     "SELECT count(*) FROM numbers a, numbers b, numbers c, numbers d", "timeout"),
    ("cartesian_sorted",
     "SELECT a.n, b.n FROM numbers a, numbers b, numbers c, numbers d ORDER BY random()",
     "timeout"),
    ("slow_like_join",
     "SELECT count(*) FROM numbers a, numbers b, numbers c WHERE a.n || b.n LIKE '%' || c.n",
     "timeout"),
    ("randomblob_1e9", "SELECT randomblob(1e9)", "exec_error"),
    ("zeroblob_1e9", "SELECT zeroblob(1e9)", "exec_error"),
    ("replace_hex_zeroblob", "SELECT replace(hex(zeroblob(1e8)), '0', 'xx')", "exec_error"),
    ("doubling_string",
     "WITH RECURSIVE c(s) AS (SELECT 'x' UNION ALL SELECT s || s FROM c) SELECT length(s) FROM c",
     "exec_error"),
    # The concatenation stops growing at the value limit, but the million rows run on.
    ("group_concat_explosion",
     "SELECT group_concat(hex(randomblob(1000))) FROM numbers a, numbers b", "timeout"),
    ("deep_parentheses", "SELECT " + "(" * 5000 + "1" + ")" * 5000, "exec_error"),
    # Time inside one VM step, where neither the deadline check nor an interrupt reaches.
    ("instr_issue_query", INSTR_BOMB.format(a=500000, b=100000), "exec_error"),  # value cap
    ("instr_in_one_step", INSTR_BOMB.format(a=120000, b=60000), rows_are([(0,)])),  # linear
    ("replace_in_one_step",
     "SELECT length(replace(hex(zeroblob(120000)), hex(zeroblob(60000)) || '1', 'x'))",
     rows_are([(240000,)])),
    ("printf_width", "SELECT printf('%.*c', 150000000, 'x')", "exec_error"),
    ("printf_literal_width", "SELECT printf('%.999999999c', 'x')", "exec_error"),
    ("like_pattern_too_long",
     "SELECT count(*) FROM singer WHERE name LIKE '%' || hex(zeroblob(200)) || '%'",
     "exec_error"),
    ("glob_pattern_too_long",
     "SELECT count(*) FROM singer WHERE name GLOB '*' || hex(zeroblob(200)) || '*'",
     "exec_error"),
    # ~1.5 s of LIKE calls in one step here: a timeout, or the result on a much faster machine.
    ("like_calls_in_one_step", like_bomb(24),
     lambda r: r.error == "timeout" or (r.rows == [(0,)] and in_time(r))),
    # Memory: wide rows of big values, values kept in registers, big sorts and queues.
    ("wide_hex_columns_100", _wide(100, 500000), "exec_error"),
    ("wide_hex_columns_300", _wide(300, 500000), "exec_error"),
    ("wide_hex_columns_under_value_cap", _wide(99, 120000), "exec_error"),
    ("wide_blob_columns", "SELECT " + ", ".join(f"zeroblob({250000 + i})" for i in range(90)),
     lambda r: r.ok and r.truncated and r.rows == []),
    ("wide_blob_rows", "SELECT " + ", ".join(f"zeroblob({20000 + i})" for i in range(90))
     + " FROM numbers", truncated_result),
    ("constants_in_registers",
     "SELECT " + ", ".join("max(" + ", ".join(f"hex(zeroblob({120000 + 100 * i + j}))"
                                              for j in range(20)) + ")" for i in range(40)),
     "exec_error"),
    ("sort_big_rows", "SELECT hex(zeroblob(120000)) || n FROM numbers ORDER BY random()",
     lambda r: r.error == "timeout" or (truncated_result(r) and in_time(r))),
    ("recursive_queue_big_rows",
     "WITH RECURSIVE c(x, s) AS (SELECT 1, hex(zeroblob(120000)) UNION ALL "
     "SELECT x + 1, s || '' FROM c) SELECT count(*) FROM c", "timeout"),
    ("group_concat_big", "SELECT group_concat(hex(zeroblob(1000))) FROM numbers a, numbers b",
     "exec_error"),
    ("long_sql", "SELECT " + " + ".join(["1"] * 60000), "exec_error"),
    # Harmless or merely large: a real result, capped where needed.
    ("big_strings_byte_cap", "SELECT hex(zeroblob(100000)) FROM numbers", truncated_result),
    ("recursive_cte_rows_capped",
     "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c",
     capped_or_timed_out),
    ("million_row_count", "SELECT count(*) FROM numbers a, numbers b", rows_are([(1_000_000,)])),
    ("ordinary_select", "SELECT name FROM singer WHERE country = 'France' ORDER BY age",
     rows_are([("Justin Brown",), ("Rose White",)])),
    ("read_schema", "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
     rows_are([("numbers",), ("raw_text",), ("singer",)])),
    ("trailing_comment", "SELECT count(*) FROM singer; -- done", rows_are([(4,)])),
    ("bad_utf8_text", "SELECT t FROM raw_text", rows_are([("A\ufffdB",)])),
    ("string_with_drop", "SELECT 'x; DROP TABLE singer'", rows_are([("x; DROP TABLE singer",)])),
]


@pytest.mark.parametrize("sql, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hostile_corpus(sandbox, sql, expected):
    executor, db, directory = sandbox
    before = snapshot(directory)
    started = time.monotonic()
    result = executor.execute(str(db), sql.replace("{dir}", str(directory)))
    elapsed = time.monotonic() - started
    assert elapsed < TIMEOUT_S + MARGIN_S, f"took {elapsed:.2f} s"
    assert snapshot(directory) == before  # no byte changed, no file (journal, attach) created
    if isinstance(expected, str):
        assert result.error == expected, (result.error, result.detail)
        assert result.rows == [] and result.detail
    else:
        assert expected(result), result.error or result.rows[:3]


def test_corpus_is_large_enough():
    assert len(CASES) >= 30


def test_row_cap_marks_truncation(tmp_path):
    db = tmp_path / "m.sqlite"
    build_database(db)
    executor = SqlExecutor(timeout_s=TIMEOUT_S, row_cap=1000)
    try:
        exact = executor.execute(str(db), "SELECT n FROM numbers")
        over = executor.execute(str(db), "SELECT n FROM numbers UNION ALL SELECT 0")
    finally:
        executor.close()
    assert exact.ok and not exact.truncated and len(exact.rows) == 1000
    assert over.ok and over.truncated and len(over.rows) == 1000


def test_result_byte_cap(tmp_path):
    db = tmp_path / "m.sqlite"
    build_database(db)
    executor = SqlExecutor(timeout_s=TIMEOUT_S, max_result_bytes=10_000)
    try:
        result = executor.execute(str(db), "SELECT printf('%0100d', n) FROM numbers")
    finally:
        executor.close()
    assert result.ok and result.truncated
    assert sum(len(r[0]) for r in result.rows) <= 10_000 < sum(len(r[0]) for r in result.rows) + 100


def test_awkward_paths_open_read_only(tmp_path):
    directory = tmp_path / "a dir #1 ?x=y& ümlaut"
    directory.mkdir()
    db = directory / "dätä base#?.sqlite"
    build_database(db)
    before = snapshot(directory)
    executor = SqlExecutor(timeout_s=TIMEOUT_S)
    try:
        result = executor.execute(str(db), "SELECT count(*) FROM singer")
        denied = executor.execute(str(db), "DELETE FROM singer")
    finally:
        executor.close()
    assert result.rows == [(4,)]
    assert denied.error == "denied"
    assert snapshot(directory) == before


def test_missing_database_is_an_error_and_is_not_created(tmp_path):
    executor = SqlExecutor(timeout_s=TIMEOUT_S)
    try:
        result = executor.execute(str(tmp_path / "absent.sqlite"), "SELECT 1")
    finally:
        executor.close()
    assert result.error == "exec_error"
    assert list(tmp_path.iterdir()) == []


async def test_one_connection_per_thread_and_database(tmp_path):
    first, second = tmp_path / "a.sqlite", tmp_path / "b.sqlite"
    build_database(first)
    build_database(second)
    executor = SqlExecutor(timeout_s=TIMEOUT_S, workers=2)
    try:
        for _ in range(10):
            assert executor.execute(str(first), "SELECT 1").ok
        results = await asyncio.gather(*(executor.aexecute(str(db), "SELECT count(*) FROM singer")
                                         for db in [first, second] * 20))
        # each of the 2 threads: at most 2 (one per file)
        assert 1 < executor.connections_opened <= 4
    finally:
        executor.close()
    assert all(r.rows == [(4,)] for r in results)
    with pytest.raises(RuntimeError):
        executor.execute(str(first), "SELECT 1")


async def test_aexecute_keeps_the_event_loop_free(tmp_path):
    db = tmp_path / "m.sqlite"
    build_database(db)
    executor = SqlExecutor(timeout_s=TIMEOUT_S)
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    tick_task = asyncio.create_task(ticker())
    try:
        slow = await executor.aexecute(
            str(db), "SELECT count(*) FROM numbers a, numbers b, numbers c, numbers d")
    finally:
        tick_task.cancel()
        executor.close()
    assert slow.error == "timeout"
    assert ticks > 30  # ~100 expected in 1 s; a blocked loop gives ~0


async def test_single_step_overruns_get_a_hard_deadline(tmp_path):
    """Some expressions do all their work inside one VM step, where neither the progress handler
    nor an interrupt can stop them; the caller still gets "timeout" at the deadline (the thread
    finishes the step in the background). 0.1 s is far below what these steps take on any
    machine (~1 s here), and a result that comes after the deadline is a timeout anyway."""
    db = tmp_path / "m.sqlite"
    build_database(db)
    before = snapshot(tmp_path)
    timeout_s = 0.1
    executor = SqlExecutor(timeout_s=timeout_s, workers=2)
    bombs = [like_bomb(16), like_bomb(16, "GLOB")]

    async def timed(sql):
        started = time.monotonic()
        result = await executor.aexecute(str(db), sql)
        return result, time.monotonic() - started

    try:
        outcomes = await asyncio.gather(*(timed(sql) for sql in bombs))
    finally:
        executor.close()  # waits for the background steps to finish
    for result, elapsed in outcomes:
        assert result.error == "timeout", result
        assert elapsed < timeout_s + MARGIN_S
    assert snapshot(tmp_path) == before


def test_a_query_that_ends_after_its_deadline_is_a_timeout(tmp_path):
    """Whatever it returned: here a query whose deadline passed before it ran."""
    db = tmp_path / "m.sqlite"
    build_database(db)
    executor = SqlExecutor(timeout_s=TIMEOUT_S)
    try:
        late = execute._Job(str(db), "SELECT 1", deadline=time.monotonic() - 0.001)
        result = executor._run(late, {})
    finally:
        executor.close()
    assert result.error == "timeout" and result.rows == []


async def test_slow_queries_do_not_starve_others(tmp_path):
    """Two steps that outlast the slow-query threshold hold both threads; an unrelated query
    submitted after them still gets its result within its timeout (a thread is added beside each
    slow query) instead of waiting for their steps to end (~1.5 s here, longer under load)."""
    db = tmp_path / "m.sqlite"
    build_database(db)
    executor = SqlExecutor(timeout_s=3.0, workers=2)
    slow = like_bomb(24)
    try:
        stuck = [asyncio.ensure_future(executor.aexecute(str(db), slow)) for _ in range(2)]
        await asyncio.sleep(0.05)  # both are running
        quick = await executor.aexecute(str(db), "SELECT 1")
        grown = executor.threads
        stuck_results = await asyncio.gather(*stuck)
    finally:
        executor.close()
    assert quick.ok and quick.rows == [(1,)], quick
    assert grown > 2
    assert all(r.error == "timeout" or r.rows == [(0,)] for r in stuck_results)


def test_dataset_databases_open_with_trusted_schema_off(tmp_path):
    db = tmp_path / "m.sqlite"
    build_database(db)
    executor = SqlExecutor(timeout_s=TIMEOUT_S)
    try:
        conn, _guard = executor._open(str(db))
        conn.set_authorizer(None)
        assert conn.execute("PRAGMA trusted_schema").fetchone() == (0,)
        assert conn.execute("PRAGMA hard_heap_limit").fetchone()[0] <= execute.SQLITE_HEAP_LIMIT
        conn.close()
    finally:
        executor.close()


RSS_CHILD = """
import json, resource, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, {tests!r})
import test_sql_sandbox as t
from fastdistill_tui.core.sql.execute import SqlExecutor

directory = Path(tempfile.mkdtemp())
db = directory / "m.sqlite"
t.build_database(db)


def peak_mb():
    try:  # this process's own peak (ru_maxrss on Linux carries the parent's over exec)
        with open("/proc/self/status") as status:
            return next(int(l.split()[1]) for l in status if l.startswith("VmHWM")) / 1024
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # macOS: bytes


executor = SqlExecutor(timeout_s=t.TIMEOUT_S, workers=2)
executor.execute(str(db), "SELECT count(*) FROM singer")
baseline = peak_mb()
worst = 0.0
for name, sql, _expected in t.CASES:
    started = time.monotonic()
    executor.execute(str(db), sql.replace("{{dir}}", str(directory)))
    worst = max(worst, time.monotonic() - started)
futures = [executor._submit(str(db), sql.replace("{{dir}}", str(directory)))
           for _name, sql, _expected in t.CASES if executor._precheck(sql) is None]
for future in futures:
    future.result()
executor.close()
print(json.dumps({{"worst_s": worst, "baseline_mb": baseline, "peak_mb": peak_mb()}}))
"""


def test_hostile_corpus_stays_within_the_memory_bound():
    """Every case one after another, then all at once, in a fresh process: its peak RSS may
    pass the level before the corpus by at most RSS_BOUND_MB."""
    code = RSS_CHILD.format(tests=str(Path(__file__).parent))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=600, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    print(figures)
    assert figures["worst_s"] < TIMEOUT_S + MARGIN_S
    assert figures["peak_mb"] - figures["baseline_mb"] < RSS_BOUND_MB, figures


def test_a_thread_keeps_a_bounded_number_of_connections(tmp_path, monkeypatch):
    """Test-suite copies add a database file per query family: each execution thread closes its
    least recently used connection beyond MAX_CONNECTIONS (open files stay bounded)."""
    from fastdistill_tui.core.sql import execute

    monkeypatch.setattr(execute, "MAX_CONNECTIONS", 3)
    paths = []
    for i in range(8):
        path = tmp_path / f"db{i}.sqlite"
        with sqlite3.connect(path) as conn:
            conn.execute(f"CREATE TABLE t AS SELECT {i} AS v")
        conn.close()
        paths.append(str(path))

    def open_files() -> int:
        fd_dir = Path("/proc/self/fd")
        return sum(1 for fd in fd_dir.iterdir()
                   if os.path.realpath(fd).startswith(str(tmp_path)))

    executor = SqlExecutor(timeout_s=TIMEOUT_S, workers=1)
    try:
        for i, path in enumerate(paths):
            assert executor.execute(path, "SELECT v FROM t").rows == [(i,)]
        assert open_files() <= 3
        assert executor.execute(paths[0], "SELECT v FROM t").rows == [(0,)]  # opened again
    finally:
        executor.close()
