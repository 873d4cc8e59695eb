"""WikiSQL's official metrics: logical-form accuracy and execution accuracy (DESIGN §5).

A logical form is {"sel": column index, "agg": index into AGG_OPS, "conds": [[column index,
index into COND_OPS, value], ...]}. The semantics follow the official lib/query.py and
lib/dbengine.py (salesforce/WikiSQL), with one fix noted in `execute_logical_form`. The operator
tables and the number parsing here are the only ones: the dataset loader renders gold SQL with
them too, so gold SQL and logical forms never disagree on a value.
"""

from __future__ import annotations

import os
import re
import sqlite3
import urllib.parse
from collections.abc import Sequence
from typing import Any

from sqlglot import exp

from . import unicode_case
from .canonical import parse_query

AGG_OPS = ("", "MAX", "MIN", "COUNT", "SUM", "AVG")
COND_OPS = ("=", ">", "<", "OP")  # "OP" is a placeholder in the official lib: never rendered

_NUMBER = re.compile(r"[-+]?\d*\.\d+|\d+")  # the official num_re
_WHOLE_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_THOUSANDS = str.maketrans("", "", ",\u00a0\u202f\u2009 ")  # separators inside a number
_AGG_FUNCS = {exp.Max: 1, exp.Min: 2, exp.Count: 3, exp.Sum: 4, exp.Avg: 5}
_COMPARISONS = {exp.EQ: 0, exp.GT: 1, exp.LT: 2}
_FLIPPED = {0: 0, 1: 2, 2: 1}  # "5 < col" is "col > 5"
# Select clauses a WikiSQL query may use; any other (joins, GROUP BY, LIMIT ...) does not fit.
_SELECT_ARGS = {"expressions", "from", "from_", "where"}

LogicalForm = dict[str, Any]


def logical_form_match(pred_lf: LogicalForm, gold_lf: LogicalForm) -> bool:
    """Official logical-form accuracy: same sel, same agg and the same set of conditions,
    values compared as lowercased strings."""
    return (pred_lf["sel"] == gold_lf["sel"] and pred_lf["agg"] == gold_lf["agg"]
            and _cond_set(pred_lf) == _cond_set(gold_lf))


def _cond_set(lf: LogicalForm) -> set[tuple[int, int, str]]:
    return {(col, op, str(value).lower()) for col, op, value in lf["conds"]}


def execute_logical_form(conn_or_db_path: sqlite3.Connection | str | os.PathLike[str],
                         table_name: str, columns: Sequence[str], lf: LogicalForm,
                         lower: bool = True) -> list[Any]:
    """Run `SELECT agg(col) FROM table WHERE col op ? AND ...` and return the single values.

    As in the official DBEngine: string values are lowercased when `lower` (so the table's
    text must be stored lowercased or declared COLLATE NOCASE_UNICODE), and a value compared
    with a column declared `real` is converted by `to_real`. Unlike the official code, two
    conditions on one column each keep their own value (the official dict of parameters let the
    last one win). A connection passed in must have unicode_case installed where the table
    uses its collation.
    Raises ValueError/IndexError for a logical form that does not fit the table.
    """
    conn = _connect(conn_or_db_path)
    try:
        types = _declared_types(conn, table_name)
        column = _quote(columns[lf["sel"]])
        agg = AGG_OPS[lf["agg"]]
        select = f"{agg}({column})" if agg else column
        clauses, params = [], []
        for col_index, op_index, lf_value in lf["conds"]:
            name, value = columns[col_index], lf_value
            if lower and isinstance(value, str):
                value = value.lower()
            if types.get(name.lower()) == "real":
                value = to_real(value)
                if value is None:
                    raise ValueError(f"no number in {lf_value!r} for a real column")
            clauses.append(f"{_quote(name)} {COND_OPS[op_index]} ?")
            params.append(value)
        where = " WHERE " + " AND ".join(clauses) if clauses else ""
        query = f"SELECT {select} AS result FROM {_quote(table_name)}{where}"
        return [row[0] for row in conn.execute(query, params)]
    finally:
        if conn is not conn_or_db_path:
            conn.close()


