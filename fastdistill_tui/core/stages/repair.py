"""repair: an answer that yields no SQL, fails the rules (does not parse, not one SELECT) or fails
to execute (a timeout apart: it depends on load), or runs and returns no rows where the gold
has rows, is asked once more: the same conversation plus the teacher's answer and a turn that
says what went wrong — the error (for "no such table/column" with the tables, or the columns
of the tables the query names), or the empty result and, for each text literal the query
compares a column with, the values that column stores closest to it (a teacher that wrote
'Arizona' where the database says 'arizona' sees the stored spelling). Values come from the
database through the evaluator's sandbox, in a fixed order, so the repair prompt — and its
cache key — is the same on every run.

Once per sample, and only when due: a gold match, a non-empty result that differs from gold, an
empty gold, or a teacher failure (timeout, …) is not repaired. The repaired answer replaces the
first unless it is worse (answer_rounds.rank); both turns are cache entries, so a resume asks
neither again. Samples that went through the k candidates are repaired from the kept one.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp

from ..sql.evaluator import Evaluator
from ..types import Completion, Schema
from .base import WorkItem
from .context import StepContext
from .trial import keep, rank, trial

VALUES_PER_LITERAL = 5
MAX_LITERALS = 4
ASK = "Write the corrected SQLite query. Answer with the SQL only."


def why_due(judged: WorkItem) -> str | None:
    """The reason a repair is due for this trial, or None."""
    if not isinstance(judged.answer, Completion):
        return None
    if judged.rejected_at in ("clean", "rules", "execeval") and judged.reason != "timeout":
        return judged.reason or judged.rejected_at  # (a timeout depends on load: not the SQL's)
    outcome = judged.outcome
    if outcome is not None and outcome.exec_ok and outcome.pred_empty and not outcome.gold_empty:
        return "empty_result"
    return None


def feedback(judged: WorkItem, why: str, names: list[str], values: list[str]) -> str:
    if judged.rejected_at == "clean":
        said = "That answer contained no SQL query."
    elif judged.rejected_at == "rules":
        said = f"That query was rejected ({why}): {judged.detail}".rstrip(": ")
    elif judged.rejected_at == "execeval":
        said = f"That query failed in SQLite ({why}): {judged.detail}".rstrip(": ")
    else:
        said = "That query ran but returned no rows, yet this question has an answer here."
    lines = [said, *names]
    if values:
        lines += ["Values stored in the columns it compares:", *values]
    lines.append(ASK)
    return "\n".join(lines)


def compared_literals(sql: str, schema: Schema) -> list[tuple[str, str, str]]:
    """(table, column, literal) for each column the query compares with a text literal
    (=, !=, LIKE, IN), the column's table resolved through aliases or the schema."""
    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError, ValueError):
        return []
    if tree is None:
        return []
    aliases = {t.alias_or_name.lower(): t.name for t in tree.find_all(exp.Table)}
    tables = {t.name.lower(): t for t in schema.tables}
    in_query = [tables[name.lower()] for name in aliases.values() if name.lower() in tables]
    found: list[tuple[str, str, str]] = []
    for node in tree.find_all(exp.EQ, exp.NEQ, exp.Like, exp.ILike, exp.In):
        sides = [node.this, *(node.expressions if isinstance(node, exp.In) else
                              [node.expression])]
        columns = [s for s in sides if isinstance(s, exp.Column)]
        literals = [s for s in sides if isinstance(s, exp.Literal) and s.is_string]
        if len(columns) != 1 or not literals:
            continue
        column = columns[0]
        if column.table:
            table = tables.get(aliases.get(column.table.lower(), column.table).lower())
        else:
            table = next((t for t in in_query
                          if any(c.name.lower() == column.name.lower() for c in t.columns)),
                         None)
        if table is None:
            continue
        name = next((c.name for c in table.columns if c.name.lower() == column.name.lower()),
                    None)
        if name is None:
            continue
        for literal in literals:
            entry = (table.name, name, literal.this)
            if entry not in found:
                found.append(entry)
    return found[:MAX_LITERALS]


