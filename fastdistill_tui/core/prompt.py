"""The one place that turns (schema, question, evidence) into chat messages, and back.

Compact layout of the user message (parse_prompt reads it back):

    Database: concert_singer
    Schema:
    stadion(stadion_id integer, name text, "max capacity" real)
    konzert(konzert_id integer, stadion_id text -> stadion.stadion_id)
    Example rows:
      stadion: (1, 'raith rovers', 10104.0), (2, 'ayr united', 11998.0)
    Values like the question's words:
      stadion.name: 'raith rovers'
    Evidence: <only when there is evidence>
    Question: <question>

One line per table, `column type` pairs, a foreign key as `-> table.column` after its column;
identifiers are double-quoted only where SQLite needs it. The two database sections (only with
a database file and [prompt] db_content on) show rows in the schema's column order and, per
text column, the stored values sharing words with the question; their lines are indented, so
none reads as a `Question:` line. With them the types are the ones the database declares.
"""

from __future__ import annotations

import re
from dataclasses import replace
from functools import lru_cache

from .config import PromptConfig
from .db_content import DatabaseContent, database_content, show_value
from .types import Column, Schema, Table

SYSTEM_PROMPT = ("You translate questions into SQL for a SQLite database. Answer with one "
                 "SQLite SELECT statement only, no explanation.")

STYLES = ("compact", "create_table")
ROWS_HEADER = "Example rows:"
VALUES_HEADER = "Values like the question's words:"
CONTENT_HEADERS = (ROWS_HEADER, VALUES_HEADER)

# https://sqlite.org/lang_keywords.html
SQLITE_KEYWORDS = frozenset("""
ABORT ACTION ADD AFTER ALL ALTER ALWAYS ANALYZE AND AS ASC ATTACH AUTOINCREMENT BEFORE BEGIN
BETWEEN BY CASCADE CASE CAST CHECK COLLATE COLUMN COMMIT CONFLICT CONSTRAINT CREATE CROSS
CURRENT CURRENT_DATE CURRENT_TIME CURRENT_TIMESTAMP DATABASE DEFAULT DEFERRABLE DEFERRED DELETE
DESC DETACH DISTINCT DO DROP EACH ELSE END ESCAPE EXCEPT EXCLUDE EXCLUSIVE EXISTS EXPLAIN FAIL
FILTER FIRST FOLLOWING FOR FOREIGN FROM FULL GENERATED GLOB GROUP GROUPS HAVING IF IGNORE
IMMEDIATE IN INDEX INDEXED INITIALLY INNER INSERT INSTEAD INTERSECT INTO IS ISNULL JOIN KEY LAST
LEFT LIKE LIMIT MATCH MATERIALIZED NATURAL NO NOT NOTHING NOTNULL NULL NULLS OF OFFSET ON OR
ORDER OTHERS OUTER OVER PARTITION PLAN PRAGMA PRECEDING PRIMARY QUERY RAISE RANGE RECURSIVE
REFERENCES REGEXP REINDEX RELEASE RENAME REPLACE RESTRICT RETURNING RIGHT ROLLBACK ROW ROWS
SAVEPOINT SELECT SET TABLE TEMP TEMPORARY THEN TIES TO TRANSACTION TRIGGER UNBOUNDED UNION
UNIQUE UPDATE USING VACUUM VALUES VIEW VIRTUAL WHEN WHERE WINDOW WITH WITHOUT
""".split())

_BARE_IDENT = re.compile(r"[^\W\d]\w*\Z")


class PromptFormatError(ValueError):
    """Messages that are not a compact-style prompt rendered by render_messages."""


def quote_ident(name: str) -> str:
    """name as SQLite reads it: bare when it is a plain non-keyword identifier, else quoted."""
    if _BARE_IDENT.match(name) and name.upper() not in SQLITE_KEYWORDS:
        return name
    return '"' + name.replace('"', '""') + '"'


def quote_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _foreign_keys_by_column(schema: Schema) -> dict[tuple[str, str], list[tuple[str, str]]]:
    refs: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for table, column, ref_table, ref_column in schema.foreign_keys:
        refs.setdefault((table, column), []).append((ref_table, ref_column))
    return refs


@lru_cache(maxsize=1024)  # few schemas, many questions; Schema caches its own hash
def compact_schema(schema: Schema) -> str:
    refs = _foreign_keys_by_column(schema)
    lines = []
    for table in schema.tables:
        parts = []
        for column in table.columns:
            part = quote_ident(column.name)
            if column.type:
                part += " " + column.type
            for ref_table, ref_column in refs.get((table.name, column.name), ()):
                part += f" -> {quote_ident(ref_table)}.{quote_ident(ref_column)}"
            parts.append(part)
        lines.append(f"{quote_ident(table.name)}({', '.join(parts)})")
    return "\n".join(lines)


