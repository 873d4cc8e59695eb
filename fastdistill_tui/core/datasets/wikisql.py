"""WikiSQL: `<split>.jsonl` questions with logical forms over `<split>.tables.jsonl` tables.

The SQLite files the SQL runs on are built here, once per tables file (keyed by its content
hash), with the real headers as column names so that teachers see meaningful names. They are
shards of SHARD_TABLES tables: SQLite re-reads its schema table on every CREATE TABLE, so one
file of WikiSQL's ~18,000 train tables took minutes to build (quadratic). Gold SQL is
rendered from the logical form with the official semantics (lib/query.py of
salesforce/WikiSQL): string values lowercased, numbers for real columns (sql/wikisql.py's
operator tables and number parsing, the ones the official metrics use). Text columns compare
case-insensitively over all of Unicode (COLLATE NOCASE_UNICODE, see sql/unicode_case.py), as the
official evaluation does with its lowercased cells: SQLite's NOCASE folds ASCII only.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..sql.identifiers import quote_ident, quote_string
from ..sql import unicode_case
from ..sql.wikisql import AGG_OPS, COND_OPS, parse_number, to_real
from ..types import Column, Example, Schema, Table
from ..artifacts import file_sha256
from .base import (TASK_ID, Dataset, count_lines, empty_split_error, get_field,
                   open_dataset_db, read_jsonl, require_file)

COLUMN_TYPES = ("text", "real")
BUILD_VERSION = 3  # bump when the built database layout changes, so caches are rebuilt
SHARD_TABLES = 1000
META_TABLE = "_wikisql_tables"  # id -> table name, columns, types; read instead of re-parsing


@dataclass(frozen=True)
class WikiTable:
    id: str
    name: str  # SQLite table name: "table_" + id with "-" -> "_"
    columns: tuple[str, ...]  # de-duplicated headers, the SQLite column names
    types: tuple[str, ...]  # "text" | "real"
    db_path: str = ""  # the built shard holding the table

    @property
    def schema(self) -> Schema:
        return Schema(db_id=self.id, tables=(
            Table(self.name, tuple(Column(c, t) for c, t in zip(self.columns, self.types))),))


def table_name(table_id: str) -> str:
    return "table_" + table_id.replace("-", "_")


def column_names(headers: list[str]) -> tuple[str, ...]:
    """Headers made unique SQLite column names (inner whitespace collapsed): an empty header
    becomes col_<i>, a repeat
    (compared case-insensitively, as SQLite does) gets _<i> appended, i being its 0-based
    position."""
    names: list[str] = []
    used: set[str] = set()
    for index, header in enumerate(headers):
        name = " ".join(header.split()) or f"col_{index}"
        while name.lower() in used:
            name = f"{name}_{index}"
        used.add(name.lower())
        names.append(name)
    return tuple(names)


def _format_number(number: float) -> str:
    return str(int(number)) if number.is_integer() and abs(number) < 1e15 else repr(number)


def _cell_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float):
        return _format_number(value)
    return str(value)


def render_value(value: Any, column_type: str) -> str:
    """A condition value as a SQL literal, with the official lib's semantics: a real column
    compares numbers (thousands separators dropped, else the first number in the string);
    strings are lowercased."""
    if column_type == "real":
        number = to_real(value)
        if number is not None:
            return _format_number(number)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return quote_string(_format_number(float(value)))
    return quote_string(str(value).lower())


def render_gold_sql(table: WikiTable, sel: int, agg: int,
                    conds: list[tuple[int, int, Any]]) -> str:
    column = quote_ident(table.columns[sel])
    select = f"{AGG_OPS[agg]}({column})" if agg else column
    sql = f"SELECT {select} FROM {quote_ident(table.name)}"
    where = [f"{quote_ident(table.columns[col])} {COND_OPS[op]} "
             f"{render_value(value, table.types[col])}" for col, op, value in conds]
    if where:
        sql += " WHERE " + " AND ".join(where)
    return sql


def _read_table(row: dict[str, Any], path: Path, line: int) -> tuple[WikiTable, list[list[Any]]]:
    table_id = get_field(row, "id", str, path=path, line=line)
    headers = get_field(row, "header", list, path=path, line=line)
    types = get_field(row, "types", list, path=path, line=line)
    rows = get_field(row, "rows", list, path=path, line=line)
    if not headers:
        raise InputError("a table needs at least one column", path=str(path), line=line,
                         field="header")
    for index, header in enumerate(headers):
        if not isinstance(header, str):
            raise InputError(f"expected a string, got {header!r}", path=str(path), line=line,
                             field=f"header[{index}]")
    if len(types) != len(headers):
        raise InputError(f"{len(types)} types for {len(headers)} headers", path=str(path),
                         line=line, field="types")
    for index, col_type in enumerate(types):
        if col_type not in COLUMN_TYPES:
            raise InputError(f"unknown column type {col_type!r}", path=str(path), line=line,
                             field=f"types[{index}]", hint="WikiSQL types are text or real")
    for index, cells in enumerate(rows):
        if not isinstance(cells, list) or len(cells) != len(headers):
            raise InputError(f"expected a list of {len(headers)} cells", path=str(path),
                             line=line, field=f"rows[{index}]")
    table = WikiTable(table_id, table_name(table_id), column_names(headers), tuple(types))
    return table, rows


def _create_table(conn: sqlite3.Connection, table: WikiTable, rows: list[list[Any]]) -> None:
    columns = ", ".join(
        f"{quote_ident(name)} REAL" if col_type == "real"
        else f"{quote_ident(name)} TEXT COLLATE {unicode_case.COLLATION}"
        for name, col_type in zip(table.columns, table.types))
    conn.execute(f"CREATE TABLE {quote_ident(table.name)} ({columns})")
    converters = [parse_number if t == "real" else _cell_text for t in table.types]
    placeholders = ", ".join("?" for _ in table.columns)
    conn.executemany(f"INSERT INTO {quote_ident(table.name)} VALUES ({placeholders})",
                     ([convert(cell) for convert, cell in zip(converters, cells)]
                      for cells in rows))
    conn.execute(f"INSERT INTO {META_TABLE} VALUES (?, ?, ?, ?)",
                 (table.id, table.name, json.dumps(table.columns), json.dumps(table.types)))


def build_database(tables_file: Path, out_dir: Path) -> dict[str, WikiTable]:
    """Build the shards of out_dir from a tables file, in a temp dir renamed into place at the
    end: a failure leaves nothing."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.with_name(f"{out_dir.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    tables: dict[str, WikiTable] = {}
    by_name: dict[str, str] = {}
    conn: sqlite3.Connection | None = None
    try:
        for line, row in read_jsonl(tables_file):
            table, rows = _read_table(row, tables_file, line)
            if table.id in tables or table.name.lower() in by_name:
                other = by_name.get(table.name.lower(), table.id)
                raise InputError(f"table id {table.id!r} repeats (or maps to the same "
                                 f"SQLite table as) {other!r}", path=str(tables_file),
                                 line=line, field="id")
            if len(tables) % SHARD_TABLES == 0:
                _close_shard(conn)
                conn = _open_shard(tmp / f"tables-{len(tables) // SHARD_TABLES:04d}.db")
            shard = out_dir / f"tables-{len(tables) // SHARD_TABLES:04d}.db"
            table = dataclasses.replace(table, db_path=str(shard.resolve()))
            tables[table.id] = table
            by_name[table.name.lower()] = table.id
            _create_table(conn, table, rows)
        if not tables:
            raise InputError("contains no tables", path=str(tables_file), line=1,
                             hint="the file is empty")
        _close_shard(conn)
        conn = None
        os.replace(tmp, out_dir)
    except BaseException:
        if conn is not None:
            conn.close()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return tables


def _open_shard(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.create_collation(unicode_case.COLLATION, unicode_case.compare)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("BEGIN")
    conn.execute(f"CREATE TABLE {META_TABLE} (id TEXT PRIMARY KEY, name TEXT, "
                 "columns TEXT, types TEXT)")
    return conn


def _close_shard(conn: sqlite3.Connection | None) -> None:
    if conn is not None:
        conn.execute("COMMIT")
        conn.close()


def _read_meta(out_dir: Path) -> dict[str, WikiTable]:
    tables = {}
    for shard in sorted(out_dir.glob("tables-*.db")):
        conn = open_dataset_db(shard)
        try:
            for table_id, name, columns, types in conn.execute(
                    f"SELECT id, name, columns, types FROM {META_TABLE}"):
                tables[table_id] = WikiTable(table_id, name, tuple(json.loads(columns)),
                                             tuple(json.loads(types)), str(shard.resolve()))
        finally:
            conn.close()
    return tables


class WikiSQLDataset(Dataset):
    kind = "wikisql"

    def __init__(self, path: Path, *, cache_dir: Path, default_split: str = "train",
                 eval_preference: tuple[str, ...] = ("dev", "test")) -> None:
        self.path = Path(path).resolve()
        if not self.path.is_dir():
            raise InputError("WikiSQL directory not found", path=str(path),
                             hint="expected a directory with <split>.jsonl and "
                                  "<split>.tables.jsonl; `fastdistill data get wikisql` "
                                  "downloads one")
        self.cache_dir = Path(cache_dir)
        available = self.splits()
        if not available:
            raise InputError("no <split>.jsonl files", path=str(self.path),
                             hint="expected e.g. train.jsonl and train.tables.jsonl")
        self.default_split = default_split if default_split in available else available[0]
        self.default_eval_split = next((s for s in eval_preference if s in available),
                                       self.default_split)
        self._tables: dict[str, dict[str, WikiTable]] = {}

    def splits(self) -> list[str]:
        return sorted(p.name[: -len(".jsonl")] for p in self.path.glob("*.jsonl")
                      if not p.name.endswith(".tables.jsonl"))

    def split_file(self, split: str) -> Path:
        self.check_split(split)
        return self.path / f"{split}.jsonl"

    def count(self, split: str) -> int:
        return count_lines(self.split_file(split))

    def tables(self, split: str) -> dict[str, WikiTable]:
        """A split's tables, each with the built SQLite shard holding it (cached by the
        tables file's content hash)."""
        if split not in self._tables:
            tables_file = require_file(
                self.path / f"{split}.tables.jsonl", "tables file",
                hint=f"WikiSQL needs {split}.tables.jsonl beside {split}.jsonl")
            digest = file_sha256(tables_file)[:20]
            out_dir = self.cache_dir / "wikisql" / f"{split}-{digest}-v{BUILD_VERSION}"
            self._tables[split] = (_read_meta(out_dir) if out_dir.exists()
                                   else build_database(tables_file, out_dir))
        return self._tables[split]

    def iter_examples(self, split: str) -> Iterator[Example]:
        path = self.split_file(split)
        tables = self.tables(split)
        official_db = self.path / f"{split}.db"
        schemas: dict[str, Schema] = {}
        seen = False
        for line, row in read_jsonl(path):
            seen = True
            question = get_field(row, "question", str, path=path, line=line)
            table_id = get_field(row, "table_id", str, path=path, line=line)
            table = tables.get(table_id)
            if table is None:
                raise InputError(f"unknown table id {table_id!r}", path=str(path), line=line,
                                 field="table_id",
                                 hint=f"not in {split}.tables.jsonl")
            sel, agg, conds = _read_logical_form(row, table, path, line)
            if table_id not in schemas:
                schemas[table_id] = table.schema
            extra: dict[str, Any] = {"columns": list(table.columns), "table": table.name}
            if official_db.is_file():
                extra["official_db"] = str(official_db)
            yield Example(
                task_id=TASK_ID, question=question, schema=schemas[table_id],
                db_path=table.db_path, gold_sql=render_gold_sql(table, sel, agg, conds),
                source=f"{path}:{line}",
                logical_form={"sel": sel, "agg": agg, "conds": [list(c) for c in conds]},
                extra=extra)
        if not seen:
            raise empty_split_error(path)


def _read_logical_form(row: dict[str, Any], table: WikiTable, path: Path,
                       line: int) -> tuple[int, int, list[tuple[int, int, Any]]]:
    sql = get_field(row, "sql", dict, path=path, line=line)
    sel = get_field(sql, "sel", int, path=path, line=line, where="sql.")
    agg = get_field(sql, "agg", int, path=path, line=line, where="sql.")
    raw_conds = get_field(sql, "conds", list, path=path, line=line, where="sql.")
    width = len(table.columns)
    if not 0 <= sel < width:
        raise InputError(f"column index {sel} out of range (table has {width} columns)",
                         path=str(path), line=line, field="sql.sel")
    if not 0 <= agg < len(AGG_OPS):
        raise InputError(f"aggregation index {agg} out of range 0..{len(AGG_OPS) - 1}",
                         path=str(path), line=line, field="sql.agg")
    conds = []
    for index, cond in enumerate(raw_conds):
        where = f"sql.conds[{index}]"
        if (not isinstance(cond, list) or len(cond) != 3
                or not all(isinstance(x, int) and not isinstance(x, bool) for x in cond[:2])
                or not isinstance(cond[2], (str, int, float)) or isinstance(cond[2], bool)):
            raise InputError(f"expected [column, operator, value], got {cond!r}",
                             path=str(path), line=line, field=where)
        col, op, value = cond
        if not 0 <= col < width:
            raise InputError(f"column index {col} out of range (table has {width} columns)",
                             path=str(path), line=line, field=where)
        if not 0 <= op < len(COND_OPS) - 1:
            raise InputError(f"operator index {op} out of range 0..{len(COND_OPS) - 2}",
                             path=str(path), line=line, field=where,
                             hint="0 is =, 1 is >, 2 is <")
        conds.append((col, op, value))
    return sel, agg, conds
