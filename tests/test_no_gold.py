"""Questions without gold SQL, against a real loopback teacher and real SQLite files: an answer
is kept only when enough of the teacher's answers agree on the database and on its perturbed
copies; answers that agree only by coincidence (a count of 0 for two different literals), or
on no rows, are not; every report and the gate say "no gold" instead of a gold-match rate."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections import Counter
from pathlib import Path

import pytest
from loopback_server import LoopbackServer
from student_helpers import tiny_student
from test_answer_rounds import CITIES, question_of, teacher_that_signals_its_stop
from test_engine import last_run_dir, read_json, run_cli

from fastdistill_tui.core.config import Config, StudentConfig
from fastdistill_tui.core.datasets.jsonl import JsonlDataset
from fastdistill_tui.core.engine import Engine
from fastdistill_tui.core.errors import InputError
from fastdistill_tui.core.store import Store

RIGHT = "SELECT name FROM city WHERE country = 'germany'"
#: what the teacher answers per kind of question, by candidate (0 = the plain request)
ANSWERS = {
    # every answer the same: kept after 3 (min_agree), no 4th asked
    "same": [RIGHT] * 4,
    # one stray answer among four: still 3 agree
    "stray": [RIGHT, "SELECT name FROM city", RIGHT, RIGHT],
    # equal results written differently agree too
    "rewritten": [RIGHT, "SELECT c.name FROM city AS c WHERE c.country = 'germany'",
                  "SELECT name FROM city WHERE country IN ('germany')", RIGHT],
    # all different: after 3 answers 3 can no longer agree
    "scattered": ["SELECT name FROM city", RIGHT, "SELECT country FROM city", RIGHT],
    # a count of 0 for two literals that are not in the data: the same result on the database,
    # but copies that carry the literals tell them apart
    "lucky_zero": ["SELECT count(*) FROM city WHERE country = 'Germany'",
                   "SELECT count(*) FROM city WHERE country = 'Portugal'"] * 2,
    # agreeing on no rows is not agreement
    "empty": ["SELECT name FROM city WHERE population < 0"] * 4,
}
KEPT = {"same", "stray", "rewritten"}


def make_unlabelled(root: Path, kinds: list[str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(root / "geo.sqlite") as conn:
        conn.execute("CREATE TABLE city (name TEXT, country TEXT, population REAL)")
        conn.executemany("INSERT INTO city VALUES (?, ?, ?)", CITIES)
    path = root / "questions.jsonl"
    path.write_text("".join(json.dumps({"question": f"{kind} question {i}?", "db": "geo.sqlite"})
                            + "\n" for i, kind in enumerate(kinds)), encoding="utf-8")
    return path


def responder(asked: Counter):
    def respond(messages, body):
        question = question_of(messages)
        seed = body.get("seed") or 0
        asked[question] += 1
        return ANSWERS[question.split()[0]][seed]
    return respond


def config_file(tmp_path: Path, extra: str = "") -> Path:
    """3 of up to 4 answers must agree (the default is all of 3: a stray answer ends it)."""
    path = tmp_path / "config.toml"
    path.write_text("[teacher]\nrepair = false\n[no_gold]\ncandidates = 4\nmin_agree = 3\n"
                    "[gates.teacher_eval]\nmin_total = 0\n" + extra)
    return path


def test_only_answers_that_agree_on_the_database_and_its_copies_are_kept(tmp_path, capsys):
    kinds = list(ANSWERS)
    data = make_unlabelled(tmp_path / "data", kinds)
    asked: Counter = Counter()
    with LoopbackServer(responder=responder(asked), with_body=True) as srv:
        assert run_cli("--config", str(config_file(tmp_path)), "--dataset", f"jsonl:{data}",
                       "--teacher", "openai:m", "--base-url", srv.base_url,
                       "--no-student") == 0
    err_lines = capsys.readouterr().err
    assert "no gold SQL: all questions are checked by agreement, an answer kept when 3 of up " \
           "to 4 teacher answers" in err_lines
    run_dir = Path(err_lines.strip().splitlines()[-1].rsplit(": ", 1)[1])
    by_kind = {question.split()[0]: n for question, n in asked.items()}
    assert by_kind == {"same": 3, "stray": 4, "rewritten": 3, "scattered": 3,
                       "lucky_zero": 4, "empty": 2}
    store = Store(run_dir.parents[1] / "fastdistill.sqlite")
    try:
        rows = {q.split()[0]: (selected, agreed, reason, detail, sql) for q, selected, agreed,
                reason, detail, sql in store.query(
                    "SELECT s.question, r.selected, r.agreed, r.reason, r.detail, r.sql FROM"
                    " results r JOIN samples s USING (run_id, sample_id)")}
    finally:
        store.close()
    assert {kind for kind, row in rows.items() if row[0]} == KEPT
    assert all(rows[kind][1] == (kind in KEPT) for kind in kinds)
    assert rows["rewritten"][4] == RIGHT  # the earliest answer of the agreeing group
    assert rows["scattered"][2:4] == ("no_agreement", "1 of 3 answers agree (3 needed)")
    assert rows["scattered"][4] == ANSWERS["scattered"][0]  # shown with the plain answer
    assert rows["lucky_zero"][2] == "no_agreement"
    assert "2 of 4 answers agree" in rows["lucky_zero"][3]
    assert "differed on a copy" in rows["lucky_zero"][3]
    assert rows["empty"][3] == "no answer returned rows (2 asked)"

    reports = run_dir / "reports"
    agreement = read_json(reports / "agreement.quality_report.json")
    assert (agreement["total"], agreement["kept"]) == (6, 3)
    assert agreement["reject_reason_counts"] == {"no_agreement": 3}
    counted = agreement["agreement"]
    assert (counted["questions"], counted["asked"], counted["agreed"]) == (6, 19, 3)
    assert agreement["per_kept_sample"]["tokens_in"] == counted["tokens_in"] / 3
    score = read_json(reports / "score.quality_report.json")
    assert score["gold_match_rate"] is None  # nothing to match: not a rate of 0
    assert score["exec_pass_rate"] == 1.0  # every plain answer runs, kept or not
    assert (score["no_gold"], score["agreement_rate"]) == (6, 0.5)
    assert read_json(reports / "select.quality_report.json")["kept"] == 3
    exported = [json.loads(line) for name in ("train", "valid")
                for line in (run_dir / "mlx" / f"{name}.jsonl").read_text().splitlines()]
    assert sorted(row["messages"][-1]["content"] for row in exported).count(RIGHT) == 3


def test_the_gate_checks_the_agreement_rate_where_there_is_no_gold(tmp_path, capsys):
    data = make_unlabelled(tmp_path / "data", ["scattered", "empty", "same"] * 2)
    asked: Counter = Counter()
    config = config_file(tmp_path, "agreement_rate = 0.5\n")
    with LoopbackServer(responder=responder(asked), with_body=True) as srv:
        code = run_cli("--config", str(config), "--dataset", f"jsonl:{data}", "--teacher",
                       "openai:m", "--base-url", srv.base_url, "--no-student")
    err = capsys.readouterr().err
    assert code == 3
    assert "agreement_rate 0.333333 < 0.5" in err
    assert "gold_match_rate" not in err  # no gold: no gold-match check that 0 would fail


def test_a_deterministic_teacher_cannot_be_checked_by_agreement(tmp_path, capsys):
    data = make_unlabelled(tmp_path / "data", ["same", "stray"])
    assert run_cli("--config", str(config_file(tmp_path)), "--dataset", f"jsonl:{data}",
                   "--no-student") == 3  # the gate: nothing agreed
    err = capsys.readouterr().err
    assert "always gives the same answer, so agreement cannot check them" in err
    assert "answers without agreement: no_agreement 2" in err
    run_dir = Path(err.strip().splitlines()[-1].rsplit(": ", 1)[1])
    agreement = read_json(run_dir / "reports" / "agreement.quality_report.json")
    assert agreement["kept"] == 0 and agreement["reject_reason_counts"] == {"no_agreement": 2}


def test_a_file_may_mix_questions_with_and_without_gold_but_not_lose_a_field(tmp_path):
    root = tmp_path / "data"
    make_unlabelled(root, [])
    path = root / "mixed.jsonl"
    rows = [{"question": "a?", "sql": "SELECT 1", "db": "geo.sqlite"},
            {"question": "b?", "sql": None, "db": "geo.sqlite"},
            {"question": "c?", "sql": "  ", "db": "geo.sqlite"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    golds = [e.gold_sql for e in JsonlDataset(path).iter_examples("mixed")]
    assert golds == ["SELECT 1", "", ""]
    path.write_text("".join(json.dumps(r) + "\n" for r in (rows[0], {"question": "d?",
                                                                       "db": "geo.sqlite"})))
    with pytest.raises(InputError) as caught:
        list(JsonlDataset(path).iter_examples("mixed"))
    assert (caught.value.line, caught.value.field) == (2, "sql")
    assert '"sql": null' in str(caught.value.hint)


def test_a_student_trains_on_agreed_rows_and_is_not_scored_without_gold(tmp_path, capsys,
                                                                        monkeypatch):
    monkeypatch.setenv("FASTDISTILL_STUDENT_ENABLED", "1")
    student = tiny_student(tmp_path / "student")
    data = make_unlabelled(tmp_path / "data", ["same", "rewritten", "stray", "scattered"] * 3)
    config = config_file(tmp_path, f'[student]\nspec = "{student}"\nprofile = "quick"\n'
                                   "iters = 2\nlearning_rate = 1e-3\nnum_layers = 2\n"
                                   "max_seq_length = 256\nmax_tokens = 8\n")
    asked: Counter = Counter()
    with LoopbackServer(responder=responder(asked), with_body=True) as srv:
        assert run_cli("--config", str(config), "--dataset", f"jsonl:{data}", "--teacher",
                       "openai:m", "--base-url", srv.base_url) == 0
    err = capsys.readouterr().err
    assert "12 questions of the 'questions' split have no gold SQL and are left out of the " \
           "student's evaluation" in err, err
    assert "the student is trained, not evaluated" in err
    assert "gold-match 0.000" not in err  # no rate made up from questions without gold
    run_dir = Path(err.strip().splitlines()[-1].rsplit(": ", 1)[1])
    train = read_json(run_dir / "reports" / "train.quality_report.json")
    assert train["iteration"] == 2
    assert not (run_dir / "reports" / "student_eval_pre.quality_report.json").exists()


def test_a_run_stopped_mid_agreement_resumes_without_asking_twice(tmp_path):
    kinds = ["stray", "same", "scattered", "stray"]
    data = make_unlabelled(tmp_path / "data", kinds)
    asked: Counter = Counter()
    cancel, stopped = threading.Event(), threading.Event()
    stop_at = "stray question 0?"

    def respond(messages, body):
        question, seed = question_of(messages), body.get("seed") or 0
        asked[question, seed] += 1
        if question == stop_at and seed == 2 and not cancel.is_set():
            cancel.set()
            assert stopped.wait(60)  # this answer arrives after the stop
        return ANSWERS[question.split()[0]][seed]

    config = Config(student=StudentConfig(enabled=False))
    config.dataset.spec = f"jsonl:{data}"
    config.teacher.spec, config.teacher.concurrency = "openai:m", 1
    config.no_gold.candidates = 4
    config.gates.teacher_eval.enabled = False
    store = Store(config.data_dir / "fastdistill.sqlite")
    with LoopbackServer(responder=respond, with_body=True) as srv:
        config.teacher.base_url = srv.base_url
        provider = teacher_that_signals_its_stop(config, stopped)
        outcome = asyncio.run(Engine(config, store, provider=provider).run(
            lambda e: None, lambda e: False, cancel))
        assert outcome.status == "cancelled"
        assert (stop_at, 2) in asked and (stop_at, 3) not in asked  # stopped mid-agreement
        resumed = Engine(config, store, run_id=outcome.run_id, resume=True)
        outcome = asyncio.run(resumed.run(lambda e: None, lambda e: False))
        assert outcome.status == "completed"
    kept = dict(store.query("SELECT s.question, r.selected FROM results r JOIN samples s"
                            " USING (run_id, sample_id) WHERE r.run_id = ?", (outcome.run_id,)))
    store.close()
    assert set(asked.values()) == {1}  # nothing asked twice, over both runs
    assert asked[stop_at, 3] == 1
    assert kept == {f"{kind} question {i}?": int(kind in KEPT) for i, kind in enumerate(kinds)}


def test_by_default_all_three_answers_must_agree_and_a_stray_one_ends_it(tmp_path, capsys):
    data = make_unlabelled(tmp_path / "data", ["same", "stray"])
    asked: Counter = Counter()
    config = tmp_path / "plain.toml"
    config.write_text("[teacher]\nrepair = false\n[gates.teacher_eval]\nmin_total = 0\n")
    with LoopbackServer(responder=responder(asked), with_body=True) as srv:
        assert run_cli("--config", str(config), "--dataset", f"jsonl:{data}", "--teacher",
                       "openai:m", "--base-url", srv.base_url, "--no-student") == 0
    err = capsys.readouterr().err
    assert "an answer kept when all 3 teacher answers return the same rows" in err
    assert {q.split()[0]: n for q, n in asked.items()} == {"same": 3, "stray": 2}
    run_dir = Path(err.strip().splitlines()[-1].rsplit(": ", 1)[1])
    assert read_json(run_dir / "reports" / "select.quality_report.json")["kept"] == 1
