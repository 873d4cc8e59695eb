"""Billed answers are committed before use, those that arrive together in one transaction."""

from __future__ import annotations

import asyncio
import sqlite3

from loopback_server import LoopbackServer
from test_engine import gold_responder, make_dataset, run_cli

from fastdistill_tui.core import engine
from fastdistill_tui.core.config import Config
from fastdistill_tui.core.providers.base import Provider
from fastdistill_tui.core.stages.teacher import StoredAnswers
from fastdistill_tui.core.store import Store
from fastdistill_tui.core.types import Completion, GenParams


def test_each_answer_is_committed_before_its_sql_is_cleaned(tmp_path, monkeypatch, capsys):
    data, gold = make_dataset(tmp_path / "data", 64)
    store_file = Config().data_dir / "fastdistill.sqlite"  # the test's own XDG data dir
    transactions: list[int] = []
    unseen: list[str] = []
    put_answers, clean = Store.put_answers, engine.clean

    def counted(self, rows):
        transactions.append(len(rows))
        put_answers(self, rows)

    def clean_what_another_reader_sees(item):
        with sqlite3.connect(store_file) as other:  # a crash now would leave only the file
            row = other.execute("SELECT text FROM teacher_answers WHERE cache_key = ?",
                                (item.cache_key,)).fetchone()
        if row is None or row[0] != item.answer.text:
            unseen.append(item.cache_key)
        clean(item)

    monkeypatch.setattr(Store, "put_answers", counted)
    monkeypatch.setattr(engine, "clean", clean_what_another_reader_sees)
    with LoopbackServer(responder=gold_responder(gold), latency_s=0.2) as srv:
        assert run_cli("--dataset", f"jsonl:{data}", "--teacher", "openai:m", "--base-url",
                       srv.base_url, "--concurrency", "16", "--override-gate",
                       "teacher_eval") == 0
    assert unseen == []
    assert sum(transactions) == 64


class Instant(Provider):
    """A remote-like (billed) teacher that answers without waiting."""
    name, model, local = "instant", "m", False

    async def complete(self, messages, params):
        return Completion(text=f"SELECT {messages[0]['content']}", cost=0.001)


def ask_all(answers: StoredAnswers, n: int) -> list[object]:
    async def asks():
        return await asyncio.gather(
            *(answers.ask(f"key{i}", [{"role": "user", "content": str(i)}], GenParams())
              for i in range(n)), return_exceptions=True)
    return asyncio.run(asks())


def test_answers_of_one_loop_turn_share_one_transaction(tmp_path, monkeypatch):
    store = Store(tmp_path / "store.sqlite")
    transactions: list[int] = []
    put_answers = Store.put_answers
    monkeypatch.setattr(Store, "put_answers",
                        lambda self, rows: (transactions.append(len(rows)),
                                            put_answers(self, rows))[1])
    results = ask_all(StoredAnswers(Instant(), store), 20)
    assert transactions == [20]
    assert [r.text for r in results] == [f"SELECT {i}" for i in range(20)]
    with sqlite3.connect(tmp_path / "store.sqlite") as other:
        assert other.execute("SELECT count(*) FROM teacher_answers").fetchone() == (20,)
    store.close()


def test_a_failed_commit_fails_every_answer_that_waited_for_it(tmp_path):
    store = Store(tmp_path / "store.sqlite")
    store.conn.execute("CREATE TRIGGER full BEFORE INSERT ON teacher_answers "
                       "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END")
    results = ask_all(StoredAnswers(Instant(), store), 5)
    assert [type(r) for r in results] == [sqlite3.IntegrityError] * 5
    store.close()
