"""Test-suite checking on real SQLite files: answers that match gold only by coincidence on the
dataset's rows (a dropped condition, a lucky count of 0) are rejected on perturbed copies, the
right answers are kept; copies are deterministic, cached, bounded and run in the sandbox."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest

from dataset_helpers import make_sqlite
from loopback_server import LoopbackServer

from fastdistill_tui.core.config import Config, EvalConfig, StudentConfig
from fastdistill_tui.core.engine import Engine
from fastdistill_tui.core.prompt import parse_prompt
from fastdistill_tui.core.sql import test_suite
from fastdistill_tui.core.sql.evaluator import Evaluator
from fastdistill_tui.core.sql.test_suite import QueryFacts, SuiteCache, TestSuite, query_facts
from fastdistill_tui.core.stages import suite_check
from fastdistill_tui.core.stages.base import WorkItem
from fastdistill_tui.core.store import Store
from fastdistill_tui.core.types import Example, Schema

# Every city is a "major city" (population > 150000), no river traverses 'alaska': on these
# rows an answer without the population condition and one with the wrong case both match.
GEO = """
CREATE TABLE city (city_id INTEGER PRIMARY KEY, city_name TEXT, state_name TEXT,
                   population INTEGER);
CREATE TABLE river (river_name TEXT, length INTEGER, traverse TEXT);
INSERT INTO city VALUES (1, 'houston', 'texas', 1595138), (2, 'dallas', 'texas', 904078),
  (3, 'austin', 'texas', 345496), (4, 'boston', 'massachusetts', 562994),
  (5, 'denver', 'colorado', 492365), (6, 'seattle', 'washington', 493846),
  (7, 'portland', 'oregon', 366383), (8, 'tucson', 'arizona', 330537);
INSERT INTO river VALUES ('missouri', 3968, 'montana'), ('missouri', 3968, 'iowa'),
  ('colorado', 2333, 'colorado'), ('ohio', 1579, 'ohio'), ('red', 2076, 'texas');
CREATE TABLE note (note_id INTEGER PRIMARY KEY, text TEXT);
INSERT INTO note VALUES (1, 'East wing'), (2, 'West hall'), (3, 'Eastern gate');
"""
MAJOR = "SELECT city_name FROM city WHERE population > 150000"
ALASKA = "SELECT count(*) FROM river WHERE traverse = 'alaska'"
EAST = "SELECT text FROM note WHERE text LIKE '%East%'"
# question -> (gold, the teacher's answer, kept?)
CASES = {
    "Which are the major cities?": (MAJOR, "SELECT city_name FROM city", False),
    "How many rivers run through Alaska?": (
        ALASKA, "SELECT count(*) FROM river WHERE traverse = 'Alaska'", False),
    "Name the major cities.": (MAJOR, "SELECT c.city_name FROM city AS c WHERE 150000 < "
                                      "c.population", True),
    "Count the rivers in Alaska.": (ALASKA, "SELECT count(river_name) FROM river AS r WHERE "
                                            "r.traverse = 'alaska'", True),
    # every 'East' here starts its note: a prefix pattern matches a substring one by chance
    "Which notes contain 'East'?": (EAST, "SELECT text FROM note WHERE text LIKE 'East%'",
                                     False),
    "Show the notes with East in them.": (EAST, "SELECT text FROM note WHERE text LIKE "
                                                "'%east%'", True),
}


def geo_db(tmp_path: Path) -> Path:
    return make_sqlite(tmp_path / "geo.sqlite", GEO)


def suite_verdicts(db: Path, cache_root: Path, **config) -> dict[str, bool]:
    async def go():
        evaluator = Evaluator(EvalConfig(test_suite="off", **config))
        suite = TestSuite(SuiteCache(cache_root))
        try:
            verdicts = {}
            for question, (gold, answer, _kept) in CASES.items():
                outcome = await evaluator.evaluate(str(db), gold, answer)
                assert outcome.gold_match, question  # all four match on the original rows
                verdict = await suite.check(evaluator, str(db), gold, answer)
                verdicts[question] = verdict.agreed
            return verdicts
        finally:
            evaluator.close()
    return asyncio.run(go())


def test_suite_rejects_the_lucky_answers_and_keeps_the_right_ones(tmp_path):
    verdicts = suite_verdicts(geo_db(tmp_path), tmp_path / "cache")
    assert verdicts == {q: kept for q, (_g, _a, kept) in CASES.items()}


# A real-teacher audit found right answers rejected for what the copies did, not the answers:
# a join along a declared key that lost rows when the drop copy dropped parents (or the
# scramble copy made up keys), DISTINCT against none where the copies repeat rows, a lookup by
# a name the literals copy planted thrice. Each pair is equivalent on these data's terms.
SHOP = """
CREATE TABLE maker (maker_id INTEGER PRIMARY KEY, maker_name TEXT);
CREATE TABLE product (product_id INTEGER PRIMARY KEY, title TEXT,
                      maker_id INTEGER REFERENCES maker (maker_id));
