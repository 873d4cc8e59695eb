"""Compare a predicted query's result with the gold result (DESIGN §5).

Results are multisets of rows (duplicates="bag", the default: duplicates count) or sets
(duplicates="set": a row's first occurrence stands for all its copies, for datasets whose gold
queries repeat rows of denormalised tables); row order matters only when the gold's
outermost query has ORDER BY. Numbers unify (1 == 1.0) and floats match within a tolerance;
NULL equals NULL; bytes are compared as UTF-8 text. Column names never matter (aliases vary);
column positions matter unless column_order="ignore". A result cut at the row or byte cap is
never a match: its missing rows are unknown.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from sqlglot import Dialect, exp
from sqlglot.errors import SqlglotError
from sqlglot.tokens import TokenType

from .canonical import parse_query
from .execute import ExecResult

Value = int | float | str | None
Row = tuple[Value, ...]

# Above this many unmatched rows, near-equal floats are only matched after sorting (see
# _same_multiset); the pairwise search is quadratic.
_PAIRWISE_LIMIT = 2000
# Under column_order="ignore", candidate column assignments × rows compared before giving up
# (columns with identical values, e.g. all NULL, make every permutation a candidate).
_ASSIGNMENT_BUDGET_ROWS = 100_000


@dataclass(frozen=True)
class CompareResult:
    """`reason` is None on a match, else: the prediction's own error code (exec_error, timeout,
    empty_sql, denied, multiple_statements), gold_error, col_count, truncated (either result
    was cut at a cap), row_count, value_mismatch or order_mismatch."""

    match: bool
    reason: str | None


def gold_is_ordered(gold_sql: str) -> bool:
    """True iff the outermost query has ORDER BY (ORDER BY in a subquery, CTE or window
    does not order the result). Falls back to a token scan at parenthesis depth 0 when
    sqlglot cannot parse SQL that SQLite accepts."""
    if "order" not in gold_sql.lower():  # no ORDER keyword anywhere: no parse needed
        return False
    tree = parse_query(gold_sql)
    if tree is None:
        return _order_by_at_depth_zero(gold_sql)
    while isinstance(tree, exp.Subquery) and not tree.args.get("order"):
        tree = tree.this
    return bool(tree.args.get("order"))


def _order_by_at_depth_zero(sql: str) -> bool:
    try:
        tokens = Dialect.get_or_raise("sqlite").tokenize(sql)
    except SqlglotError:
        return False
    depth = 0
    for token in tokens:
        if token.token_type == TokenType.L_PAREN:
            depth += 1
        elif token.token_type == TokenType.R_PAREN:
            depth -= 1
        elif token.token_type == TokenType.ORDER_BY and depth == 0:
            return True
    return False


def normalize_value(value: object) -> Value:
    """bool → int, integral float → int, bytes → text (invalid UTF-8 replaced)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", errors="replace")
    return value  # type: ignore[return-value]  # None, int, float, str


def compare_results(pred: ExecResult, gold: ExecResult, *, ordered: bool,
                    float_tol: float = 1e-6, column_order: str = "strict",
                    duplicates: str = "bag") -> CompareResult:
    if gold.error:
        return CompareResult(False, "gold_error")
    if pred.error:
        return CompareResult(False, pred.error)
    if len(pred.columns) != len(gold.columns):
        return CompareResult(False, "col_count")
    if pred.truncated or gold.truncated:
        return CompareResult(False, "truncated")
    if duplicates not in ("bag", "set"):
        raise ValueError(f"duplicates must be 'bag' or 'set', not {duplicates!r}")
    if duplicates == "bag" and len(pred.rows) != len(gold.rows):
        return CompareResult(False, "row_count")
    pred_rows = [tuple(normalize_value(v) for v in row) for row in pred.rows]
    gold_rows = [tuple(normalize_value(v) for v in row) for row in gold.rows]
    if duplicates == "set":
        pred_rows, gold_rows = list(dict.fromkeys(pred_rows)), list(dict.fromkeys(gold_rows))
        if len(pred_rows) != len(gold_rows):
            return CompareResult(False, "row_count")
    if column_order == "strict":
        reason = _compare_rows(pred_rows, gold_rows, ordered, float_tol)
    elif column_order == "ignore":
        reason = _compare_any_column_order(pred_rows, gold_rows, len(gold.columns), ordered,
                                           float_tol)
    else:
        raise ValueError(f"column_order must be 'strict' or 'ignore', not {column_order!r}")
    return CompareResult(reason is None, reason)


