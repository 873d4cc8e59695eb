"""The rounds after the teacher stage against a real loopback teacher and real SQLite files:
the repair round (asked once, only when due, with the error or the stored values) and k
candidates (each its own cache entry, the first gold match kept, resumable mid-sample)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections import Counter
from pathlib import Path

from loopback_server import LoopbackServer
from test_engine import last_run_dir, read_json, run_cli

from fastdistill_tui.core.config import Config, StudentConfig
from fastdistill_tui.core.engine import Engine
from fastdistill_tui.core.providers import make_provider
from fastdistill_tui.core.providers.base import Provider
from fastdistill_tui.core.store import Store

CITIES = [("berlin", "germany", 3645000.0), ("hamburg", "germany", 1841000.0),
          ("paris", "france", 2161000.0), ("lyon", "france", 513000.0),
          ("madrid", "spain", 3223000.0), ("rome", "italy", 2873000.0)]
COUNTRIES = ("germany", "france", "spain", "italy")


def make_dataset(root: Path, n: int) -> tuple[Path, list[tuple[str, str]]]:
    """n questions whose gold returns rows of names stored in lower case; (file, [(q, gold)])."""
    root.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(root / "geo.sqlite") as conn:
        conn.execute("CREATE TABLE city (name TEXT, country TEXT, population REAL)")
        conn.executemany("INSERT INTO city VALUES (?, ?, ?)", CITIES)
    pairs = []
    for i in range(n):
        country = COUNTRIES[(i // 4) % len(COUNTRIES)]
        question = f"Which cities of {country.title()} have more than {i} people?"
        gold = f"SELECT name FROM city WHERE country = '{country}' AND population > {i}"
        pairs.append((question, gold))
    path = root / "questions.jsonl"
    path.write_text("".join(json.dumps({"question": q, "sql": s, "db": "geo.sqlite"}) + "\n"
                            for q, s in pairs), encoding="utf-8")
    return path, pairs


def question_of(messages) -> str:
    first_user = next(m["content"] for m in messages if m["role"] == "user")
    return first_user.rsplit("Question: ", 1)[1].strip()


def config_file(tmp_path: Path, teacher: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f"[teacher]\n{teacher}\n[gates.teacher_eval]\nenabled = false\n")
    return path


def test_repair_is_asked_once_and_only_when_due(tmp_path, capsys):
    data, pairs = make_dataset(tmp_path / "data", 16)
    gold = dict(pairs)
    kind = {q: i % 4 for i, (q, _) in enumerate(pairs)}  # 0 right, 1 'Germany', 2 bad column,
    repairs: list[str] = []                                # 3 wrong rows (not repaired)

    def respond(messages):
        question = question_of(messages)
        if len(messages) > 2:  # the repair turn
            repairs.append(messages[-1]["content"])
            assert messages[2] == {"role": "assistant", "content": first_answer(question)}
            return gold[question]
        return first_answer(question)

    def first_answer(question):
        sql = gold[question]
        country = sql.split("'")[1]
        return {0: sql, 1: sql.replace(country, country.title()),
                2: sql.replace("SELECT name", "SELECT nme"), 3: "SELECT name FROM city"}[
            kind[question]]

    args = ["--config", str(config_file(tmp_path, "repair = true")), "--dataset",
            f"jsonl:{data}", "--teacher", "openai:m", "--no-student"]
    with LoopbackServer(responder=respond) as srv:
        assert run_cli(*args, "--base-url", srv.base_url) == 0
        assert srv.request_count == 16 + 8  # 4 empty results + 4 errors repaired, once each
        run_dir = last_run_dir(capsys)
        assert run_cli(*args, "--base-url", srv.base_url) == 0  # a new run, all from the cache
        assert srv.request_count == 24
        rerun_dir = last_run_dir(capsys)
    empty = [r for r in repairs if "returned no rows" in r]
    failed = [r for r in repairs if "no such column: nme" in r]
    assert len(empty) == len(failed) == 4
    assert all("Columns of city: name, country, population" in r for r in failed)
    assert all("city.country (you wrote 'Germany'): 'germany'" in r
               or "you wrote 'France'): 'france'" in r or "you wrote 'Spain'): 'spain'" in r
               or "you wrote 'Italy'): 'italy'" in r for r in empty)
    for directory in (run_dir, rerun_dir):
        repair = read_json(directory / "reports" / "repair.quality_report.json")["repair"]
        assert {k: repair[k] for k in ("asked", "kept", "fixed")} == {
            "asked": 8, "kept": 8, "fixed": 8}
        assert repair["tokens_in"] > 0
        assert read_json(directory / "reports" / "select.quality_report.json")["kept"] == 12


def test_without_repair_the_same_run_asks_each_question_once(tmp_path, capsys):
    data, _ = make_dataset(tmp_path / "data", 8)
    args = ["--config", str(config_file(tmp_path, "repair = false")), "--dataset",
            f"jsonl:{data}", "--teacher", "openai:m", "--no-student"]
    with LoopbackServer(responder=lambda m: "SELECT nme FROM city") as srv:
        assert run_cli(*args, "--base-url", srv.base_url) == 0
        assert srv.request_count == 8
    reports = last_run_dir(capsys) / "reports"
    assert not (reports / "repair.quality_report.json").exists()  # not a stage of this run
    assert not (reports / "candidates.quality_report.json").exists()


def seeded_responder(pairs, needed: dict[str, int | None], asked: Counter,
                     on_ask=None):
    """Right only from the candidate with seed `needed[q]` on (0 = the plain request; None =
    never); every (question, seed) asked is counted."""
    gold = dict(pairs)

    def respond(messages, body):
        question = question_of(messages)
        seed = body.get("seed")
        if len(messages) > 2:  # a repair turn
            asked[question, "repair"] += 1
            return "SELECT name FROM city WHERE name = 'x'"
        assert (seed is None) == (body["temperature"] == 0.0)  # candidates 2..k are sampled
        asked[question, seed] += 1
        if on_ask is not None:
            on_ask(question, seed)
        want = needed[question]
        if want is not None and (seed or 0) >= want:
            return gold[question]
        return "SELECT name FROM city WHERE population < 0 OR name = 'x'"  # empty: repairable
    return respond


def teacher_that_signals_its_stop(config: Config, stopped: threading.Event) -> Provider:
    """The run's teacher, made here so that a responder can hold an answer until the run has
    stopped the teacher (`stopped` is set then), rather than sleep and hope the stop got there
    first: a slow machine may take longer."""
    provider = make_provider(config.teacher)
    stop = provider.stop

    def stop_and_signal() -> None:
        stop()
        stopped.set()

    provider.stop = stop_and_signal  # type: ignore[method-assign]
    return provider


def test_k_candidates_ask_until_a_gold_match_each_its_own_cache_entry(tmp_path, capsys):
    data, pairs = make_dataset(tmp_path / "data", 8)
    needed = {q: (0, 1, 2, None)[i % 4] for i, (q, _) in enumerate(pairs)}
    asked: Counter = Counter()
    args = ["--config", str(config_file(tmp_path, "repair = false\ncandidates = 3")),
            "--dataset", f"jsonl:{data}", "--teacher", "openai:m", "--no-student"]
    with LoopbackServer(responder=seeded_responder(pairs, needed, asked), with_body=True) as srv:
        assert run_cli(*args, "--base-url", srv.base_url) == 0
        assert srv.request_count == 2 * (1 + 2 + 3 + 3)  # stops at the first gold match
    assert set(asked.values()) == {1}
    run_dir = last_run_dir(capsys)
    store = Store(run_dir.parents[1] / "fastdistill.sqlite")
    try:
        assert store.query("SELECT COUNT(*) FROM teacher_answers")[0][0] == 18
    finally:
        store.close()
    report = read_json(run_dir / "reports" / "candidates.quality_report.json")
    candidates = report["candidates"]
    assert candidates["samples"] == 8 and candidates["asked"] == 18
    assert (candidates["pass_at_1"], candidates["pass_at_k"]) == (0.25, 0.75)
    assert read_json(run_dir / "reports" / "select.quality_report.json")["kept"] == 6
    assert report["per_kept_sample"]["tokens_in"] == report["answers_total"]["tokens_in"] / 6


def test_a_run_stopped_mid_candidates_resumes_without_asking_twice(tmp_path):
    data, pairs = make_dataset(tmp_path / "data", 8)
    needed = {q: (2, None)[i % 2] for i, (q, _) in enumerate(pairs)}
    asked: Counter = Counter()
    cancel, stopped = threading.Event(), threading.Event()
    stop_at = pairs[2][0]

    def on_ask(question, seed):
        if question == stop_at and seed == 1 and not cancel.is_set():
            cancel.set()
            assert stopped.wait(60)  # this answer arrives after the stop

    config = Config(student=StudentConfig(enabled=False))
    config.dataset.spec = f"jsonl:{data}"
    config.teacher.spec = "openai:m"
    config.teacher.concurrency = 1
    config.teacher.candidates = 3
    config.teacher.repair = True
    config.gates.teacher_eval.enabled = False
    store = Store(config.data_dir / "fastdistill.sqlite")
    with LoopbackServer(responder=seeded_responder(pairs, needed, asked, on_ask),
                        with_body=True) as srv:
        config.teacher.base_url = srv.base_url
        provider = teacher_that_signals_its_stop(config, stopped)
        outcome = asyncio.run(Engine(config, store, provider=provider).run(
            lambda e: None, lambda e: False, cancel))
        assert outcome.status == "cancelled"
        assert (stop_at, 1) in asked and (stop_at, 2) not in asked  # stopped mid-candidates
        resumed = Engine(config, store, run_id=outcome.run_id, resume=True)
        outcome = asyncio.run(resumed.run(lambda e: None, lambda e: False))
        assert outcome.status == "completed"
    store.close()
    assert set(asked.values()) == {1}  # nothing asked twice, over both runs
    assert asked[stop_at, 2] == 1
    assert sum(seed == "repair" for _, seed in asked) == 4  # those no candidate fixed