@lru_cache(maxsize=1024)
def create_table_schema(schema: Schema) -> str:
    """The same schema as CREATE TABLE statements (the common, wordier prompt format)."""
    refs = _foreign_keys_by_column(schema)
    statements = []
    for table in schema.tables:
        lines = [f"  {quote_ident(c.name)} {c.type}".rstrip() for c in table.columns]
        for column in table.columns:
            for ref_table, ref_column in refs.get((table.name, column.name), ()):
                lines.append(f"  FOREIGN KEY ({quote_ident(column.name)}) REFERENCES "
                             f"{quote_ident(ref_table)}({quote_ident(ref_column)})")
        statements.append(f"CREATE TABLE {quote_ident(table.name)} (\n" + ",\n".join(lines)
                          + "\n);")
    return "\n".join(statements)


def render_messages(schema: Schema, question: str, evidence: str = "", *,
                    style: str = "compact", db_path: str = "",
                    content: PromptConfig | None = None) -> list[dict[str, str]]:
    """The chat messages for one question; with db_path and content (db_content on), the
    database's types, example rows and values like the question's words, within
    content.budget_tokens."""
    sections: list[str] = []
    if db_path and content is not None and content.db_content:
        db = database_content(db_path, schema, content.example_rows)
        schema = typed_schema(schema, db)
        sections = content_sections(schema, db, question, content)
    if style == "compact":
        schema_text = compact_schema(schema)
    elif style == "create_table":
        schema_text = create_table_schema(schema)
    else:
        raise ValueError(f"unknown prompt style {style!r}; expected one of {STYLES}")
    lines = [f"Database: {schema.db_id}", "Schema:", schema_text, *sections]
    if evidence.strip():
        lines.append(f"Evidence: {evidence.strip()}")
    lines.append(f"Question: {question.strip()}")
    return [{"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": "\n".join(lines)}]


def typed_schema(schema: Schema, db: DatabaseContent) -> Schema:
    """schema with each column's type as the database declares it (where it declares one)."""
    if not db.types:
        return schema
    tables = tuple(replace(t, columns=tuple(
        Column(c.name, db.types.get((t.name, c.name), c.type)) for c in t.columns))
        for t in schema.tables)
    return replace(schema, tables=tables)


def content_sections(schema: Schema, db: DatabaseContent, question: str,
                     content: PromptConfig) -> list[str]:
    """The example-rows and values lines, filled within the token budget: values first (they
    are what the question names), then rows, one row of every table before the next rows."""
    budget = content.budget_tokens
    used = 0

    def fits(line: str) -> bool:
        nonlocal used
        cost = count_tokens(line) + 1  # the line break
        if used + cost > budget:
            return False
        used += cost
        return True

    values: dict[tuple[str, str], list[str]] = {}
    if content.value_hints:
        for _, value in db.matching_values(question):
            shown = values.setdefault((value.table, value.column), [])
            if len(shown) < content.value_hints:
                shown.append(show_value(value.text))
    value_lines = []
    header_cost = count_tokens(VALUES_HEADER) + 1
    if values and used + header_cost <= budget:
        used += header_cost
        for (table, column), shown in values.items():  # best-matching columns first
            for n in range(len(shown), 0, -1):  # as many of its values as fit
                line = f"  {quote_ident(table)}.{quote_ident(column)}: {', '.join(shown[:n])}"
                if fits(line):
                    value_lines.append(line)
                    break
        if not value_lines:
            used -= header_cost
    row_lines = _row_lines(schema, db, budget - used - count_tokens(ROWS_HEADER) - 1)
    sections = [ROWS_HEADER, *row_lines] if row_lines else []
    if value_lines:
        sections += [VALUES_HEADER, *value_lines]
    return sections


@lru_cache(maxsize=1024)  # a database's rows are shown alike in every prompt of it
def _row_lines(schema: Schema, db: DatabaseContent, budget: int) -> tuple[str, ...]:
    shown: dict[str, list[str]] = {t.name: [] for t in schema.tables if db.rows.get(t.name)}
    used = 0
    for i in range(max((len(r) for r in db.rows.values()), default=0)):
        for table in shown:
            rows = db.rows[table]
            if i >= len(rows) or len(shown[table]) < i:
                continue  # this table's earlier row did not fit: its lines stay short
            row = "(" + ", ".join(show_value(v) for v in rows[i]) + ")"
            # a table's first row opens its line; each later one adds ", (...)" to it
            cost = count_tokens(row) + (count_tokens(f"  {quote_ident(table)}: ") + 1
                                        if i == 0 else 1)
            if used + cost > budget:
                continue
            used += cost
            shown[table].append(row)
    return tuple(f"  {quote_ident(t)}: {', '.join(rows)}" for t, rows in shown.items() if rows)


def render_student_target(sql: str) -> str:
    """The assistant message a student is trained to produce: the SQL alone."""
    return sql.strip()


_TOKEN = re.compile(r'"(?:[^"]|"")*"|[^\W\d]\w*|->|[(),.]|\S')


def _unquote(token: str) -> str:
    return token[1:-1].replace('""', '"') if token.startswith('"') else token


