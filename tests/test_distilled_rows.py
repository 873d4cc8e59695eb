"""What reaches the distilled set, end to end through the engine on real SQLite files and a
loopback teacher: samples whose gold result is empty never do, and gold timeouts are tried
again on resume."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

from loopback_server import LoopbackServer

from fastdistill_tui.core.config import Config, StudentConfig
from fastdistill_tui.core.engine import Engine
from fastdistill_tui.core.prompt import parse_prompt
from fastdistill_tui.core.store import Store

CITIES = [("Berlin", "Germany"), ("Hamburg", "Germany"), ("Paris", "France"),
          ("Lyon", "France"), ("Madrid", "Spain")]
# 8 million joined rows: far beyond 0.05 s on any machine, ~0.5 s here.
SLOW_GOLD = ("SELECT count(*) FROM numbers a, numbers b, numbers c "
             "WHERE (a.n * b.n + c.n) % 7 = 1")


def write_dataset(root: Path, rows: list[tuple[str, str]]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(root / "geo.sqlite") as conn:
        conn.execute("CREATE TABLE city (name TEXT, country TEXT)")
        conn.executemany("INSERT INTO city VALUES (?, ?)", CITIES)
        conn.execute("CREATE TABLE numbers (n INTEGER)")
        conn.executemany("INSERT INTO numbers VALUES (?)", [(i,) for i in range(200)])
    path = root / "questions.jsonl"
    path.write_text("".join(json.dumps({"question": q, "sql": sql, "db": "geo.sqlite"}) + "\n"
                            for q, sql in rows), encoding="utf-8")
    return path


def config_for(data: Path, base_url: str) -> Config:
    config = Config(student=StudentConfig(enabled=False))
    config.dataset.spec = f"jsonl:{data}"
    config.teacher.spec = "openai:m"
    config.teacher.base_url = base_url
    config.gates.teacher_eval.enabled = False
    return config


def run(config: Config, store: Store, **kwargs):
    engine = Engine(config, store, **kwargs)
    return asyncio.run(engine.run(lambda e: None, lambda e: False))


def exported_sql(run_dir: Path) -> list[str]:
    lines = []
    for split in ("train", "valid"):
        lines += (run_dir / "mlx" / f"{split}.jsonl").read_text().splitlines()
    return sorted(json.loads(line)["messages"][-1]["content"] for line in lines)


def test_an_empty_gold_result_is_never_exported_and_is_counted(tmp_path):
    questions = {f"Cities in {c}?": f"SELECT name FROM city WHERE country = '{c}'"
                 for c in ("Germany", "France", "Spain")}
    questions["Cities in Nowhere?"] = "SELECT name FROM city WHERE country = 'Nowhere'"
    data = write_dataset(tmp_path / "data", list(questions.items()))

    def respond(messages):
        _, question = parse_prompt(messages)
        if question == "Cities in Nowhere?":  # wrong, but it returns no rows either
            return "SELECT name FROM city WHERE country = 'Atlantis'"
        return questions[question]

    store = Store(tmp_path / "store.sqlite")
    with LoopbackServer(responder=respond) as srv:
        outcome = run(config_for(data, srv.base_url), store)
    store.close()
    assert outcome.status == "completed"
    assert exported_sql(outcome.run_dir) == sorted(
        sql for q, sql in questions.items() if q != "Cities in Nowhere?")
    report = json.loads((outcome.run_dir / "reports" / "select.quality_report.json").read_text())
    assert report["dropped_gold_empty"] == 1
    assert report["reject_reason_counts"] == {"gold_empty": 1}
    score = json.loads((outcome.run_dir / "reports" / "score.quality_report.json").read_text())
    assert score["gold_match_rate"] == 3 / 4  # the empty pair is not a gold match


def test_gold_timeouts_are_tried_again_on_resume(tmp_path):
    questions = {"Cities in Spain?": "SELECT name FROM city WHERE country = 'Spain'",
                 "How many sums?": SLOW_GOLD}
    data = write_dataset(tmp_path / "data", list(questions.items()))

    def respond(messages):
        return questions[parse_prompt(messages)[1]]

    store = Store(tmp_path / "store.sqlite")
    with LoopbackServer(responder=respond) as srv:
        config = config_for(data, srv.base_url)
        config.eval.timeout_s = 0.05  # a loaded machine: the slow gold times out
        first = run(config, store)
        gold = json.loads((first.run_dir / "reports" / "gold_check.quality_report.json")
                          .read_text())
        assert gold["rejected"] == 1
        assert srv.request_count == 1

        config.eval.timeout_s = 60.0  # the load has gone
        second = run(config, store, run_id=first.run_id, resume=True)
        assert srv.request_count == 2  # only the sample whose gold timed out ran again
    rows = store.query("SELECT gold_ok, reason FROM results WHERE run_id = ?", (first.run_id,))
    store.close()
    assert sorted(rows, key=str) == [(1, None), (1, None)]
    assert exported_sql(second.run_dir) == sorted(questions.values())
    assert gold["reject_reason_counts"] == {"gold_timeout": 1}  # the first run's report
