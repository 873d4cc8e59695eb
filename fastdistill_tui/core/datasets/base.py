"""The Dataset interface and the input checks every loader shares.

Loaders stream question rows (a 100,000-row file is never held as Examples) and stop at the
first malformed row with an InputError that names the file, the line and the field.
"""

from __future__ import annotations

import json
import re
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..types import Example

TASK_ID = "text2sql"

_JSON_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", list: "a list",
                    dict: "an object", bool: "true/false"}


class Dataset(ABC):
    """A Text2SQL dataset: named splits of Examples, each with a schema and a SQLite file."""

    kind: str
    path: Path
    default_split: str
    default_eval_split: str

    @abstractmethod
    def splits(self) -> list[str]:
        """Names of the splits present, sorted."""

    @abstractmethod
    def iter_examples(self, split: str) -> Iterator[Example]:
        """Stream the split's examples in file order; InputError on the first malformed row."""

    @abstractmethod
    def count(self, split: str) -> int:
        """Number of question rows in the split (cheap: no parsing)."""

    def check_split(self, split: str) -> None:
        available = self.splits()
        if split not in available:
            raise InputError(f"unknown split '{split}'", path=str(self.path), field="split",
                             hint="available splits: " + (", ".join(available) or "none"))


def normalize_type(declared: str) -> str:
    """One lowercase word for a declared column type, following SQLite's affinity rules.

    "varchar(255)" -> "text", "int"/"bigint" -> "integer", "float(10,2)"/"decimal" -> "real";
    other types keep their first word ("datetime", "date", "bool"); no type -> "".
    Spider's abstract "number" maps to "real".
    """
    text = re.sub(r"\(.*?\)", " ", declared.lower()).strip()
    if not text:
        return ""
    if "int" in text:
        return "integer"
    if any(word in text for word in ("char", "clob", "text", "string")):
        return "text"
    if any(word in text for word in ("real", "floa", "doub", "decimal", "numeric", "number")):
        return "real"
    word = re.sub(r"\W", "", text.split()[0])
    return word or ""


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, object) for each non-blank line; InputError on bad bytes or JSON."""
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(f"not valid UTF-8 (byte {exc.start + 1} of the line)",
                                 path=str(path), line=lineno,
                                 hint="save the file as UTF-8") from None
            if lineno == 1:
                text = text.removeprefix("\ufeff")
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as exc:
                raise InputError(f"not valid JSON: {exc.msg} at column {exc.colno}",
                                 path=str(path), line=lineno,
                                 hint="each line must be one JSON object") from None
            if not isinstance(row, dict):
                raise InputError(f"expected a JSON object, got {_type_name(row)}",
                                 path=str(path), line=lineno,
                                 hint="each line must be one JSON object") from None
            yield lineno, row


def load_json(path: Path) -> Any:
    """A whole JSON file (Spider's arrays); InputError on bad bytes or JSON."""
    try:
        text = path.read_bytes().decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise InputError("not valid UTF-8", path=str(path), line=line,
                         hint="save the file as UTF-8") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc.msg} at column {exc.colno}", path=str(path),
                         line=exc.lineno) from None


def count_lines(path: Path) -> int:
    """Non-blank lines of a file, read in binary chunks."""
    with open(path, "rb") as fh:
        return sum(1 for raw in fh if raw.strip())


def get_field(row: dict[str, Any], name: str, typ: type | tuple[type, ...], *, path: Path,
              line: int, where: str = "", required: bool = True, default: Any = None) -> Any:
    """row[name] checked against typ (bool is never an int); `where` prefixes the field name."""
    label = f"{where}{name}"
    if name not in row or row[name] is None:
        if required:
            raise InputError("missing", path=str(path), line=line, field=label)
        return default
    value = row[name]
    types = typ if isinstance(typ, tuple) else (typ,)
    if isinstance(value, bool) and bool not in types or not isinstance(value, types):
        wanted = " or ".join(_JSON_TYPE_NAMES.get(t, t.__name__) for t in types)
        raise InputError(f"expected {wanted}, got {_type_name(value)} {_short(value)}",
                         path=str(path), line=line, field=label)
    return value


class GoldField:
    """A row's gold SQL, which may be absent: a question from a user's own app with no SQL
    written for it is distilled by execution agreement instead (stages/agreement.py) and gets
    gold_sql "". `null` (or "") always means "no gold"; a row that leaves the field out
    entirely is taken as one without gold only while no earlier row of the file had gold SQL,
    so that a field missing from one row of a labelled file is still an error."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.labelled = False  # an earlier row had gold SQL

    def read(self, row: dict[str, Any], *, path: Path, line: int, name: str = "") -> str:
        """The gold SQL of `row` ("" for none); `name`: the field, when not the usual one."""
        name = name or self.name
        if name not in row and self.labelled:
            raise InputError("missing", path=str(path), line=line, field=name,
                             hint=f"earlier rows have gold SQL; for a question without it, "
                                  f"write \"{name}\": null")
        sql = get_field(row, name, str, path=path, line=line, required=False, default="")
        if not sql.strip():
            return ""
        self.labelled = True
        return sql


def _type_name(value: Any) -> str:
    return _JSON_TYPE_NAMES.get(type(value), type(value).__name__)


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


def require_file(path: Path, what: str, *, hint: str, field: str | None = None,
                 source: Path | None = None, line: int | None = None) -> Path:
    """The file at path, or an InputError saying which file is missing and where it was named."""
    if path.is_file():
        return path
    if source is not None:
        raise InputError(f"{what} not found: {path}", path=str(source), line=line, field=field,
                         hint=hint)
    raise InputError(f"{what} not found", path=str(path), field=field, hint=hint)


def open_dataset_db(db_path: Path) -> sqlite3.Connection:
    """A dataset's database, read-only and with `trusted_schema` off: a view or trigger in a
    file we did not write runs no function that is not known to be harmless."""
    conn = sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True)
    conn.execute("PRAGMA trusted_schema = OFF")
    return conn


def check_sqlite(db_path: Path, *, source: Path, line: int) -> None:
    """A dataset's database must open as SQLite and hold tables: a corrupt or empty file is a
    defect of the dataset, named here, not a gold_error on every question later."""
    try:
        conn = open_dataset_db(db_path)
        try:
            tables = conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'"
                                  ).fetchone()[0]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise InputError(f"cannot read {db_path} as SQLite: {exc}", path=str(source), line=line,
                         hint="the database file is corrupt; replace it") from None
    if not tables:
        raise InputError(f"database {db_path} has no tables", path=str(source), line=line,
                         hint="the database file is empty; replace it")


def empty_split_error(path: Path) -> InputError:
    return InputError("contains no question rows", path=str(path), line=1,
                      hint="the file is empty; point the dataset at a file with questions")
