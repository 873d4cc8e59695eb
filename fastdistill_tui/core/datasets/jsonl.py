"""A JSONL file of {question, sql, db} rows (+ optional evidence, db_id). `sql` may be null or
left out on every row: questions without gold SQL (base.GoldField).

`db` is a SQLite file path relative to the JSONL file's directory, and must stay inside it (a
dataset from elsewhere must not read, and send to a teacher, the schema of any file on the
machine); the schema is read from the file itself (sqlite_master + PRAGMA table_info /
foreign_key_list), opened read-only. The single split is named after the file stem.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

from ..errors import InputError
from ..types import Column, Example, Schema, Table
from .base import (TASK_ID, Dataset, GoldField, count_lines, empty_split_error, get_field,
                   normalize_type, open_dataset_db, read_jsonl)


def read_sqlite_schema(db_path: Path, db_id: str) -> Schema:
    """The schema of a SQLite file (user tables only), opened read-only."""
    conn = open_dataset_db(db_path)
    try:
        names = [name for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY rowid")]
        tables = []
        foreign_keys = []
        for name in names:
            info = conn.execute("SELECT name, type FROM pragma_table_info(?) ORDER BY cid",
                                (name,)).fetchall()
            tables.append(Table(name, tuple(Column(col, normalize_type(declared or ""))
                                            for col, declared in info)))
            for ref_table, column, ref_column in conn.execute(
                    'SELECT "table", "from", "to" FROM pragma_foreign_key_list(?) '
                    "ORDER BY id, seq", (name,)):
                foreign_keys.append((name, column, ref_table, ref_column or ""))
    finally:
        conn.close()
    return Schema(db_id=db_id, tables=tuple(tables), foreign_keys=tuple(foreign_keys))


class JsonlDataset(Dataset):
    kind = "jsonl"

    def __init__(self, path: Path) -> None:
        self.path = Path(path).resolve()
        if not self.path.is_file():
            raise InputError("JSONL file not found", path=str(path),
                             hint="expected a file of {question, sql, db} rows")
        self.default_split = self.default_eval_split = self.path.stem

    def splits(self) -> list[str]:
        return [self.path.stem]

    def count(self, split: str) -> int:
        self.check_split(split)
        return count_lines(self.path)

    def iter_examples(self, split: str) -> Iterator[Example]:
        self.check_split(split)
        schemas: dict[tuple[Path, str], Schema] = {}
        resolved: dict[str, Path] = {}  # a file names few databases: resolve each once
        seen = False
        gold = GoldField("sql")
        for line, row in read_jsonl(self.path):
            seen = True
            question = get_field(row, "question", str, path=self.path, line=line)
            sql = gold.read(row, path=self.path, line=line)
            db = get_field(row, "db", str, path=self.path, line=line)
            evidence = get_field(row, "evidence", str, path=self.path, line=line,
                                 required=False, default="")
            db_path = resolved.get(db)
            if db_path is None:
                db_path = resolved[db] = (self.path.parent / db).resolve()
                if not db_path.is_relative_to(self.path.parent):
                    raise InputError(f"database path {db!r} leads outside the dataset's "
                                     f"directory {self.path.parent}", path=str(self.path),
                                     line=line, field="db",
                                     hint="put the database beside the JSONL file or below it")
            db_id = get_field(row, "db_id", str, path=self.path, line=line, required=False,
                              default=db_path.stem)
            key = (db_path, db_id)
            if key not in schemas:
                schemas[key] = self._schema(db_path, db_id, line)
            yield Example(task_id=TASK_ID, question=question, schema=schemas[key],
                          db_path=str(db_path), gold_sql=sql, source=f"{self.path}:{line}",
                          evidence=evidence)
        if not seen:
            raise empty_split_error(self.path)

    def _schema(self, db_path: Path, db_id: str, line: int) -> Schema:
        if not db_path.is_file():
            raise InputError(f"database file not found: {db_path}", path=str(self.path),
                             line=line, field="db",
                             hint="db paths are relative to the JSONL file's directory")
        try:
            schema = read_sqlite_schema(db_path, db_id)
        except sqlite3.DatabaseError as exc:
            raise InputError(f"cannot read {db_path} as SQLite: {exc}", path=str(self.path),
                             line=line, field="db") from None
        if not schema.tables:
            raise InputError(f"database {db_path} has no tables", path=str(self.path),
                             line=line, field="db")
        return schema