INSERT INTO maker VALUES (1, 'acme'), (2, 'globex'), (3, 'initech'), (4, 'umbrella'),
  (5, 'hooli'), (6, 'stark'), (7, 'wayne'), (8, 'tyrell');
INSERT INTO product VALUES (1, 'anvil', 1), (2, 'rocket', 1), (3, 'laser', 2),
  (4, 'stapler', 3), (5, 'vaccine', 4), (6, 'phone', 5), (7, 'suit', 6), (8, 'car', 7),
  (9, 'owl', 8), (10, 'glue', 1), (11, 'tape', 2), (12, 'drone', 6);
"""
EQUIVALENT = {
    "a join along the declared key": (
        "SELECT title FROM product",
        "SELECT p.title FROM product AS p JOIN maker AS m ON p.maker_id = m.maker_id"),
    "DISTINCT where the database has no repeats": (
        "SELECT DISTINCT maker_name FROM maker", "SELECT maker_name FROM maker"),
    "a lookup by a name": (
        "SELECT count(*) FROM product WHERE maker_id IN (SELECT maker_id FROM maker WHERE "
        "maker_name = 'acme')",
        "SELECT count(*) FROM product WHERE maker_id = (SELECT maker_id FROM maker WHERE "
        "maker_name = 'acme')"),
}


# WikiSQL's "combined height of Mount Blue": SUM over the one row a name picks, and the plain
# value. A copy must keep a name one thing: not plant it thrice where a row holds it in another
# case (the column compares without case), not duplicate the row under the same name, and
# count a row of NULL (SUM over nothing) as the empty result it stands for.
PEAKS = """
CREATE TABLE peak (peak_id INTEGER PRIMARY KEY, name TEXT COLLATE NOCASE, height REAL);
INSERT INTO peak VALUES (1, 'Mount Blue', 3101.5), (2, 'Red Spur', 2870.0),
  (3, 'Grey Tooth', 3320.0), (4, 'Old Dome', 2410.0), (5, 'White Horn', 4012.0),
  (6, 'Black Crag', 2999.0), (7, 'Green Knoll', 1800.0), (8, 'Iron Peak', 3550.0);
