"""Test-suite checking (after Zhong et al. 2020, "Semantic Evaluation for Text-to-SQL with
Distilled Test Suites"): one database cannot tell a right query from a lucky one, so a candidate
that matches gold on the dataset's database is also run, with its gold, on perturbed copies.

The copies of a database, each made once and cached on disk:
- "drop": 20-50 % of each table's rows left out, and with them the rows that refer to them
  through a declared foreign key (a join along the key still finds every row's parent);
- "duplicate": 20-50 % of each table's rows inserted twice (a fresh id for an INTEGER
  PRIMARY KEY, identifying texts changed; rows a UNIQUE constraint refuses are left out);
- "scramble": each column's values permuted within the column, then about a quarter of the
  cells replaced by made-up values of the column's declared type (primary-key columns and
  columns a foreign key refers to stay; a foreign-key column is permuted but gets no made-up
  values, so joins along declared keys still hold):
  a condition every row met, a maximum that was also the most frequent value, stop holding;
- "literals", one per query family: the tables the queries read, where rows carry the
  literals of the queries' `column <op> literal` comparisons: in each table, GOLD_ROWS rows
  get the gold's literals (every such column of the table on the same rows, so that a
  conjunction holds; one column's several values spread over the rows) and ANSWER_ROWS other
  rows the literals the answer has and the gold has not. Rows are changed, not added, so that
  rows referring to them still join. A count of 0 that matched by coincidence, a condition the
  answer dropped and one it added all change a result here; the two sides change different
  numbers of rows so that their counts do not move together. An empty table gets new rows.
  A column whose values are all distinct (a name, an id) gets no literal that a row holds
  already: planting a name thrice would make a lookup by name ambiguous on the copy alone.

On copies, results that differ only in how often rows repeat count as agreeing, and so do no
rows and one row of NULLs (the evaluator's `on_copy`): duplicated rows and repeating made-up
values would otherwise part a query that removes repeats (DISTINCT, EXCEPT, GROUP BY) from one
that cannot meet any on the database, and SUM over the one row a name picks from the plain
value on a copy without that row. A duplicated row gets its identifying texts (a column that
holds a different text in every row) changed, so that it is another thing of the same values,
not the same thing twice. A hand audit of 134 rows removed on four runs found 38 false
rejections from these causes and broken foreign keys (docs/SUITE-AUDIT.md).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import os
import random
import sqlite3
import tempfile
import threading
import urllib.parse
import zlib
from dataclasses import dataclass
from pathlib import Path

from sqlglot import exp

from . import unicode_case
from .canonical import parse_query

VERSION = 9  # part of every cache path: bump when the copies' recipe changes
MAX_ROWS_PER_TABLE = 5000  # rows of a table read into a copy (a seeded sample beyond that)
MAX_DB_BYTES = 256 << 20  # a larger database is not copied: its samples are not suite-checked
DEFAULT_CACHE_BYTES = 512 << 20
MIN_MADE_UP, MAX_MADE_UP = 4, 8  # made-up rows of an empty table in a copy
GOLD_ROWS, ANSWER_ROWS = 3, 2  # rows a literals copy changes a table, for each side
MAX_REMEMBERED = 65536  # query families whose copies a process remembers as ready
SHARED_VARIANTS = ("drop", "duplicate", "scramble")  # few: each copy costs a query per sample

# Comparisons whose literal operand says which column a literal belongs to.
_PREDICATES = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Like, exp.ILike,
               exp.Glob, exp.In, exp.Between)
# What a copy's build connection may do: make the schema and fill it, nothing else.
_BUILD_DENIED = frozenset(
    {sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH, sqlite3.SQLITE_CREATE_TRIGGER,
     sqlite3.SQLITE_CREATE_TEMP_TRIGGER, sqlite3.SQLITE_CREATE_VTABLE})

Literal = tuple[str, object]  # (lower-case column name, value)


class SuiteUnavailable(Exception):
    """The database cannot be copied (too large, a virtual table, an unreadable schema)."""


@dataclass(frozen=True)
class SuiteVerdict:
    """`agreed` is False only when gold and answer differ on a copy where both ran to a
    comparable result; copies where the gold timed out or failed, or a result was cut at a
    cap, count as `inconclusive`. `detail` names the first disagreeing copy and why."""

    agreed: bool
    compared: int
    inconclusive: int
    detail: str = ""


@dataclass(frozen=True)
class QueryFacts:
    """What the copies depend on: the (column, literal) pairs of `column <op> literal`
    comparisons (a LIKE or GLOB pattern stands for a text it matches, each wildcard a `~`:
    rows planted with `~East~` tell `'%East%'` from `'East%'`, which rows that hold just
    `East` cannot), and the
    lower-case names of the tables or views the query reads (CTE names included: harmless).
    `tables` is None when the query does not parse."""

    literals: frozenset[Literal]
    tables: frozenset[str] | None


@functools.lru_cache(maxsize=4096)  # many samples share a gold query
def query_facts(sql: str) -> QueryFacts:
    tree = parse_query(sql)
    if tree is None:
        return QueryFacts(frozenset(), None)
    found: set[Literal] = set()
    for literal in tree.find_all(exp.Literal):
        predicate = literal.parent
        if isinstance(predicate, exp.Tuple):  # IN (1, 2)
            predicate = predicate.parent
        if not isinstance(predicate, _PREDICATES):
            continue
        column = predicate.this if isinstance(predicate.this, exp.Column) else (
            predicate.expression if isinstance(predicate.args.get("expression"), exp.Column)
            else None)
        if column is None or not column.name:
            continue
        value = _literal_value(literal, _WILDCARDS.get(type(predicate), ""))
        if value is not None:
            found.add((column.name.lower(), value))
    tables = frozenset(t.name.lower() for t in tree.find_all(exp.Table) if t.name)
    return QueryFacts(frozenset(found), tables)


_WILDCARDS = {exp.Like: "%_", exp.ILike: "%_", exp.Glob: "*?"}
WILDCARD_FILL = "~"


def _literal_value(literal: exp.Literal, wildcards: str) -> object:
    """A string literal as a value to plant (a pattern's wildcards filled), a number as one."""
    text = literal.this
    if literal.is_string:
        return "".join(WILDCARD_FILL if ch in wildcards else ch for ch in text)
    try:
        number = float(text)
    except ValueError:
        return None
    return int(number) if number.is_integer() and "." not in text else number


class SuiteCache:
    """Makes and caches the copies of databases under `root`. Thread-safe; building a copy
    is blocking work (call it from a thread)."""

    def __init__(self, root: Path, *, seed: int = 0, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.root = Path(root)
        self.seed = seed
        self.max_bytes = max_bytes
        self.built = 0  # copies made by this process (not found in the cache)
        self._lock = threading.Lock()
        self._building: dict[Path, threading.Lock] = {}
        self._hashes: dict[tuple[str, int, int], str] = {}
        self._ready: dict[tuple, list[tuple[str, Path]]] = {}
        self._unavailable: dict[str, str] = {}  # db_path -> why it cannot be copied
        self._bytes: int | None = None  # the cache's size, once scanned

    def ready(self, db_path: str, gold_literals: frozenset[Literal],
              answer_literals: frozenset[Literal], tables: frozenset[str] | None = None
              ) -> list[tuple[str, Path]] | None:
        """The copies when this process has already made or found them (no file system
        access: the per-sample fast path), else None."""
        key = (db_path, gold_literals, answer_literals - gold_literals, tables)
        with self._lock:
            if db_path in self._unavailable:
                raise SuiteUnavailable(self._unavailable[db_path])
            return self._ready.get(key)

    def copies(self, db_path: str, gold_literals: frozenset[Literal],
               answer_literals: frozenset[Literal], tables: frozenset[str] | None = None
               ) -> list[tuple[str, Path]]:
        """(variant name, path) of every copy for this database and query family; made when
        missing. `tables`: the (lower-case) tables the queries read, the only ones the
        literals copy holds; None = all. Raises SuiteUnavailable (remembered for the
        database) when the copies cannot be made."""
        extra = answer_literals - gold_literals
        try:
            found = self._copies(db_path, gold_literals, extra, tables)
        except SuiteUnavailable as exc:
            with self._lock:
                self._unavailable[db_path] = str(exc)
            raise
        with self._lock:
            if len(self._ready) >= MAX_REMEMBERED:
                self._ready.clear()
            self._ready[(db_path, gold_literals, extra, tables)] = found
        return found

    def _copies(self, db_path: str, gold_literals: frozenset[Literal],
                extra: frozenset[Literal], tables: frozenset[str] | None
                ) -> list[tuple[str, Path]]:
        directory = self.root / f"v{VERSION}-s{self.seed}-{self._db_hash(db_path)}"
        wanted = [(name, directory / f"{name}.sqlite", name, (), None)
                  for name in SHARED_VARIANTS]
        if gold_literals or extra:
            family = hashlib.sha256(json.dumps(
                [sorted(map(repr, gold_literals)), sorted(map(repr, extra)),
                 sorted(tables) if tables is not None else None]).encode()).hexdigest()
            rows = (_by_column(gold_literals), _by_column(extra))
            wanted.append(("literals", directory / f"literals-{family[:20]}.sqlite",
                           "literals", rows, tables))
        return [(name, self._ensure(db_path, path, variant, rows, only))
                for name, path, variant, rows, only in wanted]

    def _db_hash(self, db_path: str) -> str:
        stat = os.stat(db_path)
        if stat.st_size > MAX_DB_BYTES:
            raise SuiteUnavailable(f"{db_path} is larger than {MAX_DB_BYTES >> 20} MB")
        key = (os.path.realpath(db_path), stat.st_size, stat.st_mtime_ns)
        with self._lock:
            known = self._hashes.get(key)
        if known is None:
            digest = hashlib.sha256()
            with open(db_path, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
            known = digest.hexdigest()[:24]
            with self._lock:
                self._hashes[key] = known
        return known

    def _ensure(self, db_path: str, path: Path, variant: str, rows,
                only: frozenset[str] | None) -> Path:
        if path.exists():
            _touch(path)
            return path
        with self._lock:
            building = self._building.setdefault(path, threading.Lock())
        with building:  # one build per copy at a time in this process
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                seed = zlib.crc32(f"{self.seed}:{variant}".encode())
                fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".build-", suffix=".sqlite")
                os.close(fd)
                try:
                    build_copy(db_path, tmp, variant, seed, rows, only)
                    os.replace(tmp, path)  # atomic: readers see no copy or a whole one
                except BaseException:
                    Path(tmp).unlink(missing_ok=True)
                    raise
                with self._lock:
                    self.built += 1
                    if self._bytes is None:  # one scan a process, then counted as made
                        self._bytes = sum(p.stat().st_size
                                          for p in self.root.glob("*/*.sqlite"))
                    else:
                        self._bytes += path.stat().st_size
                    over = self._bytes > self.max_bytes
                if over:
                    self._trim(keep=path.parent)
        with self._lock:
            self._building.pop(path, None)
        return path

    def _trim(self, keep: Path) -> None:
        """Removes least recently used copies (by mtime, refreshed on use) until the cache is
        under max_bytes; the copies of the database in use now are kept."""
        files = [(p.stat().st_mtime, p.stat().st_size, p) for p in self.root.glob("*/*.sqlite")]
        total = sum(size for _, size, _ in files)
        for _, size, file in sorted(files):
            if total <= self.max_bytes:
                break
            if file.parent == keep:
                continue
            file.unlink(missing_ok=True)
            total -= size
        with self._lock:
            self._bytes = total
            self._ready.clear()  # the removed copies may be among them


def _touch(path: Path) -> None:
    try:
        os.utime(path)
    except OSError:
        pass


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def build_copy(db_path: str, out_path: str, variant: str, seed: int,
               literal_rows: tuple[dict[str, list], dict[str, list]] = ({}, {}),
               only_tables: frozenset[str] | None = None) -> None:
    """Writes the `variant` copy of db_path to out_path (an empty file): same schema, rows
    changed as the module docstring says; with `only_tables`, just those tables (and their
    indexes), unless one of them is a view (then all)."""
    uri = "file:" + urllib.parse.quote(os.path.abspath(db_path)) + "?mode=ro"
    source = sqlite3.connect(uri, uri=True)
    source.text_factory = lambda raw: raw.decode("utf-8", "replace")
    target = sqlite3.connect(out_path, isolation_level=None)
    target.create_collation(unicode_case.COLLATION, unicode_case.compare)

    def authorize(action: int, *_args) -> int:
        return sqlite3.SQLITE_DENY if action in _BUILD_DENIED else sqlite3.SQLITE_OK

    try:
        objects = source.execute(
            "SELECT type, name, sql, tbl_name FROM sqlite_master WHERE sql IS NOT NULL"
            " AND name NOT LIKE 'sqlite_%' AND type IN ('table', 'index', 'view')"
            " ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'index' THEN 1 ELSE 2 END, rowid"
        ).fetchall()
        if only_tables is not None and not any(
                kind == "view" and name.lower() in only_tables for kind, name, _, _ in objects):
            objects = [o for o in objects if o[3].lower() in only_tables]
        for conn in (source, target):  # the dataset's schema runs no non-innocuous function
            conn.execute("PRAGMA trusted_schema = OFF")
        target.execute("PRAGMA journal_mode = OFF")
        target.execute("PRAGMA synchronous = OFF")
        target.set_authorizer(authorize)
        target.execute("BEGIN")
        tables = []
        for kind, name, sql, _table in objects:
            if kind == "table" and sql.lstrip().upper().startswith("CREATE VIRTUAL"):
                raise SuiteUnavailable(f"{db_path}: virtual table {name}")
            if kind != "index":
                target.execute(sql)
            if kind == "table":
                tables.append(name)
        rng = random.Random(seed)
        keys = _foreign_keys(source, tables)
        referenced = {(parent, column) for fks in keys.values()
                      for parent, pairs in fks for _child, column in pairs}
        copied = {table: _copy_rows(source, table, variant, rng, literal_rows, keys.get(table, []),
                                    referenced)
                  for table in tables}
        if variant == "drop":
            _drop_orphans(source, copied, keys)
        for table, (columns, rows) in copied.items():
            if columns:
                marks = ", ".join("?" * len(columns))
                target.executemany(f"INSERT OR IGNORE INTO {_quote(table)} "
                                   f"({', '.join(map(_quote, columns))}) VALUES ({marks})", rows)
        # Indexes after the rows: UNIQUE ones then refuse nothing already there.
        for kind, _name, sql, _table in objects:
            if kind == "index":
                try:
                    target.execute(sql)
                except sqlite3.IntegrityError:
                    pass  # a UNIQUE index the duplicated rows break: left out of this copy
        target.execute("COMMIT")
    except sqlite3.Error as exc:
        raise SuiteUnavailable(f"{db_path}: cannot copy ({exc})") from exc
    finally:
        source.close()
        target.close()


ForeignKeys = list[tuple[str, list[tuple[str, str]]]]  # (parent, [(child col, parent col)])


def _foreign_keys(source: sqlite3.Connection, tables: list[str]) -> dict[str, ForeignKeys]:
    """table -> its declared foreign keys, with the names as the tables spell them (a key
    declared with other letter case, or without the parent's columns, which then means its
    primary key); keys naming a table or column that is not there are left out."""
    by_lower = {t.lower(): t for t in tables}
    columns = {t: [(c[1], c[5]) for c in source.execute(f"PRAGMA table_info({_quote(t)})")]
               for t in tables}

    def spelled(table: str, name: str) -> str | None:
        return next((c for c, _ in columns[table] if c.lower() == name.lower()), None)

    keys: dict[str, ForeignKeys] = {}
    for table in tables:
        grouped: dict[int, tuple[str, list[tuple[str, str | None]]]] = {}
        for key_id, _seq, parent, child, parent_col, *_ in source.execute(
                f"PRAGMA foreign_key_list({_quote(table)})"):
            grouped.setdefault(key_id, (parent, []))[1].append((child, parent_col))
        for parent, pairs in grouped.values():
            parent = by_lower.get(parent.lower())
            if parent is None:
                continue
            pk = [c for c, flag in sorted(columns[parent], key=lambda c: c[1]) if flag]
            if any(col is None for _c, col in pairs):
                if len(pk) != len(pairs):
                    continue
                pairs = [(child, col or pk[i]) for i, (child, col) in enumerate(pairs)]
            resolved = [(spelled(table, child), spelled(parent, col)) for child, col in pairs]
            if all(child and col for child, col in resolved):
                keys.setdefault(table, []).append((parent, resolved))
    return keys


def _copy_rows(source: sqlite3.Connection, table: str, variant: str, rng: random.Random,
               literal_rows, foreign_keys: ForeignKeys,
               referenced: set[tuple[str, str]]) -> tuple[list[str], list[list]]:
    """(columns, rows) of `table` in the `variant` copy. Columns other tables refer to keep
    their values in the scramble copy, and the table's own foreign keys only move between
    rows (no made-up values), so that joins along declared keys still hold."""
    info = source.execute(f"PRAGMA table_info({_quote(table)})").fetchall()
    columns = [c[1] for c in info]
    if not columns:
        return columns, []
    pk = [i for i, c in enumerate(info) if c[5]]
    int_pk = pk[0] if len(pk) == 1 and (info[pk[0]][2] or "").upper() == "INTEGER" else None
    names = ", ".join(_quote(c) for c in columns)
    rows = [list(r) for r in source.execute(f"SELECT {names} FROM {_quote(table)}")]
    if len(rows) > MAX_ROWS_PER_TABLE:
        rows = rng.sample(rows, MAX_ROWS_PER_TABLE)
    if not rows:  # an empty table tells no query from another: made-up rows
        rows = [_made_up_row(info, int_pk, rng)
                for _ in range(rng.randrange(MIN_MADE_UP, MAX_MADE_UP + 1))]
    # fractions drawn per table, so that two tables' counts part ways
    if variant == "drop":
        drop = rng.uniform(0.2, 0.5)
        rows = [r for r in rows if rng.random() >= drop]
    elif variant == "duplicate":
        twice = rng.uniform(0.2, 0.5)
        names = [i for i, values in _distinct_columns(rows).items()
                 if all(isinstance(v, str) for v in values)]
        rows += [_renamed(_fresh_id(r, int_pk), names, n)
                 for n, r in enumerate(list(rows)) if rng.random() < twice]
    elif variant == "scramble":
        moved_only = {child for _parent, pairs in foreign_keys for child, _ in pairs}
        for i, column in enumerate(info):
            if i in pk or (table, column[1]) in referenced:
                continue
            values = [r[i] for r in rows]
            rng.shuffle(values)
            made_up = 0.0 if column[1] in moved_only else 1 / 4
            for r, v in zip(rows, values):
                r[i] = v if rng.random() >= made_up else _made_up_value(column[2], rng)
    elif variant == "literals":
        _plant_literals(rows, columns, int_pk, rng, literal_rows)
    return columns, rows


def _plant_literals(rows: list[list], columns: list[str], int_pk: int | None,
                    rng: random.Random, literal_rows) -> None:
    """The literals copy's change to one table (module docstring). A column whose values are
    all distinct (a name, say) does not get a literal that a row holds already: a name planted
    thrice would make a lookup by name ambiguous on the copy alone."""
    lower = {c.lower(): i for i, c in enumerate(columns)}
    held = _distinct_columns(rows)
    gold_values, answer_values = ({lower[c]: v for c, v in side.items() if c in lower}
                                  for side in literal_rows)
    picked = rng.sample(range(len(rows)), min(len(rows), GOLD_ROWS + ANSWER_ROWS))
    for values, indexes, count in ((gold_values, picked[:GOLD_ROWS], GOLD_ROWS),
                                   (answer_values, picked[GOLD_ROWS:], ANSWER_ROWS)):
        if not values:
            continue
        if not indexes:  # too few rows to change: new ones
            rows += [_fresh_id(list(rng.choice(rows)) if rows else [None] * len(columns),
                               int_pk) for _ in range(count)]
            indexes = range(len(rows) - count, len(rows))
        for j, index in enumerate(indexes):
            for column, options in values.items():
                value = options[j % len(options)]
                if _folded(value) not in held.get(column, ()):
                    rows[index][column] = value


def _drop_orphans(source: sqlite3.Connection, copied: dict[str, tuple[list[str], list[list]]],
                  keys: dict[str, ForeignKeys]) -> None:
    """The drop copy without rows whose parent row it dropped (a row whose key pointed
    nowhere in the database already stays as it was), until no more go."""
    in_database: dict[tuple, set[tuple]] = {}  # (parent, columns) -> its key values

    def key_values(table: str, names: tuple[str, ...], rows: list[list]) -> set[tuple]:
        index = [copied[table][0].index(c) for c in names]
        return {tuple(r[i] for i in index) for r in rows}

    changed = True
    while changed:
        changed = False
        for table, fks in keys.items():
            columns, rows = copied[table]
            for parent, pairs in fks:
                names = tuple(p for _, p in pairs)
                had = in_database.get((parent, names))
                if had is None:
                    had = in_database[parent, names] = set(source.execute(
                        f"SELECT {', '.join(map(_quote, names))} FROM {_quote(parent)}"))
                has = key_values(parent, names, copied[parent][1])
                index = [columns.index(c) for c, _ in pairs]

                def dangling(row: list) -> bool:
                    key = tuple(row[i] for i in index)
                    return key in had and key not in has

                kept = [r for r in rows if not dangling(r)]
                if len(kept) != len(rows):
                    copied[table] = (columns, kept)
                    rows = kept
                    changed = True


def _made_up_row(info: list[tuple], int_pk: int | None, rng: random.Random) -> list:
    return [None if i == int_pk else _made_up_value(column[2], rng)
            for i, column in enumerate(info)]


def _made_up_value(declared: str | None, rng: random.Random) -> object:
    """A value by the column's declared type (SQLite's affinity rules), from small ranges so
    that joins and repeats happen."""
    declared = (declared or "").upper()
    if any(t in declared for t in ("CHAR", "CLOB", "TEXT")):
        return "v" + "".join(rng.choice("abc") for _ in range(2))
    if any(t in declared for t in ("REAL", "FLOA", "DOUB")):
        return round(rng.uniform(0, 20), 1)
    return rng.randrange(1, 10)


def _by_column(literals: frozenset[Literal]) -> dict[str, list]:
    """column -> its literal values, sorted (the copy must not depend on set order)."""
    found: dict[str, list] = {}
    for column, value in sorted(literals, key=repr):
        found.setdefault(column, []).append(value)
    return found


def _folded(value: object) -> object:
    """A text as a case-insensitive comparison sees it (the bundled tables' columns compare
    with NOCASE_UNICODE), anything else as it is."""
    return value.casefold() if isinstance(value, str) else value


def _distinct_columns(rows: list[list]) -> dict[int, set]:
    """Column -> its values (texts case-folded), for the columns that hold a different value
    in every row (a name, a code, an id): what the data shows to identify a row."""
    if len(rows) < 2:
        return {}
    found = {}
    for i in range(len(rows[0])):
        values = {_folded(r[i]) for r in rows}
        if len(values) == len(rows):
            found[i] = values
    return found


def _renamed(row: list, columns: list[int], n: int) -> list:
    """A duplicated row with its identifying texts changed: another thing of the same values,
    not the same thing twice (a question about 'Mount Blue' still means one row)."""
    for i in columns:
        row[i] = f"{row[i]} ~{n}"
    return row


def _fresh_id(row: list, int_pk: int | None) -> list:
    row = list(row)
    if int_pk is not None:
        row[int_pk] = None  # SQLite assigns the next rowid
    return row


class TestSuite:
    """Runs gold and answer on the copies of the sample's database through an Evaluator."""

    __test__ = False  # not a pytest class

    def __init__(self, cache: SuiteCache) -> None:
        self.cache = cache
        self.checked = 0
        self.unavailable = 0  # samples whose database could not be copied

    async def check(self, evaluator, db_path: str, gold_sql: str,
                    pred_sql: str) -> SuiteVerdict | None:
        """None when the database cannot be copied (the sample stays as it was)."""
        gold, pred = query_facts(gold_sql), query_facts(pred_sql)
        gold_literals, pred_literals = gold.literals, pred.literals
        tables = (None if gold.tables is None or pred.tables is None
                  else gold.tables | pred.tables)
        try:
            copies = self.cache.ready(db_path, gold_literals, pred_literals, tables)
            if copies is None:
                copies = await asyncio.to_thread(self.cache.copies, db_path, gold_literals,
                                                 pred_literals, tables)
        except (SuiteUnavailable, OSError):
            self.unavailable += 1
            return None
        outcomes = await asyncio.gather(*(evaluator.evaluate(str(path), gold_sql, pred_sql,
                                                             on_copy=True)
                                          for _name, path in copies))
        compared = inconclusive = 0
        verdict = None
        for (name, _path), outcome in zip(copies, outcomes):
            if outcome.gold_match or outcome.reason in ("gold_empty", "order_mismatch"):
                compared += 1  # order alone: ties can break differently on a copy
            elif (outcome.reason in ("truncated", "timeout", "gold_error") or not outcome.gold_ok
                  or outcome.detail.startswith("cannot open")):  # a copy the cache trimmed
                inconclusive += 1
            else:
                compared += 1
                if verdict is None:
                    verdict = f"copy {name!r}: {outcome.reason}"
                    if outcome.detail:
                        verdict += f" ({outcome.detail})"
        self.checked += 1
        return SuiteVerdict(verdict is None, compared, inconclusive, verdict or "")
