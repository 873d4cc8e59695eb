"""The rule check in worker processes: the same verdicts as on the engine's thread, batches
that really go to the workers, and a run that goes on (checking inline) when they fail."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import pytest

from fastdistill_tui.core.sql import rule_pool
from fastdistill_tui.core.sql.rule_pool import RuleChecker, rule_outcome, worker_count

SQLS = [
    "SELECT name FROM singer",
    "select  Name from SINGER",  # the same fingerprint as the one above
    "WITH c AS (SELECT a FROM t) SELECT * FROM c",
    "SELECT count(*) FROM t WHERE value > 3",
    "",  # empty_sql
    "SELECT",  # too_short
    "SELECT a FROM t; SELECT b FROM u",  # multiple_statements
    "DELETE FROM singer WHERE 1",  # not_select
    "SELECT a FROM WHERE",  # parse_error
    "SELECT " + "(" * 300 + "1" + ")" * 300,  # sqlglot's RecursionError: internal_error
] * 20


def without_seconds(outcomes):
    return [(o.reason, o.fingerprint, o.detail) for o in outcomes]


async def check_all(checker: RuleChecker, sqls: list[str]):
    return await asyncio.gather(*(checker.check(sql) for sql in sqls))


def worker_pids(checker: RuleChecker) -> list[int]:
    return list(checker._pool._processes)  # noqa: SLF001 - the test kills a worker


def test_workers_give_the_inline_verdicts():
    inline = [rule_outcome(sql) for sql in SQLS]
    assert {o.reason for o in inline} == {None, "empty_sql", "too_short",
                                          "multiple_statements", "not_select", "parse_error",
                                          "internal_error"}
    failures: list[str] = []
    checker = RuleChecker(1, on_failure=failures.append)
    try:
        pooled = asyncio.run(check_all(checker, SQLS))
    finally:
        checker.close()
    assert without_seconds(pooled) == without_seconds(inline)
    assert checker.checked_in_workers == len(SQLS)  # none was checked on this thread
    assert failures == []
    assert all(o.seconds > 0 for o in pooled)


def test_no_workers_checks_inline():
    checker = RuleChecker(0)
    outcomes = asyncio.run(check_all(checker, SQLS[:10]))
    assert without_seconds(outcomes) == without_seconds(rule_outcome(s) for s in SQLS[:10])
    assert checker.checked_in_workers == 0


def test_a_dead_worker_is_said_once_and_the_rest_is_checked_inline():
    failures: list[str] = []
    checker = RuleChecker(1, on_failure=failures.append)

    async def scenario():
        first = await check_all(checker, SQLS[:10])
        for pid in worker_pids(checker):
            os.kill(pid, signal.SIGKILL)
        rest = await check_all(checker, SQLS[10:])
        return first + rest

    try:
        outcomes = asyncio.run(scenario())
    finally:
        checker.close()
    assert without_seconds(outcomes) == without_seconds(rule_outcome(s) for s in SQLS)
    assert len(failures) == 1 and "rule-check workers failed" in failures[0]
    assert checker.checked_in_workers == 10


def test_workers_that_cannot_start_leave_the_checks_inline(monkeypatch):
    def no_processes(*args, **kwargs):
        raise OSError(38, "Function not implemented")  # e.g. no sem_open in a sandbox

    monkeypatch.setattr(rule_pool, "ProcessPoolExecutor", no_processes)
    failures: list[str] = []
    checker = RuleChecker(2, on_failure=failures.append)
    outcomes = asyncio.run(check_all(checker, SQLS[:10]))
    assert without_seconds(outcomes) == without_seconds(rule_outcome(s) for s in SQLS[:10])
    assert len(failures) == 1 and "Function not implemented" in failures[0]


def test_ctrl_c_is_left_to_the_engine():
    """SIGINT reaches the whole foreground process group: the worker must not die of it."""
    failures: list[str] = []
    checker = RuleChecker(1, on_failure=failures.append)

    async def scenario():
        await checker.check("SELECT 1 FROM t")
        for pid in worker_pids(checker):
            os.kill(pid, signal.SIGINT)
        return await check_all(checker, SQLS[:10])

    try:
        asyncio.run(scenario())
    finally:
        checker.close()
    assert failures == []
    assert checker.checked_in_workers == 11


def test_worker_count_leaves_a_core_to_the_loop_and_skips_small_runs():
    assert worker_count(2, 10_000) == 1
    assert worker_count(1, 10_000) == 0
    assert worker_count(None, 10_000) == 0
    assert worker_count(64, 10_000) == 4
    assert worker_count(8, rule_pool.MIN_SAMPLES - 1) == 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PDEATHSIG is Linux's")
def test_no_worker_outlives_a_killed_engine(tmp_path):
    script = (
        "import asyncio, sys\n"
        "from fastdistill_tui.core.sql.rule_pool import RuleChecker\n"
        "checker = RuleChecker(1)\n"
        "asyncio.run(checker.check('SELECT 1 FROM t'))\n"
        "print(*checker._pool._processes, flush=True)\n"
        "import time; time.sleep(600)\n")
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        worker = int(parent.stdout.readline().split()[0])
        os.kill(worker, 0)  # alive while its parent is
    finally:
        parent.kill()
        parent.wait()
    for _ in range(600):  # the kernel's SIGKILL is prompt; allow a very slow machine 60 s
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    pytest.fail(f"worker {worker} outlived its killed parent")