"""
EQUIVALENT["the sum over the one row a name picks"] = (
    "SELECT SUM(height) FROM peak WHERE name = 'mount blue'",
    "SELECT height FROM peak WHERE name = 'mount blue'")
DATABASES = {"the sum over the one row a name picks": PEAKS}


@pytest.mark.parametrize("case", list(EQUIVALENT))
def test_equivalent_answers_agree_on_every_copy(tmp_path, case):
    gold, answer = EQUIVALENT[case]
    db = make_sqlite(tmp_path / "data.sqlite", DATABASES.get(case, SHOP))
    verdict = asyncio.run(_check(db, tmp_path / "cache", gold, answer))
    assert verdict.agreed, verdict.detail
    assert verdict.compared >= 3 and not verdict.inconclusive  # every copy compared


def test_the_drop_copy_keeps_every_kept_row_s_parent(tmp_path):
    db = make_sqlite(tmp_path / "shop.sqlite", SHOP)
    copies = dict(SuiteCache(tmp_path / "cache").copies(str(db), frozenset(), frozenset()))
    for name in ("drop", "scramble"):
        rows = table_rows(copies[name])
        makers = {m[0] for m in rows["maker"]}
        assert rows["product"] and all(p[2] in makers for p in rows["product"]), name
    assert len(table_rows(copies["drop"])["maker"]) < 8  # rows were dropped all the same


def test_query_facts():
    assert query_facts(MAJOR).literals == {("population", 150000)}
    facts = query_facts("SELECT a FROM t AS x JOIN U ON x.i = U.i WHERE 3 < x.b AND c LIKE "
                        "'%ohio%' AND d IN ('p', 'q') AND e BETWEEN 1 AND 2.5 LIMIT 4")
    assert facts.literals == {("b", 3), ("c", "~ohio~"), ("d", "p"), ("d", "q"), ("e", 1),
                              ("e", 2.5)}
    assert facts.tables == {"t", "u"}
    assert query_facts("SELECT nonsense FROM (") == QueryFacts(frozenset(), None)


def table_rows(path: Path) -> dict[str, list[tuple]]:
    conn = sqlite3.connect(path)
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {n: conn.execute(f'SELECT * FROM "{n}" ORDER BY rowid').fetchall() for n in names}
    finally:
        conn.close()


def test_copies_are_deterministic_cached_and_change_the_rows(tmp_path):
    db = geo_db(tmp_path)
    literals = query_facts(ALASKA).literals
    first = SuiteCache(tmp_path / "a").copies(str(db), literals, frozenset())
    second_cache = SuiteCache(tmp_path / "b")
    second = second_cache.copies(str(db), literals, frozenset())
    assert [name for name, _ in first] == ["drop", "duplicate", "scramble", "literals"]
    original = table_rows(db)
    for (_, a), (_, b) in zip(first, second):
        assert table_rows(a) == table_rows(b)  # same seed, same rows
        assert table_rows(a) != original
    assert second_cache.built == 4
    again = second_cache.copies(str(db), literals, frozenset())
    assert second_cache.built == 4 and again == second  # found in the cache
    assert not list((tmp_path / "b").rglob(".build-*"))  # no temporary files left
    by_name = {name: table_rows(path) for name, path in first}
    assert len(by_name["drop"]["city"]) < 8 < len(by_name["duplicate"]["city"])
    scrambled = by_name["scramble"]["city"]
    assert [r[0] for r in scrambled] == [r[0] for r in original["city"]]  # the keys stay
    assert {r[3] for r in scrambled} & {r[3] for r in original["city"]}  # values moved
    assert ("alaska",) in {(r[2],) for r in by_name["literals"]["river"]}
    # the schema stays: an INTEGER PRIMARY KEY's duplicates got fresh ids
    ids = [r[0] for r in by_name["duplicate"]["city"]]
    assert len(ids) == len(set(ids)) and max(ids) > 8


def test_cache_is_bounded(tmp_path):
    one = geo_db(tmp_path / "one")
    two = make_sqlite(tmp_path / "two" / "geo.sqlite", GEO + "INSERT INTO city VALUES "
                      "(9, 'reno', 'nevada', 264165);")
    cache = SuiteCache(tmp_path / "cache", max_bytes=1)
    cache.copies(str(one), frozenset(), frozenset())
    cache.copies(str(two), frozenset(), frozenset())
    dirs = {p.parent for p in (tmp_path / "cache").rglob("*.sqlite")}
    assert len(dirs) == 1  # the older database's copies were removed, the one in use stays


def test_copies_run_in_the_sandbox_with_its_caps(tmp_path):
    """The row cap applies on the copies: a result cut there is inconclusive, not a mismatch
    (the scrambled copy keeps all 8 cities, more than the cap allows)."""
    db = geo_db(tmp_path)
    verdict = asyncio.run(_check(db, tmp_path / "cache", "SELECT city_name FROM city",
                                 "SELECT city_name FROM city AS c", row_cap=5))
    assert verdict.agreed and verdict.inconclusive >= 1


async def _check(db, root, gold, answer, **config):
    evaluator = Evaluator(EvalConfig(test_suite="off", **config))
    try:
        return await TestSuite(SuiteCache(root)).check(evaluator, str(db), gold, answer)
    finally:
        evaluator.close()


def test_a_database_that_cannot_be_copied_leaves_the_sample_unchecked(tmp_path, monkeypatch):
    db = geo_db(tmp_path)
    monkeypatch.setattr(test_suite, "MAX_DB_BYTES", 10)
    assert asyncio.run(_check(db, tmp_path / "cache", MAJOR, "SELECT city_name FROM city")) \
        is None


def run_engine(tmp_path: Path, test_suite_on: bool) -> dict[str, tuple]:
    data = tmp_path / "data"
    geo_db(data)
    rows = [{"question": q, "sql": gold, "db": "geo.sqlite"} for q, (gold, _a, _k) in
            CASES.items()]
    (data / "q.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))

    def respond(messages):
        _, question = parse_prompt(messages)
        return f"```sql\n{CASES[question][1]}\n```"

    with LoopbackServer(responder=respond) as server:
        config = Config(student=StudentConfig(enabled=False))
        config.dataset.spec = f"jsonl:{data / 'q.jsonl'}"
        config.teacher.spec = "openai:m"
        config.teacher.base_url = server.base_url
        config.gates.teacher_eval.enabled = False
        config.eval.test_suite = "auto" if test_suite_on else "off"  # auto: on for JSONL
        config.run.data_dir = str(tmp_path / "store")
        store = Store(config.data_dir / "fastdistill.sqlite")
        outcome = asyncio.run(Engine(config, store).run(lambda e: None, lambda e: False))
    assert outcome.status == "completed", outcome.message
    reports = Path(outcome.run_dir) / "reports"
    suite = json.loads((reports / "suite_check.quality_report.json").read_text())
    assert suite["enabled"] is test_suite_on
    if test_suite_on:
        lucky = sum(not kept for _g, _a, kept in CASES.values())
        assert suite["reject_reason_counts"] == {"suite_mismatch": lucky}
        assert suite["checked"] == len(CASES)
    execeval = json.loads((reports / "execeval.quality_report.json").read_text())
    assert execeval["duplicates"] == "bag" and execeval["kept"] == len(CASES)
    try:
        found = store.conn.execute(
            "SELECT sample_id, selected, rejected_at, reason, gold_match FROM results").fetchall()
        questions = dict(store.conn.execute("SELECT sample_id, question FROM samples"))
    finally:
        store.close()
    return {questions[r[0]]: tuple(r[1:]) for r in found}


def test_the_engine_rejects_lucky_answers_with_suite_mismatch(tmp_path):
    rows = run_engine(tmp_path / "on", test_suite_on=True)
    for question, (_gold, _answer, kept) in CASES.items():
        selected, rejected_at, reason, gold_match = rows[question]
        assert gold_match == 1  # the original database's verdict stays
        if kept:
            assert (selected, rejected_at) == (1, None), question
        else:
            assert (selected, rejected_at, reason) == (0, "suite_check", "suite_mismatch")
    off = run_engine(tmp_path / "off", test_suite_on=False)
    assert all(selected == 1 for selected, *_ in off.values())


def test_auto_leaves_out_wikisql_format_samples_and_on_checks_them(tmp_path):
    """eval.test_suite = "auto" skips samples with a logical form (measured ~4x the evaluation
    there); "on" checks them."""
    db = geo_db(tmp_path)
    gold, answer, _kept = CASES["Which are the major cities?"]

    async def verdict(mode: str, logical_form) -> str | None:
        evaluator = Evaluator(EvalConfig(test_suite=mode))
        try:
            example = Example(task_id="t", question="q", schema=Schema(db_id="geo", tables=()),
                              db_path=str(db), gold_sql=gold, source="x:1",
                              logical_form=logical_form)
            item = WorkItem(example=example, sql=answer)
            item.outcome = await evaluator.evaluate(str(db), gold, answer)
            await suite_check.check(item, evaluator)
            return item.reason
        finally:
            evaluator.close()

    wikisql = {"sel": 1, "agg": 0, "conds": [[3, 1, 150000]]}
    assert asyncio.run(verdict("auto", wikisql)) is None
    assert asyncio.run(verdict("on", wikisql)) == "suite_mismatch"
    assert asyncio.run(verdict("auto", None)) == "suite_mismatch"
    assert asyncio.run(verdict("off", None)) is None
