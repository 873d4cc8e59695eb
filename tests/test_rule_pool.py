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


def inline(sqls):
    return without_seconds(rule_outcome(sql) for sql in sqls)


def check_with(workers: int, sqls: list[str], between=None) -> tuple[RuleChecker, list, list]:
    """Start a checker, check `sqls` (calling `between(checker)` halfway), close it; the
    checker, the outcomes and the failure messages."""
    failures: list[str] = []
    checker = RuleChecker(workers, on_failure=failures.append)

    async def scenario():
        await checker.start()
        try:
            half = len(sqls) // 2
            first = await asyncio.gather(*(checker.check(sql) for sql in sqls[:half]))
            if between is not None:
                between(checker)
            rest = await asyncio.gather(*(checker.check(sql) for sql in sqls[half:]))
            return first + rest
        finally:
            await checker.aclose()

    return checker, asyncio.run(scenario()), failures


def worker_pids(checker: RuleChecker) -> list[int]:
    return [w.process.pid for w in checker._children]  # noqa: SLF001 - the test kills one


def test_workers_give_the_inline_verdicts():
    assert {o.reason for o in map(rule_outcome, SQLS)} == {
        None, "empty_sql", "too_short", "multiple_statements", "not_select", "parse_error",
        "internal_error"}
    checker, outcomes, failures = check_with(2, SQLS)
    assert without_seconds(outcomes) == inline(SQLS)
    assert checker.checked_in_workers == len(SQLS)  # none was checked on this thread
    assert failures == []
    assert all(o.seconds > 0 for o in outcomes)


def test_text_that_is_not_valid_unicode_crosses_the_pipe_unchanged():
    sqls = ["SELECT 'caf\u00e9 \U0001f600' FROM t", "SELECT '\ud800' FROM t",
            "SELECT \"名前\" FROM 表"]
    checker, outcomes, failures = check_with(1, sqls)
    assert without_seconds(outcomes) == inline(sqls)
    assert checker.checked_in_workers == 3 and failures == []


def test_no_workers_checks_inline():
    checker, outcomes, failures = check_with(0, SQLS[:10])
    assert without_seconds(outcomes) == inline(SQLS[:10])
    assert checker.checked_in_workers == 0 and failures == []


def test_a_dead_worker_is_said_once_and_the_rest_is_checked_inline():
    def kill(checker):
        for pid in worker_pids(checker):
            os.kill(pid, signal.SIGKILL)

    checker, outcomes, failures = check_with(1, SQLS, between=kill)
    assert without_seconds(outcomes) == inline(SQLS)
    assert len(failures) == 1 and "rule-check workers failed" in failures[0], failures
    assert checker.checked_in_workers == len(SQLS) // 2


def test_a_worker_that_cannot_start_says_why_and_the_checks_run_inline(monkeypatch):
    monkeypatch.setattr(RuleChecker, "worker_module", "fastdistill_tui.core.sql.no_such_module")
    checker, outcomes, failures = check_with(1, SQLS[:10])
    assert without_seconds(outcomes) == inline(SQLS[:10])
    assert len(failures) == 1 and "No module named" in failures[0], failures


def test_ctrl_c_is_left_to_the_engine():
    """SIGINT reaches the whole foreground process group: the worker must not die of it."""
    def interrupt(checker):
        for pid in worker_pids(checker):
            os.kill(pid, signal.SIGINT)

    checker, outcomes, failures = check_with(1, SQLS, between=interrupt)
    assert failures == []
    assert checker.checked_in_workers == len(SQLS)


def test_worker_count_leaves_a_core_to_the_loop_and_skips_small_runs():
    assert worker_count(2, 10_000) == 1
    assert worker_count(1, 10_000) == 0
    assert worker_count(None, 10_000) == 0
    assert worker_count(64, 10_000) == 4
    assert worker_count(8, rule_pool.MIN_SAMPLES - 1) == 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PDEATHSIG is Linux's")
def test_no_worker_outlives_a_killed_engine(tmp_path):
    script = (
        "import asyncio\n"
        "from fastdistill_tui.core.sql.rule_pool import RuleChecker\n"
        "async def main():\n"
        "    checker = RuleChecker(1)\n"
        "    await checker.start()\n"
        "    await checker.check('SELECT 1 FROM t')\n"
        "    print(checker._children[0].process.pid, flush=True)\n"
        "    await asyncio.sleep(600)\n"
        "asyncio.run(main())\n")
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


def test_a_script_without_a_main_guard_is_not_run_again_by_the_worker(tmp_path):
    """multiprocessing's spawn would import the parent's script in the worker."""
    script = tmp_path / "unguarded.py"
    script.write_text(
        "import asyncio\n"
        "from fastdistill_tui.core.sql.rule_pool import RuleChecker\n"
        "print('script body', flush=True)\n"
        "failures = []\n"
        "checker = RuleChecker(1, on_failure=failures.append)\n"
        "async def main():\n"
        "    await checker.start()\n"
        "    await checker.check('SELECT a FROM t')\n"
        "    await checker.aclose()\n"
        "asyncio.run(main())\n"
        "print('checked in workers', checker.checked_in_workers, failures, flush=True)\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["script body", "checked in workers 1 []"]
