"""The builtin offline teacher: a Provider that reads only the prompt and answers with SQL."""

from __future__ import annotations

import builtins
import sqlite3
from collections import Counter

import pytest

from fastdistill_tui.core.prompt import count_tokens, prompt_tokens, render_messages
from fastdistill_tui.core.providers.base import Provider
from fastdistill_tui.core.providers.builtin import BuiltinTeacher, text_to_sql, tokenize
from fastdistill_tui.core.types import Column, Completion, Failure, GenParams, Schema, Table

PEAKS = Table("peaks", (Column("Peak", "text"), Column("Country", "text"),
                        Column("Height (m)", "real"), Column("First ascent", "real"),
                        Column("Mountain range", "text")))
RIVERS = Table("rivers", (Column("River", "text"), Column("Length (km)", "real"),
                          Column("Outflow", "text")))
SCHEMA = Schema("geo", (PEAKS, RIVERS))
ROWS = [("Everest", "Nepal", 8849, 1953, "Himalayas"), ("K2", "Pakistan", 8611, 1954,
                                                          "Karakoram"),
        ("Mont Blanc", "France", 4806, 1786, "Alps"), ("Aconcagua", "Argentina", 6961, 1897,
                                                      "Andes"),
        ("Denali", "United States", 6190, 1913, "Alaska Range"),
        ("Matterhorn", "Switzerland", 4478, 1865, "Alps")]
RIVER_ROWS = [("Nile", 6650, "Mediterranean Sea"), ("Danube", 2850, "Black Sea"),
              ("Rhine", 1230, "North Sea")]

# Written by hand, not in the bundled set's phrasings: (question, gold SQL)
QUESTIONS = [
    ("How many peaks are in the Alps?",
     "SELECT COUNT(*) FROM peaks WHERE \"Mountain range\" = 'Alps'"),
    ("What is the height of Mont Blanc?",
     "SELECT \"Height (m)\" FROM peaks WHERE Peak = 'Mont Blanc'"),
    ("Which peak has a first ascent before 1800?",
     "SELECT Peak FROM peaks WHERE \"First ascent\" < 1800"),
    ("What is the average height of peaks in the Alps?",
     "SELECT AVG(\"Height (m)\") FROM peaks WHERE \"Mountain range\" = 'Alps'"),
    ("What is the highest first ascent for the country Pakistan?",
     "SELECT MAX(\"First ascent\") FROM peaks WHERE Country = 'Pakistan'"),
    ("Name the peak whose country is France.",
     "SELECT Peak FROM peaks WHERE Country = 'France'"),
    ("Which country has the mountain range Andes?",
     "SELECT Country FROM peaks WHERE \"Mountain range\" = 'Andes'"),
    ("What is the lowest height among peaks with a first ascent after 1900?",
     "SELECT MIN(\"Height (m)\") FROM peaks WHERE \"First ascent\" > 1900"),
    ("What is the total length of rivers flowing into the \"Black Sea\"?",
     "SELECT SUM(\"Length (km)\") FROM rivers WHERE Outflow = 'Black Sea'"),
    ("Which river has a length over 2,000 km and outflow Mediterranean Sea?",
     "SELECT River FROM rivers WHERE \"Length (km)\" > 2000 AND Outflow = 'Mediterranean Sea'"),
    ("How many rivers have a length less than 3000?",
     "SELECT COUNT(River) FROM rivers WHERE \"Length (km)\" < 3000"),
    ("Tell me the outflow of the Rhine.",
     "SELECT Outflow FROM rivers WHERE River = 'Rhine'"),
]


@pytest.fixture(scope="module")
def geo_db(tmp_path_factory):
    conn = sqlite3.connect(":memory:")
    conn.execute('CREATE TABLE peaks (Peak TEXT, Country TEXT, "Height (m)" REAL, '
                 '"First ascent" REAL, "Mountain range" TEXT)')
    conn.executemany("INSERT INTO peaks VALUES (?, ?, ?, ?, ?)", ROWS)
    conn.execute('CREATE TABLE rivers (River TEXT, "Length (km)" REAL, Outflow TEXT)')
    conn.executemany("INSERT INTO rivers VALUES (?, ?, ?)", RIVER_ROWS)
    yield conn
    conn.close()


