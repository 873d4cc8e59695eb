"""`fastdistill report RUN --audit N`: kept rows shown with both results, verdicts recorded in
the store and reports/audit_report.json, from stdin lines or a verdicts file."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

from loopback_server import LoopbackServer
from test_suite_check import CASES, geo_db

from fastdistill_tui import cli
from fastdistill_tui.core.prompt import parse_prompt


def distil(tmp_path: Path, capsys) -> tuple[str, Path]:
    data = tmp_path / "data"
    geo_db(data)
    rows = [{"question": q, "sql": gold, "db": "geo.sqlite"} for q, (gold, _a, _k) in
            CASES.items()]
    (data / "q.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))

    def respond(messages):
        return f"```sql\n{CASES[parse_prompt(messages)[1]][1]}\n```"

    with LoopbackServer(responder=respond) as server:
        assert cli.main(["run", "--headless", "--dataset", f"jsonl:{data / 'q.jsonl'}",
                         "--teacher", "openai:m", "--base-url", server.base_url,
                         "--override-gate", "teacher_eval"]) == 0
    last = capsys.readouterr().err.strip().splitlines()[-1]
    run_dir = Path(last.rsplit(": ", 1)[1])
    return run_dir.name, run_dir


def audits(run_dir: Path) -> dict[str, tuple[str, str]]:
    store = run_dir.parents[1] / "fastdistill.sqlite"
    with sqlite3.connect(store) as conn:
        return {s: (v, n) for s, v, n in conn.execute(
            "SELECT sample_id, verdict, note FROM audits")}


def test_audit_from_stdin_then_from_a_verdicts_file(tmp_path, capsys, monkeypatch):
    run_id, run_dir = distil(tmp_path, capsys)
    monkeypatch.setattr("sys.stdin", io.StringIO("maybe\ny\nn counts every river\n"))
    assert cli.main(["report", run_id, "--audit", "5"]) == 0
    out = capsys.readouterr().out
    # the two kept rows (test-suite checking rejected the lucky ones), each with both results
    assert "Name the major cities." in out and "Count the rivers in Alaska." in out
    assert "Which are the major cities?" not in out
    assert "SELECT count(river_name) FROM river AS r WHERE r.traverse = 'alaska'" in out
    assert "1 row(s); columns: count(*)" in out and "(0,)" in out
    assert "8 row(s); columns: city_name" in out and "('houston',)" in out
    assert "answer y, n, s or q" in out  # "maybe" is asked again
    assert "2 verdict(s) recorded" in out and "(precision 0.50)" in out
    verdicts = audits(run_dir)
    assert sorted(verdicts.values()) == [("right", ""), ("wrong", "counts every river")]
    report = json.loads((run_dir / "reports" / "audit_report.json").read_text())
    assert (report["audited"], report["right"], report["wrong"]) == (2, 1, 1)
    assert {r["verdict"] for r in report["rows"]} == {"right", "wrong"}

    wrong = next(s for s, (v, _n) in verdicts.items() if v == "wrong")
    file = tmp_path / "verdicts.txt"
    file.write_text(f"# checked again\n{wrong} right the count is fine\n")
    assert cli.main(["report", run_id, "--audit", "5", "--verdicts", str(file)]) == 0
    assert "(precision 1.00)" in capsys.readouterr().out
    assert audits(run_dir)[wrong] == ("right", "the count is fine")

    file.write_text(f"{wrong} perhaps\n")
    assert cli.main(["report", run_id, "--audit", "5", "--verdicts", str(file)]) == 2
    err = capsys.readouterr().err
    assert str(file) in err and ":1" in err and "right|wrong" in err


def test_audit_ends_at_the_end_of_input(tmp_path, capsys, monkeypatch):
    run_id, run_dir = distil(tmp_path, capsys)
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    assert cli.main(["report", run_id, "--audit", "2"]) == 0
    assert "1 verdict(s) recorded" in capsys.readouterr().out
    assert len(audits(run_dir)) == 1
    # the row without a verdict comes first next time
    monkeypatch.setattr("sys.stdin", io.StringIO("q\n"))
    assert cli.main(["report", run_id, "--audit", "1"]) == 0
    shown = capsys.readouterr().out
    assert next(iter(audits(run_dir))) not in shown
