"""Evaluator (gold cache included), GoldCache, and the judge scores, on a real SQLite file."""

import sqlite3
import threading

import pytest

from fastdistill_tui.core.config import EvalConfig
from fastdistill_tui.core.providers.base import Provider
from fastdistill_tui.core.sql.evaluator import EvalOutcome, Evaluator
from fastdistill_tui.core.sql.execute import ExecResult
from fastdistill_tui.core.sql.gold_cache import GoldCache, entry_bytes
from fastdistill_tui.core.sql.judge import LLM_JUDGE_PROMPT, llm_judge_score, rule_score
from fastdistill_tui.core.types import Completion, Failure, GenParams


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "school.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE schüler (id INTEGER PRIMARY KEY, name TEXT, "alter" INT, land TEXT);
        INSERT INTO schüler VALUES (1, 'Anna', 20, 'DE'), (2, 'Ben', 19, 'AT'),
                                   (3, 'Cem', 22, 'DE'), (4, 'Dora', 19, 'CH');
        CREATE TABLE numbers (n INTEGER);
        WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000)
        INSERT INTO numbers SELECT x FROM c;
    """)
    conn.commit()
    conn.close()
    return str(path)


@pytest.fixture
def evaluator():
    ev = Evaluator(EvalConfig(timeout_s=2.0))
    yield ev
    ev.close()


GOLD = 'SELECT name FROM schüler WHERE "alter" < 21 ORDER BY "alter", name'


@pytest.mark.parametrize("pred", [None, "", "   \n"])
async def test_missing_prediction_is_a_failure(evaluator, db, pred):
    outcome = await evaluator.evaluate(db, GOLD, pred)
    assert (outcome.exec_ok, outcome.gold_match, outcome.reason) == (False, False, "empty_sql")


async def test_non_sql_prediction_is_a_failure(evaluator, db):
    outcome = await evaluator.evaluate(db, GOLD, "I cannot answer that.")
    assert (outcome.exec_ok, outcome.gold_match, outcome.reason) == (False, False, "exec_error")
    comment_only = await evaluator.evaluate(db, GOLD, "-- no idea")
    assert (comment_only.exec_ok, comment_only.reason) == (False, "empty_sql")


async def test_gold_match(evaluator, db):
    outcome = await evaluator.evaluate(
        db, GOLD, "select name from schüler where \"alter\" <= 20 order by \"alter\" asc, name")
    assert outcome == EvalOutcome(True, True, None, seconds=outcome.seconds)
    assert outcome.seconds > 0


async def test_order_matters_only_for_an_ordered_gold(evaluator, db):
    reversed_pred = 'SELECT name FROM schüler WHERE "alter" < 21 ORDER BY name DESC'
    ordered = await evaluator.evaluate(db, GOLD, reversed_pred)
    assert (ordered.exec_ok, ordered.gold_match, ordered.reason) == (True, False,
                                                                     "order_mismatch")
    unordered_gold = 'SELECT name FROM schüler WHERE "alter" < 21'
    unordered = await evaluator.evaluate(db, unordered_gold, reversed_pred)
    assert unordered.gold_match


async def test_prediction_errors_and_mismatches(evaluator, db):
    cases = {
        "SELECT nam FROM schüler": "exec_error",
        "DELETE FROM schüler": "denied",
        "SELECT name FROM schüler; DROP TABLE schüler": "multiple_statements",
        "SELECT name, land FROM schüler": "col_count",
        "SELECT name FROM schüler": "row_count",
        "SELECT land FROM schüler WHERE \"alter\" < 21": "value_mismatch",
    }
    for pred, reason in cases.items():
        outcome = await evaluator.evaluate(db, GOLD, pred)
        assert outcome.reason == reason, pred
        assert not outcome.gold_match
        assert outcome.exec_ok == (reason in ("col_count", "row_count", "value_mismatch"))


async def test_broken_gold_is_reported_not_matched(evaluator, db):
    broken = "SELECT name FROM schüler ORDER BY alter"  # unquoted keyword: SQLite rejects it
    gold = await evaluator.check_gold(db, broken)
    assert gold.error == "exec_error"
    outcome = await evaluator.evaluate(db, broken, broken)
    assert (outcome.gold_ok, outcome.gold_match, outcome.reason) == (False, False, "gold_error")
    assert outcome.detail.startswith("exec_error")
    assert not outcome.exec_ok  # the prediction is the same broken query


async def test_gold_empty_and_truncation_flags(db):
    ev = Evaluator(EvalConfig(timeout_s=2.0, row_cap=100))
    try:
        empty = await ev.evaluate(db, "SELECT name FROM schüler WHERE land = 'FR'",
                                  "SELECT name FROM schüler WHERE 0")
        capped = await ev.evaluate(db, "SELECT n FROM numbers", "SELECT n FROM numbers")
    finally:
        ev.close()
    assert (empty.exec_ok, empty.gold_match, empty.reason) == (True, False, "gold_empty")
    assert empty.gold_empty
    # Both cut at the row cap after the same rows: not a match, whatever follows.
    assert capped.pred_truncated and not capped.gold_empty
    assert (capped.gold_match, capped.reason) == (False, "truncated")


async def test_column_order_policy_comes_from_config(db):
    gold, pred = "SELECT id, name FROM schüler", "SELECT name, id FROM schüler"
    strict = Evaluator(EvalConfig(column_order="strict"))
    loose = Evaluator(EvalConfig(column_order="ignore"))
    try:
        assert (await strict.evaluate(db, gold, pred)).reason == "value_mismatch"
        assert (await loose.evaluate(db, gold, pred)).gold_match
    finally:
        strict.close()
        loose.close()


async def test_gold_cache_hit_ratio(evaluator, db):
    golds = [GOLD, "SELECT count(*) FROM schüler"]
    for gold in golds:
        assert (await evaluator.check_gold(db, gold)).ok  # the engine's pre-teacher check
    for _ in range(4):
        for gold in golds:
            assert (await evaluator.evaluate(db, gold, gold)).gold_match
    stats = evaluator.gold_cache_stats()
    assert stats == {"hits": 8, "misses": 2, "hit_ratio": pytest.approx(0.8)}


async def test_gold_timeouts_are_not_cached(db):
    ev = Evaluator(EvalConfig(timeout_s=0.3))
    slow = "SELECT count(*) FROM numbers a, numbers b, numbers c"
    try:
        first = await ev.check_gold(db, slow)
        second = await ev.check_gold(db, slow)
    finally:
        ev.close()
    assert first.error == second.error == "timeout"
    assert ev.gold_cache_stats()["misses"] == 2


async def test_gold_cache_can_be_disabled(db):
    ev = Evaluator(EvalConfig(cache_gold_results=False))
    try:
        for _ in range(3):
            assert (await ev.evaluate(db, GOLD, GOLD)).gold_match
    finally:
        ev.close()
    assert ev.gold_cache_stats() == {"hits": 0, "misses": 0, "hit_ratio": 0.0}


def test_gold_cache_is_lru():
    cache = GoldCache(max_size=2)
    results = {k: ExecResult(("x",), [(k,)]) for k in "abc"}
    cache.put("db", "a", results["a"])
    cache.put("db", "b", results["b"])
    assert cache.get("db", "a") is results["a"]  # a is now the most recent
    cache.put("db", "c", results["c"])  # evicts b
    assert cache.get("db", "b") is None
    assert cache.get("db", "c") is results["c"]
    assert cache.get("other.db", "a") is None  # the key includes the database
    assert len(cache) == 2
    assert (cache.hits, cache.misses) == (2, 2)
    assert cache.hit_ratio == 0.5
    with pytest.raises(ValueError):
        GoldCache(0)


def test_gold_cache_is_bounded_by_bytes():
    def rows(n_rows, text):
        return ExecResult(("x",), [(text,)] * n_rows, nbytes=n_rows * len(text))

    big = rows(1000, "x" * 1000)  # ~1 MB of text
    assert 1_000_000 <= entry_bytes(big) < 1_200_000
    cache = GoldCache(max_size=100, max_bytes=3_000_000)
    for name in "abcd":
        cache.put("db", name, big)
    assert len(cache) == 2 and cache.nbytes <= 3_000_000  # a and b evicted by bytes
    assert cache.get("db", "a") is None and cache.get("db", "d") is big
    cache.put("db", "huge", rows(4000, "x" * 1000))  # larger than the whole cache: not kept
    assert cache.get("db", "huge") is None and len(cache) == 2
    cache.put("db", "d", rows(1, "y"))  # replacing an entry gives its bytes back
    assert cache.nbytes == entry_bytes(big) + entry_bytes(rows(1, "y"))


async def test_gold_results_carry_their_size(db):
    ev = Evaluator(EvalConfig(timeout_s=2.0))
    try:
        gold = await ev.check_gold(db, "SELECT name, land FROM schüler")
    finally:
        ev.close()
    assert gold.nbytes == len("AnnaDEBenATCemDEDoraCH")


def test_gold_cache_is_thread_safe():
    cache = GoldCache(max_size=50)
    result = ExecResult(("x",), [(1,)])

    def hammer(worker):
        for i in range(2000):
            key = f"q{(i * 7 + worker) % 100}"
            if cache.get("db", key) is None:
                cache.put("db", key, result)

    threads = [threading.Thread(target=hammer, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert cache.hits + cache.misses == 8 * 2000
    assert len(cache) == 50


def test_rule_score():
    assert rule_score(exec_ok=True, verified=True) == 1.0
    assert rule_score(exec_ok=True, verified=False) == 0.5
    assert rule_score(exec_ok=False, verified=False) == 0.0


class FixedJudge(Provider):
    """A real Provider whose every answer is the given text (or a Failure)."""

    name = "fixed"

    def __init__(self, text=None):
        self.text = text
        self.messages = None

    async def complete(self, messages, params):
        self.messages = messages
        if self.text is None:
            return Failure(reason="timeout")
        return Completion(text=self.text)


@pytest.mark.parametrize("text, score", [
    ("Score: 0.8", 0.8),
    ("score = 1", 1.0),
    ("<think>the join is wrong, Score: 0.9 maybe</think>\nScore: 0.2", 0.2),
    ("The query is correct.\n**Score:** 0.95", 0.95),
    ("0.7", 0.7),
    ("Score: 7", None),
    ("Score: 1.5", None),
    ("It looks right.", None),
    ("", None),
    (None, None),  # the provider failed
])
async def test_llm_judge_score(text, score):
    judge = FixedJudge(text)
    got = await llm_judge_score(judge, "Wie viele Schüler?", "schüler(id, name)",
                                "SELECT count(*) FROM schüler", GenParams(max_tokens=16))
    assert got == score
    prompt = judge.messages[-1]["content"]
    assert "Wie viele Schüler?" in prompt and "SELECT count(*) FROM schüler" in prompt
    assert LLM_JUDGE_PROMPT.splitlines()[0] in prompt
