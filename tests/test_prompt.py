"""Prompt rendering: the compact schema layout, its parser, quoting and token counts."""

from __future__ import annotations

import sqlite3

import pytest

from fastdistill_tui.core.datasets.jsonl import read_sqlite_schema
from fastdistill_tui.core.prompt import (PromptFormatError, compact_schema, count_tokens,
                                         create_table_schema, parse_prompt, prompt_tokens,
                                         quote_ident, render_messages, render_student_target)
from fastdistill_tui.core.types import Column, Schema, Table

AWKWARD = Schema(
    db_id="odd db",
    tables=(
        Table("sänger", (Column("sänger_id", "integer"), Column("name", "text"),
                         Column("alter", "integer"))),
        Table("order", (Column("Area (km²)", "real"), Column('say "hi"', "text"),
                        Column("group", ""), Column("2nd place", "text"),
                        Column("sänger_id", "integer"))),
        Table("Question: trap", (Column("Evidence: x", "text"), Column("a,b", "datetime"))),
    ),
    foreign_keys=(("order", "sänger_id", "sänger", "sänger_id"),
                  ("order", "sänger_id", "Question: trap", "a,b")),
)
PLAIN = Schema(
    db_id="world",
    tables=(Table("country", (Column("code", "text"), Column("name", "text"),
                              Column("population", "integer"), Column("surface_area", "real"))),
            Table("city", (Column("id", "integer"), Column("name", "text"),
                           Column("country_code", "text"), Column("population", "integer")))),
    foreign_keys=(("city", "country_code", "country", "code"),),
)


def test_quote_ident():
    assert quote_ident("singer") == "singer"
    assert quote_ident("sänger_id") == "sänger_id"
    assert quote_ident("order") == '"order"'
    assert quote_ident("Area (km²)") == '"Area (km²)"'
    assert quote_ident('say "hi"') == '"say ""hi"""'
    assert quote_ident("2nd") == '"2nd"'


def test_compact_layout():
    assert compact_schema(PLAIN) == (
        "country(code text, name text, population integer, surface_area real)\n"
        "city(id integer, name text, country_code text -> country.code, population integer)")
    system, user = render_messages(PLAIN, " How many cities? ", "city means a row of city")
    assert system["role"] == "system"
    assert "one SQLite SELECT statement only, no explanation" in system["content"]
    assert user == {"role": "user", "content": (
        "Database: world\nSchema:\n" + compact_schema(PLAIN)
        + "\nEvidence: city means a row of city\nQuestion: How many cities?")}


@pytest.mark.parametrize("schema", [AWKWARD, PLAIN])
def test_parse_prompt_inverts_render_messages(schema):
    messages = render_messages(schema, "Which rows?\nSecond line.")
    assert parse_prompt(messages) == (schema, "Which rows?\nSecond line.")
    with_evidence = render_messages(schema, "Which rows?", "alter means age")
    assert parse_prompt(with_evidence) == (schema, "Which rows?\nalter means age")


def test_create_table_rendering_is_valid_sqlite():
    conn = sqlite3.connect(":memory:")
    conn.executescript(create_table_schema(AWKWARD))
    names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master ORDER BY rowid")]
    assert names == ["sänger", "order", "Question: trap"]
    columns = [r[1] for r in conn.execute('PRAGMA table_info("order")')]
    assert columns == ["Area (km²)", 'say "hi"', "group", "2nd place", "sänger_id"]
    fks = conn.execute('PRAGMA foreign_key_list("order")').fetchall()
    assert sorted((r[2], r[3], r[4]) for r in fks) == [
        ("Question: trap", "sänger_id", "a,b"), ("sänger", "sänger_id", "sänger_id")]


def test_compact_schema_round_trips_through_a_real_database(tmp_path):
    db = tmp_path / "w.sqlite"
    conn = sqlite3.connect(db)
    conn.executescript(create_table_schema(PLAIN))
    conn.close()
    schema = read_sqlite_schema(db, "world")
    assert schema == PLAIN
    assert parse_prompt(render_messages(schema, "q"))[0] == PLAIN


def test_compact_uses_fewer_tokens_than_create_table():
    for schema in (AWKWARD, PLAIN):
        compact = prompt_tokens(render_messages(schema, "How many?"))
        create = prompt_tokens(render_messages(schema, "How many?", style="create_table"))
        assert compact < 0.85 * create


def test_parse_prompt_rejects_other_layouts():
    with pytest.raises(PromptFormatError, match="compact"):
        parse_prompt(render_messages(PLAIN, "q", style="create_table"))
    with pytest.raises(PromptFormatError, match="no user message"):
        parse_prompt([{"role": "system", "content": "x"}])
    broken = render_messages(PLAIN, "q")
    broken[1]["content"] = broken[1]["content"].replace("country(code", "country code")
    with pytest.raises(PromptFormatError, match="schema line 3"):
        parse_prompt(broken)
    with pytest.raises(ValueError, match="unknown prompt style"):
        render_messages(PLAIN, "q", style="xml")


def test_count_tokens_is_a_deterministic_bpe_approximation():
    assert count_tokens("") == 0
    assert count_tokens("SELECT name FROM singer") == 4
    assert count_tokens("stadion_id") == 4  # stad-ion, _, id
    assert count_tokens("population 1234567") == 2 + 3  # long word: 2; digits in threes
    assert count_tokens("Sänger") == 3  # non-ASCII letters count one each
    messages = [{"role": "system", "content": "a b"}, {"role": "user", "content": "c"}]
    assert prompt_tokens(messages) == 3 + 2 * 4


def test_student_target_is_the_sql_alone():
    assert render_student_target("  SELECT 1\n") == "SELECT 1"
