"""Database content in the prompt, on real SQLite files: the database's own types, example rows
and the stored values like the question's words, deterministic and within the token budget."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from fastdistill_tui.core.config import PromptConfig
from fastdistill_tui.core.db_content import database_content
from fastdistill_tui.core.prompt import (ROWS_HEADER, VALUES_HEADER, parse_prompt,
                                         prompt_tokens, render_messages, typed_schema)
from fastdistill_tui.core.providers.builtin import BuiltinTeacher
from fastdistill_tui.core.types import Column, GenParams, Schema, Table

# As a tables.json may declare them: `area` is "text" here, REAL in the database.
SCHEMA = Schema("states", (
    Table("state", (Column("name", "text"), Column("area", "text"),
                    Column("capital", "text"))),
    Table("city", (Column("name", "text"), Column("state_name", "text"),
                   Column("population", "integer"))),
    Table("Question", (Column("id", "integer"), Column("note", "text"))),
), (("city", "state_name", "state", "name"),))

STATES = [("alabama", 135765.0, "montgomery"), ("alaska", 1723337.0, "juneau"),
          ("arizona", 295234.0, "phoenix"), ("arkansas", 137732.0, "little rock"),
          ("new mexico", 314917.0, "santa fe")]


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "states.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE state (name TEXT, area REAL, capital VARCHAR(40))")
        conn.execute("CREATE TABLE city (name TEXT, state_name TEXT, population INT)")
        conn.execute('CREATE TABLE "Question" (id INTEGER, note TEXT)')
        conn.executemany("INSERT INTO state VALUES (?, ?, ?)", STATES)
        conn.executemany("INSERT INTO city VALUES (?, ?, ?)",
                         [("phoenix", "arizona", 1445632), ("tucson", "arizona", 520116),
                          ("albuquerque", "new mexico", 545852)])
        conn.execute("INSERT INTO \"Question\" VALUES (1, 'Question: not a question line')")
    return str(path)


def user(messages):
    return messages[-1]["content"]


def test_values_like_the_question_come_in_their_stored_case(db):
    text = user(render_messages(SCHEMA, "How many cities are in Arizona?", db_path=db,
                                content=PromptConfig()))
    values = text.split(VALUES_HEADER + "\n", 1)[1].split("\nQuestion: ")[0].splitlines()
    assert values[0] in ("  state.name: 'arizona'", "  city.state_name: 'arizona'")
    assert "'arizona'" in values[1]
    assert "Arizona'" not in text
    # a two-word value is found from its words, whatever their case
    text = user(render_messages(SCHEMA, "Which cities lie in New Mexico?", db_path=db,
                                content=PromptConfig()))
    assert "state.name: 'new mexico'" in text


def test_types_come_from_the_database(db):
    text = user(render_messages(SCHEMA, "Which state is largest?", db_path=db,
                                content=PromptConfig()))
    assert "state(name text, area real, capital text)" in text
    assert "population integer" in text
    plain = user(render_messages(SCHEMA, "Which state is largest?"))
    assert "area text" in plain and ROWS_HEADER not in plain


def test_example_rows_in_column_order(db):
    text = user(render_messages(SCHEMA, "Which state is largest?", db_path=db,
                                content=PromptConfig(example_rows=2)))
    assert ("  state: ('alabama', 135765.0, 'montgomery'), ('alaska', 1723337.0, 'juneau')"
            in text.splitlines())
    assert "'arizona', 295234.0" not in text  # the third row is not shown


def test_deterministic_and_within_budget(db):
    question = "How many cities are in Arizona or New Mexico?"
    base = prompt_tokens(render_messages(typed_schema(SCHEMA, database_content(db, SCHEMA, 3)),
                                         question))
    for budget in (0, 5, 20, 40, 60, 100, 1000):
        content = PromptConfig(budget_tokens=budget)
        first = render_messages(SCHEMA, question, db_path=db, content=content)
        assert render_messages(SCHEMA, question, db_path=db, content=content) == first
        assert prompt_tokens(first) - base <= budget
        if budget == 0:
            assert prompt_tokens(first) == base
    small = user(render_messages(SCHEMA, question, db_path=db,
                                 content=PromptConfig(budget_tokens=40)))
    assert VALUES_HEADER in small  # the values go first: they are what the question names
    full = user(render_messages(SCHEMA, question, db_path=db,
                                content=PromptConfig(budget_tokens=1000)))
    assert full.count("), (") > small.count("), (")


def test_switches(db):
    question = "How many cities are in Arizona?"
    off = render_messages(SCHEMA, question, db_path=db, content=PromptConfig(db_content=False))
    assert off == render_messages(SCHEMA, question)
    no_rows = user(render_messages(SCHEMA, question, db_path=db,
                                   content=PromptConfig(example_rows=0)))
    assert ROWS_HEADER not in no_rows and VALUES_HEADER in no_rows
    no_values = user(render_messages(SCHEMA, question, db_path=db,
                                     content=PromptConfig(value_hints=0)))
    assert ROWS_HEADER in no_values and VALUES_HEADER not in no_values
    one = user(render_messages(SCHEMA, question, db_path=db,
                               content=PromptConfig(value_hints=1)))
    assert all(line.count("'") == 2 for line in one.split(VALUES_HEADER)[1].splitlines()[1:-1])


def test_content_reread_when_the_file_changes(db):
    question = "How many cities are in Nevada?"
    before = user(render_messages(SCHEMA, question, db_path=db, content=PromptConfig()))
    assert "'nevada'" not in before
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO state VALUES ('nevada', 286380.0, 'carson city')")
    after = user(render_messages(SCHEMA, question, db_path=db, content=PromptConfig()))
    assert "state.name: 'nevada'" in after


def test_parse_prompt_and_the_builtin_read_past_the_content(db):
    question = "What is the capital of arizona?"
    messages = render_messages(SCHEMA, question, db_path=db, content=PromptConfig())
    assert "  Question: (1, 'Question: not a question line')" in user(messages)
    schema, parsed = parse_prompt(messages)
    assert parsed == question
    assert schema == typed_schema(SCHEMA, database_content(db, SCHEMA, 3))
    with_content = asyncio.run(BuiltinTeacher().complete(messages, GenParams()))
    plain = asyncio.run(BuiltinTeacher().complete(render_messages(SCHEMA, question),
                                                  GenParams()))
    assert with_content.ok and with_content.text == plain.text


def test_a_missing_or_foreign_database_gives_the_plain_schema(tmp_path):
    question = "How many cities are in Arizona?"
    missing = render_messages(SCHEMA, question, db_path=str(tmp_path / "none.sqlite"),
                              content=PromptConfig())
    assert missing == render_messages(SCHEMA, question)
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE unrelated (x TEXT)")
    assert render_messages(SCHEMA, question, db_path=str(other),
                           content=PromptConfig()) == render_messages(SCHEMA, question)


def test_the_export_and_the_student_eval_show_what_the_teacher_saw(tmp_path):
    """One render: the teacher's messages (its cache key), the exported training prompt and the
    student's evaluation prompt are the same text, database content included."""
    import json

    from loopback_server import LoopbackServer

    from fastdistill_tui import cli
    from fastdistill_tui.core.datasets.jsonl import JsonlDataset
    from fastdistill_tui.core.stages.student_eval import eval_items

    root = tmp_path / "data"
    root.mkdir()
    db = root / "states.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE state (name TEXT, area REAL, capital TEXT)")
        conn.executemany("INSERT INTO state VALUES (?, ?, ?)", STATES)
    rows = [{"question": f"What is the capital of {name.title()}?", "db": "states.sqlite",
             "sql": f"SELECT capital FROM state WHERE name = '{name}'"} for name, _, _ in STATES]
    (root / "q.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    seen = {}

    def respond(messages):
        question = parse_prompt(messages)[1]
        seen[question] = messages
        return next(r["sql"] for r in rows if r["question"] == question)

    with LoopbackServer(responder=respond) as srv:
        assert cli.main(["run", "--headless", "--no-student", "--dataset", f"jsonl:{root}/q.jsonl",
                         "--teacher", "openai:m", "--base-url", srv.base_url,
                         "--override-gate", "teacher_eval"]) == 0
    assert all("state.name: '" in user(m) for m in seen.values())  # the stored, lower case
    run_dir = next((cli.cfg.Config().runs_dir).iterdir())
    exported = [json.loads(line)["messages"] for split in ("train", "valid")
                for line in (run_dir / "mlx" / f"{split}.jsonl").read_text().splitlines()]
    assert len(exported) == len(STATES)
    for messages in exported:
        assert messages[:-1] == seen[parse_prompt(messages[:-1])[1]]
    examples = list(JsonlDataset(root / "q.jsonl").iter_examples("q"))
    for item in eval_items(examples, PromptConfig()):
        assert item.messages == seen[item.example.question]