class _TableLineParser:
    """Reads one compact schema line: name(col type -> ref.col, ...)."""

    def __init__(self, line: str, lineno: int) -> None:
        self.line, self.lineno = line, lineno
        self.tokens = _TOKEN.findall(line)

    def fail(self, what: str) -> PromptFormatError:
        return PromptFormatError(f"schema line {self.lineno}: {what}: {self.line!r} "
                                 "(only the compact style can be parsed)")

    def ident(self, pos: int) -> str:
        token = self.tokens[pos]
        if not (token.startswith('"') or _BARE_IDENT.match(token)):
            raise self.fail("expected an identifier")
        return _unquote(token)

    def parse(self) -> tuple[Table, list[tuple[str, str, str, str]]]:
        try:
            return self._parse()
        except IndexError:
            raise self.fail("unexpected end of line") from None

    def _parse(self) -> tuple[Table, list[tuple[str, str, str, str]]]:
        tokens = self.tokens
        name = self.ident(0)
        if len(tokens) < 3 or tokens[1] != "(" or tokens[-1] != ")":
            raise self.fail("expected name(columns)")
        columns: list[Column] = []
        foreign_keys: list[tuple[str, str, str, str]] = []
        pos = 2
        while pos < len(tokens) - 1:
            column = self.ident(pos)
            pos += 1
            col_type = ""
            if _BARE_IDENT.match(tokens[pos]):
                col_type = tokens[pos]
                pos += 1
            while tokens[pos] == "->":
                if tokens[pos + 2] != ".":
                    raise self.fail("expected -> table.column")
                foreign_keys.append((name, column, self.ident(pos + 1), self.ident(pos + 3)))
                pos += 4
            columns.append(Column(column, col_type))
            if tokens[pos] == ",":
                pos += 1
            elif pos != len(tokens) - 1:
                raise self.fail(f"unexpected {tokens[pos]!r}")
        return Table(name, tuple(columns)), foreign_keys


def parse_prompt(messages: list[dict[str, str]]) -> tuple[Schema, str]:
    """(schema, question) from compact-style messages: exactly what an LLM is shown.

    Evidence, when present, is appended to the question after a newline.
    """
    user = next((m.get("content", "") for m in reversed(messages) if m.get("role") == "user"),
                None)
    if user is None:
        raise PromptFormatError("no user message")
    lines = user.split("\n")
    if len(lines) < 3 or not lines[0].startswith("Database: ") or lines[1] != "Schema:":
        raise PromptFormatError("the user message does not start with 'Database:' and "
                                "'Schema:' lines (only the compact style can be parsed)")
    db_id = lines[0][len("Database: "):]
    tables: list[Table] = []
    foreign_keys: list[tuple[str, str, str, str]] = []
    pos = 2
    while (pos < len(lines) and not lines[pos].startswith(("Evidence: ", "Question: "))
           and lines[pos] not in CONTENT_HEADERS):
        table, fks = _TableLineParser(lines[pos], pos + 1).parse()
        tables.append(table)
        foreign_keys.extend(fks)
        pos += 1
    while pos < len(lines) and (lines[pos] in CONTENT_HEADERS or lines[pos].startswith("  ")):
        pos += 1  # the database content: an LLM reads it, the schema parse does not need it
    evidence: list[str] = []
    if pos < len(lines) and lines[pos].startswith("Evidence: "):
        evidence.append(lines[pos][len("Evidence: "):])
        pos += 1
        while pos < len(lines) and not lines[pos].startswith("Question: "):
            evidence.append(lines[pos])
            pos += 1
    if pos >= len(lines):
        raise PromptFormatError("no 'Question:' line")
    question = "\n".join([lines[pos][len("Question: "):]] + lines[pos + 1:])
    if evidence:
        question += "\n" + "\n".join(evidence)
    schema = Schema(db_id=db_id, tables=tuple(tables), foreign_keys=tuple(foreign_keys))
    return schema, question


# Approximate BPE token count: letter runs cost one token per started 6 letters (common words
# are one token, long identifiers split), digits go in groups of up to three (as GPT-4/Llama-3
# tokenizers do), every other non-space character is one token, a line break (with the
# indentation after it) is one token, and spaces are free (BPE merges a leading space into the
# next word).
_COUNT_PIECES = re.compile(r"[A-Za-z]+|[0-9]{1,3}|\n[ \t]*|[^\sA-Za-z0-9]")
MESSAGE_OVERHEAD_TOKENS = 4  # role and delimiters a chat template adds around each message


def count_tokens(text: str) -> int:
    """No piece spans a line break except the break itself, so lines count separately (and
    schema lines, repeated in every prompt, come from the cache)."""
    return sum(map(_count_line_tokens, text.split("\n"))) + text.count("\n")


@lru_cache(maxsize=65536)
def _count_line_tokens(line: str) -> int:
    total = 0
    for piece in _COUNT_PIECES.findall(line):
        total += (len(piece) + 5) // 6 if piece[0].isascii() and piece[0].isalpha() else 1
    return total


def prompt_tokens(messages: list[dict[str, str]]) -> int:
    return sum(count_tokens(m.get("content", "")) + MESSAGE_OVERHEAD_TOKENS for m in messages)