def schema_lines(sql: str, detail: str, schema: Schema) -> list[str]:
    """For "no such table/column" errors, the names that do exist: the tables, or the columns
    of the tables the query names (all tables when it names none that exist)."""
    if "no such table" in detail:
        return ["Tables: " + ", ".join(t.name for t in schema.tables)]
    if "no such column" not in detail:
        return []
    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
        named = {t.name.lower() for t in tree.find_all(exp.Table)} if tree else set()
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError, ValueError):
        named = set()
    tables = [t for t in schema.tables if t.name.lower() in named] or list(schema.tables)
    return [f"Columns of {t.name}: " + ", ".join(c.name for c in t.columns) for t in tables]


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


async def stored_values(evaluator: Evaluator, db_path: str, table: str, column: str,
                        literal: str) -> list[str]:
    """Up to VALUES_PER_LITERAL distinct values of the column: those containing the literal
    (case-insensitively), else those containing any of its words, else the first ones."""
    col, tab = _quote(column), _quote(table)
    words = [w.strip("%_") for w in literal.split() if len(w.strip("%_")) >= 3]
    patterns = [[literal.strip("%_")], words]
    for group in patterns:
        group = [g for g in group if g]
        if not group:
            continue
        where = " OR ".join(f"lower(CAST({col} AS TEXT)) LIKE lower({_text('%' + g + '%')})"
                            for g in group)
        result = await evaluator.lookup(
            db_path, f"SELECT DISTINCT {col} FROM {tab} WHERE {where} ORDER BY 1 "
                     f"LIMIT {VALUES_PER_LITERAL}")
        if result.ok and result.rows:
            return [str(row[0]) for row in result.rows]
    result = await evaluator.lookup(
        db_path, f"SELECT DISTINCT {col} FROM {tab} WHERE {col} IS NOT NULL ORDER BY 1 "
                 f"LIMIT {VALUES_PER_LITERAL}")
    return [str(row[0]) for row in result.rows] if result.ok else []


async def messages_for(item: WorkItem, judged: WorkItem, why: str,
                       evaluator: Evaluator) -> list[dict[str, str]]:
    names = (schema_lines(judged.sql, judged.detail, item.example.schema)
             if judged.sql and judged.rejected_at == "execeval" else [])
    values = []
    if judged.sql and (why == "empty_result" or judged.rejected_at == "execeval"):
        for table, column, literal in compared_literals(judged.sql, item.example.schema):
            stored = await stored_values(evaluator, item.example.db_path, table, column,
                                         literal)
            if stored:
                values.append(f"{table}.{column} (you wrote {_text(literal)}): "
                              + ", ".join(_text(v) for v in stored))
    return [*item.messages, {"role": "assistant", "content": judged.answer.text},
            {"role": "user", "content": feedback(judged, why, names, values)}]


async def step(item: WorkItem, ctx: StepContext) -> None:
    """Repair the sample's answer if due (judged by the trial the candidates left, else a new
    one); a stop before the repair's answer rejects the sample as teacher_cancelled (not
    stored: left for the resume)."""
    rounds = ctx.rounds
    if rounds is None or not rounds.repair or not item.example.has_gold:
        return  # without gold SQL the agreement stage has asked its k answers
    judged = item.trial
    if judged is None or judged.answer is not item.answer:
        judged = await trial(item, item.answer, ctx.evaluator, ctx.rules.check)
    why = why_due(judged)
    if why is None:
        return
    teacher = rounds.teacher
    messages = await messages_for(item, judged, why, ctx.evaluator)
    key = teacher.key_for(messages, teacher.params)
    answer = await teacher.answer(key, messages, teacher.params)
    if not answer.ok and answer.reason == "cancelled":
        item.reject("teacher", "teacher_cancelled", answer.detail)
        return
    repaired = await trial(item, answer, ctx.evaluator, ctx.rules.check)
    kept = isinstance(answer, Completion) and rank(repaired) >= rank(judged)
    item.rounds["repair"] = {"from": item.cache_key, "key": key, "why": why,
                             "gold_match": rank(repaired) == 4, "kept": kept}
    if kept:
        keep(item, answer, key)
