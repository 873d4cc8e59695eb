"""Why answers missed the gold is counted in the open: the score and select reports, `report`,
the headless summary and the gate's message all carry row_count / value_mismatch / col_count /
empty_result / exec_error (with its commonest SQLite messages), from a real teacher server."""

from __future__ import annotations

import asyncio
import json
import sqlite3

from loopback_server import LoopbackServer
from test_engine import make_dataset

from fastdistill_tui import cli
from fastdistill_tui.core.config import EvalConfig
from fastdistill_tui.core.misses import MissTally, error_kind, format_misses
from fastdistill_tui.core.prompt import parse_prompt
from fastdistill_tui.core.sql.evaluator import Evaluator

WRONG = {  # question number % 10 -> an answer that misses the gold in that way
    1: "SELECT name FROM city WHERE name = 'berlin'",  # no rows; the gold has one
    2: "SELECT nme FROM city",  # no such column
    3: "SELECT count(*) FROM cty",  # no such table
    4: "SELECT -1",  # a value mismatch
    5: "SELECT count(*), 1 FROM city",  # a column too many
    6: "SELECT name FROM city",  # eight rows for one
}
EXPECTED = {"empty_result": 6, "exec_error": 12, "value_mismatch": 6, "col_count": 6,
            "row_count": 6}


def responder(gold: dict[str, str]):
    order = {q: i for i, q in enumerate(gold)}

    def respond(messages):
        question = parse_prompt(messages)[1]
        return WRONG.get(order[question] % 10, gold[question])
    return respond


def test_error_kinds_group_sqlite_messages():
    assert error_kind("no such column: T1.nme") == "no such column"
    assert error_kind("no such table: main.cty") == "no such table"
    assert error_kind('near "FORM": syntax error') == "near …: syntax error"
    assert error_kind("misuse of aggregate: count()") == "misuse of aggregate"
    assert error_kind("") == "unknown"
    tally = MissTally()
    for reason, detail in [("exec_error", "no such column: a"), ("exec_error", "no such column: b"),
                           ("row_count", ""), (None, None)]:
        tally.add(False, reason, detail)
    tally.add(True, None, None)
    assert tally.report() == {"mismatch_reason_counts": {"exec_error": 2, "row_count": 1,
                                                         "unknown": 1},
                              "exec_error_messages": {"no such column": 2}}
    assert format_misses(*tally.report().values()) == (
        "exec_error 2 (no such column 2), row_count 1, unknown 1")


def test_empty_where_the_gold_has_rows_is_its_own_reason(tmp_path):
    db = tmp_path / "t.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (name TEXT)")
        conn.executemany("INSERT INTO t VALUES (?)", [("arizona",), ("texas",)])
    evaluator = Evaluator(EvalConfig())
    try:
        gold = "SELECT name FROM t WHERE name = 'arizona'"
        empty = asyncio.run(evaluator.evaluate(str(db), gold,
                                               "SELECT name FROM t WHERE name = 'Arizona'"))
        assert (empty.exec_ok, empty.gold_match, empty.reason) == (True, False, "empty_result")
        assert empty.detail == "no rows; the gold result has 1"
        other = asyncio.run(evaluator.evaluate(str(db), gold, "SELECT name FROM t"))
        assert other.reason == "row_count"
        both = asyncio.run(evaluator.evaluate(str(db), "SELECT name FROM t WHERE 0",
                                              "SELECT name FROM t WHERE name = 'x'"))
        assert both.reason == "gold_empty"
    finally:
        evaluator.close()


def test_reasons_in_reports_report_summary_and_gate(tmp_path, capsys, monkeypatch):
    data, gold = make_dataset(tmp_path / "data", 60)
    with LoopbackServer(responder=responder(gold)) as srv:
        args = ["run", "--headless", "--no-student", "--dataset", f"jsonl:{data}",
                "--teacher", "openai:m", "--base-url", srv.base_url, "--concurrency", "4"]
        monkeypatch.setenv("FASTDISTILL_GATES_TEACHER_EVAL_GOLD_MATCH_RATE", "0.9")
        assert cli.main(args) == 3  # the early gate fails: 60 % match
        err = capsys.readouterr().err
        message = next(line for line in err.splitlines() if line.startswith("gate teacher_eval "
                                                                            "failed:"))
        assert "(answers missing the gold: exec_error " in message
        assert "no such column" in message and "empty_result" in message
        assert "  answers missing the gold so far: " in err  # under the gate's line
        run_id = err.strip().splitlines()[-1].split()[1]

        assert cli.main(["run", "--headless", "--resume", run_id, "--base-url", srv.base_url,
                         "--override-gate", "teacher_eval"]) == 0
    err = capsys.readouterr().err
    summary = [line for line in err.splitlines() if line.startswith("answers missing the gold")]
    assert summary == [("answers missing the gold: exec_error 12 (no such column 6, no such "
                        "table 6), col_count 6, empty_result 6, row_count 6, value_mismatch 6")]
    final_gate = [line for line in err.splitlines()
                  if line.startswith("  answers missing the gold so far: ")]
    assert final_gate[-1].endswith(summary[0].split(": ", 1)[1])  # resumed samples counted too

    run_dir = cli_run_dir(err)
    for stage in ("score", "select"):
        report = json.loads((run_dir / "reports" / f"{stage}.quality_report.json").read_text())
        assert report["mismatch_reason_counts"] == EXPECTED
        assert report["exec_error_messages"] == {"no such column": 6, "no such table": 6}
    assert cli.main(["report", run_id]) == 0
    assert summary[0] in capsys.readouterr().out


def cli_run_dir(err: str):
    from pathlib import Path

    return Path(err.strip().splitlines()[-1].rsplit(": ", 1)[1])