def _compare_rows(pred: list[Row], gold: list[Row], ordered: bool, tol: float) -> str | None:
    if ordered and all(_all_close(p, g, tol) for p, g in zip(pred, gold)):
        return None
    if not _same_multiset(pred, gold, tol):
        return "value_mismatch"
    return "order_mismatch" if ordered else None


def _same_multiset(pred: list[Row], gold: list[Row], tol: float) -> bool:
    """Exact matches first (hashing, fast); the rest pair up within the float tolerance."""
    gold_left = Counter(gold)
    pred_left: list[Row] = []
    for row in pred:
        if gold_left[row] > 0:
            gold_left[row] -= 1
        else:
            pred_left.append(row)
    if not pred_left:
        return True
    if not any(isinstance(v, float) for row in pred_left for v in row):
        return False  # without floats, equality is exact and hashing already decided
    pred_rest = sorted(pred_left, key=_row_key)
    gold_rest = sorted(gold_left.elements(), key=_row_key)
    if all(_all_close(p, g, tol) for p, g in zip(pred_rest, gold_rest)):
        return True
    if len(pred_rest) > _PAIRWISE_LIMIT:
        return False
    # Sorting can misalign rows whose leading floats differ by less than the tolerance.
    for row in pred_rest:
        index = next((i for i, g in enumerate(gold_rest) if _all_close(row, g, tol)), None)
        if index is None:
            return False
        del gold_rest[index]
    return True


def _compare_any_column_order(pred: list[Row], gold: list[Row], width: int, ordered: bool,
                              tol: float) -> str | None:
    """Try column assignments whose per-column value multisets agree; identity first."""
    reason = "value_mismatch"
    max_assignments = max(8, _ASSIGNMENT_BUDGET_ROWS // max(1, len(gold)))
    for assignment in itertools.islice(_column_assignments(pred, gold, width, tol),
                                       max_assignments):
        permuted = [tuple(row[i] for i in assignment) for row in pred]
        found = _compare_rows(permuted, gold, ordered, tol)
        if found is None:
            return None
        if found == "order_mismatch":
            reason = found
    return reason


def _column_assignments(pred: list[Row], gold: list[Row], width: int,
                        tol: float) -> Iterator[tuple[int, ...]]:
    """Yield tuples t (t[j] = the pred column for gold column j) by backtracking over the pred
    columns whose sorted values match gold column j's."""
    pred_sigs = [sorted((row[i] for row in pred), key=_value_key) for i in range(width)]
    gold_sigs = [sorted((row[j] for row in gold), key=_value_key) for j in range(width)]
    candidates = [
        [i for i in sorted(range(width), key=lambda i, j=j: i != j)
         if _all_close(pred_sigs[i], gold_sigs[j], tol)]
        for j in range(width)
    ]

    def extend(prefix: list[int]) -> Iterator[tuple[int, ...]]:
        if len(prefix) == width:
            yield tuple(prefix)
            return
        for i in candidates[len(prefix)]:
            if i not in prefix:
                yield from extend(prefix + [i])

    return extend([])


def _all_close(a: Sequence[Value], b: Sequence[Value], tol: float) -> bool:
    """Element-wise equality within tolerance of two equally long rows or column signatures."""
    return a == b or all(_values_close(x, y, tol) for x, y in zip(a, b))


def _values_close(a: Value, b: Value, tol: float) -> bool:
    if a == b:
        return True
    numbers = (int, float)
    return (isinstance(a, numbers) and isinstance(b, numbers)
            and math.isclose(a, b, rel_tol=tol, abs_tol=tol))


def _value_key(value: Value) -> tuple[int, Value]:
    """A total order over mixed types: NULL < numbers < text."""
    if value is None:
        return (0, 0)
    if isinstance(value, str):
        return (2, value)
    return (1, value)


def _row_key(row: Row) -> tuple[tuple[int, Value], ...]:
    return tuple(_value_key(v) for v in row)