def execution_match(conn_or_db_path: sqlite3.Connection | str | os.PathLike[str],
                    table_name: str, columns: Sequence[str], pred_lf: LogicalForm,
                    gold_lf: LogicalForm, lower: bool = True) -> bool:
    """Official execution accuracy: both result lists are equal. A prediction that cannot be
    executed is a miss; a gold that cannot is a dataset error and raises."""
    conn = _connect(conn_or_db_path)  # once for both queries
    try:
        gold = execute_logical_form(conn, table_name, columns, gold_lf, lower)
        try:
            pred = execute_logical_form(conn, table_name, columns, pred_lf, lower)
        except (ValueError, IndexError, TypeError, sqlite3.Error):
            return False
        return pred == gold
    finally:
        if conn is not conn_or_db_path:
            conn.close()


def sql_to_logical_form(sql: str, columns: Sequence[str]) -> LogicalForm | None:
    """Parse `SELECT [agg](col) FROM table [WHERE col op literal AND ...]` into a logical
    form; None when the SQL does not fit WikiSQL's grammar or names an unknown column."""
    tree = parse_query(sql)
    if not isinstance(tree, exp.Select):
        return None
    if any(value for key, value in tree.args.items() if key not in _SELECT_ARGS):
        return None
    source = next((v for v in tree.args.values() if isinstance(v, exp.From)), None)
    if source is None or not isinstance(source.this, exp.Table) or len(tree.expressions) != 1:
        return None
    index = {name.lower(): i for i, name in enumerate(columns)}
    selected = tree.expressions[0].unalias()
    agg = _AGG_FUNCS.get(type(selected), 0)
    if agg:
        selected = selected.this
    if not isinstance(selected, exp.Column) or selected.name.lower() not in index:
        return None
    conds = []
    where = tree.args.get("where")
    for condition in (where.this.flatten() if where and isinstance(where.this, exp.And)
                      else [where.this] if where else []):
        cond = _condition(condition, index)
        if cond is None:
            return None
        conds.append(cond)
    return {"sel": index[selected.name.lower()], "agg": agg, "conds": conds}


def _condition(node: exp.Expression, index: dict[str, int]) -> list[Any] | None:
    op = _COMPARISONS.get(type(node))
    if op is None:
        return None
    left, right = _string_or_node(node.this, index), _string_or_node(node.expression, index)
    if isinstance(right, exp.Column) and not isinstance(left, exp.Column):
        left, right, op = right, left, _FLIPPED[op]
    value = _literal(right)
    if not isinstance(left, exp.Column) or left.name.lower() not in index or value is None:
        return None
    return [index[left.name.lower()], op, value]


def _string_or_node(node: exp.Expression, index: dict[str, int]) -> exp.Expression:
    """SQLite reads a double-quoted name that is no column as a string ("france"): so do we."""
    if (isinstance(node, exp.Column) and not node.table and node.this.args.get("quoted")
            and node.name.lower() not in index):
        return exp.Literal.string(node.name)
    return node


def _literal(node: exp.Expression) -> str | int | float | None:
    negative = isinstance(node, exp.Neg)
    if negative:
        node = node.this
    if not isinstance(node, exp.Literal):
        return None
    if node.is_string:
        return None if negative else node.this
    number = float(node.this) if any(c in node.this for c in ".eE") else int(node.this)
    return -number if negative else number


def parse_number(value: Any) -> float | None:
    """A whole value as a number: numbers as they are, text without thousands separators
    (",", no-break and thin spaces); None for anything else (also "nan", "inf", "1_000")."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        text = value.strip().translate(_THOUSANDS)
        if _WHOLE_NUMBER.fullmatch(text):
            return float(text)
    return None


def to_real(value: Any) -> float | None:
    """A value compared with a real column, as the official lib converts it: the whole value
    as a number, else the first number in its text (official num_re); None without one."""
    number = parse_number(value)
    if number is None and isinstance(value, str) and (found := _NUMBER.search(value)):
        number = float(found.group())
    return number


def _declared_types(conn: sqlite3.Connection, table_name: str) -> dict[str, str]:
    rows = conn.execute("SELECT name, lower(type) FROM pragma_table_info(?)", (table_name,))
    return {name.lower(): decl for name, decl in rows}


def _connect(conn_or_db_path: sqlite3.Connection | str | os.PathLike[str]) -> sqlite3.Connection:
    if isinstance(conn_or_db_path, sqlite3.Connection):
        return conn_or_db_path
    path = urllib.parse.quote(os.path.abspath(os.fspath(conn_or_db_path)))
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.execute("PRAGMA trusted_schema = OFF")
    unicode_case.install(conn)
    return conn


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
