"""Spider (and BIRD-style) datasets: `<split>.json` arrays over `tables.json` schemas.

Layout: `dev.json`, `train_spider.json`, ... (rows {db_id, question, query}, or BIRD's
{db_id, question, SQL, evidence}; the SQL may be null or left out on every row: questions
without gold SQL, base.GoldField); `tables.json` (or `<split>_tables.json`, as BIRD names it);
`database/<db_id>/<db_id>.sqlite` (or `<split>_databases/...`). Split files are JSON arrays,
so each is parsed whole; errors name the row (line = row index + 1).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..types import Column, Example, Schema, Table
from .base import (TASK_ID, Dataset, GoldField, check_sqlite, get_field, load_json,
                   normalize_type, require_file)


class SpiderDataset(Dataset):
    kind = "spider"

    def __init__(self, path: Path) -> None:
        self.path = Path(path).resolve()
        if not self.path.is_dir():
            raise InputError("Spider directory not found", path=str(path),
                             hint="expected a directory with dev.json, tables.json and "
                                  "database/<db_id>/<db_id>.sqlite")
        available = self.splits()
        if not available:
            raise InputError("no split files (<split>.json) besides tables.json",
                             path=str(self.path), hint="expected e.g. dev.json")
        self.default_split = "train_spider" if "train_spider" in available else available[0]
        self.default_eval_split = "dev" if "dev" in available else self.default_split
        self._schemas: dict[Path, dict[str, Schema]] = {}

    def splits(self) -> list[str]:
        return sorted(p.stem for p in self.path.glob("*.json")
                      if not p.stem.endswith("tables"))

    def _tables_file(self, split: str) -> Path:
        own = self.path / f"{split}_tables.json"
        return own if own.is_file() else self.path / "tables.json"

    def _database_dir(self, split: str) -> Path:
        own = self.path / f"{split}_databases"
        return own if own.is_dir() else self.path / "database"

    def _rows(self, split: str) -> tuple[Path, list[Any]]:
        self.check_split(split)
        path = self.path / f"{split}.json"
        rows = load_json(path)
        if not isinstance(rows, list):
            raise InputError("expected a JSON array of question rows", path=str(path), line=1)
        if not rows:
            raise InputError("contains no question rows", path=str(path), line=1,
                             hint="the array is empty")
        return path, rows

    def count(self, split: str) -> int:
        return len(self._rows(split)[1])

    def schemas(self, split: str) -> dict[str, Schema]:
        tables_file = require_file(self._tables_file(split), "tables file",
                                   hint="Spider needs tables.json beside the split files")
        if tables_file not in self._schemas:
            self._schemas[tables_file] = load_schemas(tables_file)
        return self._schemas[tables_file]

    def iter_examples(self, split: str) -> Iterator[Example]:
        path, rows = self._rows(split)
        schemas = self.schemas(split)
        database_dir = self._database_dir(split)
        checked: dict[str, Path] = {}
        gold = GoldField("query")
        for index, row in enumerate(rows):
            line = index + 1
            where = f"row {line}: "
            if not isinstance(row, dict):
                raise InputError(f"{where}expected a JSON object", path=str(path), line=line)
            db_id = get_field(row, "db_id", str, path=path, line=line)
            question = get_field(row, "question", str, path=path, line=line)
            sql_field = "query" if "query" in row or "SQL" not in row else "SQL"
            gold_sql = gold.read(row, path=path, line=line, name=sql_field)
            evidence = get_field(row, "evidence", str, path=path, line=line, required=False,
                                 default="")
            schema = schemas.get(db_id)
            if schema is None:
                raise InputError(f"{where}unknown db_id {db_id!r}", path=str(path), line=line,
                                 field="db_id", hint=f"not in {self._tables_file(split).name}")
            if db_id not in checked:
                db_file = database_dir / db_id / f"{db_id}.sqlite"
                if not db_file.resolve().is_relative_to(database_dir.resolve()):
                    raise InputError(f"{where}db_id {db_id!r} leads outside {database_dir}",
                                     path=str(path), line=line, field="db_id",
                                     hint="a db_id is a directory name under the database "
                                          "directory")
                checked[db_id] = require_file(
                    db_file, f"{where}database file", field="db_id", source=path, line=line,
                    hint=f"expected {database_dir.name}/{db_id}/{db_id}.sqlite")
                check_sqlite(checked[db_id], source=path, line=line)
            yield Example(task_id=TASK_ID, question=question, schema=schema,
                          db_path=str(checked[db_id]), gold_sql=gold_sql,
                          source=f"{path}:{line}", evidence=evidence)


def load_schemas(path: Path) -> dict[str, Schema]:
    """db_id -> Schema from a Spider tables.json (original names, normalised types)."""
    data = load_json(path)
    if not isinstance(data, list) or not data:
        raise InputError("expected a non-empty JSON array of database schemas", path=str(path),
                         line=1)
    schemas = {}
    for index, entry in enumerate(data):
        line = index + 1
        if not isinstance(entry, dict):
            raise InputError(f"row {line}: expected a JSON object", path=str(path), line=line)
        db_id = get_field(entry, "db_id", str, path=path, line=line)
        schemas[db_id] = _schema(entry, db_id, path, line)
    return schemas


def _schema(entry: dict[str, Any], db_id: str, path: Path, line: int) -> Schema:
    where = f"row {line} ({db_id}): "
    table_names = get_field(entry, "table_names_original", list, path=path, line=line)
    columns = get_field(entry, "column_names_original", list, path=path, line=line)
    types = get_field(entry, "column_types", list, path=path, line=line)
    foreign_keys = get_field(entry, "foreign_keys", list, path=path, line=line,
                             required=False, default=[])
    for index, name in enumerate(table_names):
        if not isinstance(name, str):
            raise InputError(f"{where}expected a string, got {name!r}", path=str(path),
                             line=line, field=f"table_names_original[{index}]")
    if len(types) != len(columns):
        raise InputError(f"{where}{len(types)} types for {len(columns)} columns",
                         path=str(path), line=line, field="column_types")
    per_table: list[list[Column]] = [[] for _ in table_names]
    for index, (column, col_type) in enumerate(zip(columns, types)):
        if (not isinstance(column, list) or len(column) != 2 or not isinstance(column[0], int)
                or not isinstance(column[1], str) or not isinstance(col_type, str)
                or not -1 <= column[0] < len(table_names)):
            raise InputError(f"{where}expected [table index, name] and a type string",
                             path=str(path), line=line,
                             field=f"column_names_original[{index}]")
        if column[0] >= 0:  # -1 is Spider's "*"
            per_table[column[0]].append(Column(column[1], normalize_type(col_type)))
    fks = []
    for index, pair in enumerate(foreign_keys):
        if (not isinstance(pair, list) or len(pair) != 2
                or not all(isinstance(i, int) and 0 < i < len(columns) for i in pair)):
            raise InputError(f"{where}expected [column index, column index]", path=str(path),
                             line=line, field=f"foreign_keys[{index}]")
        (table, name), (ref_table, ref_name) = columns[pair[0]], columns[pair[1]]
        fks.append((table_names[table], name, table_names[ref_table], ref_name))
    return Schema(db_id=db_id,
                  tables=tuple(Table(name, tuple(cols))
                               for name, cols in zip(table_names, per_table)),
                  foreign_keys=tuple(fks))