async def test_answers_through_the_provider_interface():
    teacher = BuiltinTeacher()
    assert isinstance(teacher, Provider)
    assert (teacher.name, teacher.model) == ("builtin", "rules-v1")
    messages = render_messages(SCHEMA, "How many rivers have a length less than 3000?")
    answer = await teacher.complete(messages, GenParams())
    assert isinstance(answer, Completion) and answer.ok
    assert answer.text == 'SELECT COUNT(River) FROM rivers WHERE "Length (km)" < 3000'
    assert answer.tokens_in == prompt_tokens(messages)
    assert answer.tokens_out == count_tokens(answer.text)
    assert answer.cost == 0.0
    await teacher.aclose()


async def test_never_touches_files_or_databases(monkeypatch):
    """The prompt is all it reads: opening any file or database during complete() fails."""
    def forbidden(*args, **kwargs):
        raise AssertionError(f"the builtin teacher opened {args[:1]}")

    messages = render_messages(SCHEMA, "What is the height of Mont Blanc?")
    monkeypatch.setattr(sqlite3, "connect", forbidden)
    monkeypatch.setattr(builtins, "open", forbidden)
    answer = await BuiltinTeacher().complete(messages, GenParams())
    assert answer.text == "SELECT \"Height (m)\" FROM peaks WHERE Peak = 'Mont Blanc'"


async def test_unreadable_prompt_is_a_failure_not_an_exception():
    answer = await BuiltinTeacher().complete([{"role": "user", "content": "hello"}],
                                             GenParams())
    assert isinstance(answer, Failure)
    assert answer.reason == "error" and "prompt" in answer.detail
    empty = await BuiltinTeacher().complete(render_messages(Schema("x", ()), "q?"),
                                            GenParams())
    assert isinstance(empty, Failure) and empty.reason == "error"


def test_always_returns_a_select():
    for question in ("", "???", "Tell me something.", "Wie viele Flüsse gibt es?"):
        assert text_to_sql(SCHEMA, question).startswith("SELECT ")


@pytest.mark.parametrize("question,expected", [
    ("How many peaks are there?", "SELECT COUNT(Peak) FROM peaks"),
    ("What is the number of peaks with height above 8000?",
     'SELECT COUNT(Peak) FROM peaks WHERE "Height (m)" > 8000'),
    ("How many are there?", "SELECT COUNT(*) FROM peaks"),
    ("What is the maximum height when country is Nepal?",
     "SELECT MAX(\"Height (m)\") FROM peaks WHERE Country = 'Nepal'"),
    ("What is the smallest height when the mountain range is Alps?",
     "SELECT MIN(\"Height (m)\") FROM peaks WHERE \"Mountain range\" = 'Alps'"),
    ("What is the sum of length (km) when outflow is North Sea?",
     "SELECT SUM(\"Length (km)\") FROM rivers WHERE Outflow = 'North Sea'"),
    ("What is the mean length of rivers?", 'SELECT AVG("Length (km)") FROM rivers'),
])
def test_keywords_map_to_aggregations_and_comparisons(question, expected):
    assert text_to_sql(SCHEMA, question) == expected


def test_tokenizer_keeps_numbers_and_quotes_whole():
    tokens = [(t.text, t.kind) for t in tokenize('Over 45,320 in "New York" (km²)?')]
    assert tokens == [("Over", "word"), ("45,320", "number"), ("in", "word"),
                      ('"New York"', "quoted"), ("(", "punct"), ("km²", "word"),
                      (")", "punct"), ("?", "punct")]


def test_gets_most_hand_written_questions_right(geo_db):
    def result(sql):
        return Counter(geo_db.execute(sql).fetchall())

    """More than half. Known misses, all from reading no rows: "in the Alps" without a column
    word goes to the first free text column (Country); "outflow of the Rhine" reads as a
    condition on outflow."""
    right = [question for question, gold in QUESTIONS
             if result(text_to_sql(SCHEMA, question)) == result(gold)]
    assert len(right) > len(QUESTIONS) / 2, sorted(set(q for q, _ in QUESTIONS) - set(right))
