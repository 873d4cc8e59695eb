"""The sandbox's own instr, replace and printf/format give SQLite's answers (compared with
SQLite's built-ins on a plain connection) and refuse what would run for seconds in one step."""

import sqlite3

import pytest

from fastdistill_tui.core.sql import guarded_functions

LIMIT = 1 << 16


@pytest.fixture
def pair():
    plain, guarded = sqlite3.connect(":memory:"), sqlite3.connect(":memory:")
    guarded_functions.install(guarded, LIMIT)
    yield plain, guarded
    plain.close()
    guarded.close()


@pytest.mark.parametrize("expr", [
    "instr('hello world', 'o')", "instr('hello', '')", "instr('', 'a')", "instr('grüße', 'ß')",
    "instr(x'00ff00', x'ff')", "instr(12345, 34)", "instr(1.5, '.')", "instr(NULL, 'a')",
    "instr('a', NULL)", "instr('abc', 'd')",
    "replace('a-b-c', '-', '+')", "replace('abc', '', 'x')", "replace('äöü', 'ö', 'oe')",
    "replace(12.5, '.', ',')", "replace(NULL, 'a', 'b')", "replace('a', 'a', NULL)",
    "replace('aaa', 'aa', 'b')",
    "printf('%d items at %.2f, %s!', 3, 1.005, 'ok')", "printf('%5s|%-5s|%05d', 'a', 'b', 42)",
    "printf('%%')", "printf('%c', 'xyz')", "printf('%.3c', 'x')", "printf('%*d', 6, 7)",
    "printf('%q', 'it''s')", "printf('%x %o %e', 255, 8, 12345.678)", "printf(NULL)",
    "printf('%s')", "printf('%,d', 1234567)", "format('%d-%d', 1, 2)",
])
def test_same_answers_as_sqlite(pair, expr):
    plain, guarded = pair
    assert guarded.execute(f"SELECT {expr}").fetchone() == plain.execute(
        f"SELECT {expr}").fetchone()


@pytest.mark.parametrize("expr", [
    f"printf('%.*c', {LIMIT + 1}, 'x')", "printf('%.999999999999c', 'x')",
    f"printf('%*d', -{LIMIT + 1}, 1)", f"format('%{LIMIT + 1}d', 1)",
    f"replace(hex(zeroblob({LIMIT // 4})), '0', '000')",
])
def test_refuses_what_runs_long_or_grows_past_the_value_cap(pair, expr):
    _, guarded = pair
    with pytest.raises(sqlite3.OperationalError):
        guarded.execute(f"SELECT {expr}").fetchone()
