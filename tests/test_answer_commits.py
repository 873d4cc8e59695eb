"""Billed answers are committed before use; stored answers are reused, failures that may pass
another time are asked again, and a failed commit fails the answer that needed it."""

from __future__ import annotations

import asyncio
import sqlite3

from loopback_server import LoopbackServer
from test_engine import gold_responder, make_dataset, run_cli

from fastdistill_tui.core.stages import clean as clean_stage
from fastdistill_tui.core.config import Config
from fastdistill_tui.core.providers.base import Provider
from fastdistill_tui.core.stages.teacher import StoredAnswers
from fastdistill_tui.core.store import Store
from fastdistill_tui.core.types import Completion, GenParams


def test_each_answer_is_committed_before_its_sql_is_cleaned(tmp_path, monkeypatch, capsys):
    data, gold = make_dataset(tmp_path / "data", 64)
    store_file = Config().data_dir / "fastdistill.sqlite"  # the test's own XDG data dir
    unseen: list[str] = []
    clean = clean_stage.clean

    def clean_what_another_reader_sees(item):
        with sqlite3.connect(store_file) as other:  # a crash now would leave only the file
            row = other.execute("SELECT text FROM teacher_answers WHERE cache_key = ?",
                                (item.cache_key,)).fetchone()
        if row is None or row[0] != item.answer.text:
            unseen.append(item.cache_key)
        clean(item)

    monkeypatch.setattr(clean_stage, "clean", clean_what_another_reader_sees)
    with LoopbackServer(responder=gold_responder(gold), latency_s=0.2) as srv:
        assert run_cli("--dataset", f"jsonl:{data}", "--teacher", "openai:m", "--base-url",
                       srv.base_url, "--concurrency", "16", "--override-gate",
                       "teacher_eval") == 0
    assert unseen == []
    assert srv.request_count == 64


class Instant(Provider):
    """A remote-like (billed) teacher that answers without waiting."""
    name, model, local = "instant", "m", False

    async def complete(self, messages, params):
        return Completion(text=f"SELECT {messages[0]['content']}", cost=0.001)


def ask_all(answers: StoredAnswers, n: int) -> list[object]:
    async def asks():
        return await asyncio.gather(
            *(answers.complete([{"role": "user", "content": str(i)}], GenParams())
              for i in range(n)), return_exceptions=True)
    return asyncio.run(asks())


def test_a_failed_commit_fails_the_answer_that_needed_it(tmp_path):
    store = Store(tmp_path / "store.sqlite")
    store.conn.execute("CREATE TRIGGER full BEFORE INSERT ON teacher_answers "
                       "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END")
    results = ask_all(StoredAnswers(Instant(), store), 5)
    assert [type(r) for r in results] == [sqlite3.IntegrityError] * 5
    store.close()


def test_a_stored_answer_is_reused_and_a_retryable_failure_asked_again(tmp_path):
    store = Store(tmp_path / "store.sqlite")
    answers = StoredAnswers(Instant(), store)
    ask_all(answers, 3)
    assert answers.fresh == 3
    ask_all(answers, 4)  # three stored, one new
    assert answers.fresh == 4
    store.conn.execute("UPDATE teacher_answers SET ok = 0, reason = 'timeout'")
    ask_all(answers, 4)  # failures that may pass another time are asked again
    assert answers.fresh == 8
    store.close()
