"""A person's check of kept rows (`fastdistill report RUN --audit N`): N kept rows are shown
(question, answer, gold, the first rows of both results, run again in the sandbox) and a
verdict is recorded for each, in the run store and in reports/audit_report.json, whose
`precision` is right / (right + wrong) over every verdict given for the run so far.

Rows without a verdict come first, in sample_id order (a hash, so an unbiased sample that is
the same every time). Verdicts come from answers to prompts, one line each: y (right), n
(wrong), s (skip), q (stop), optionally followed by a note ("n ignores the year"); a script
can pipe those lines on stdin. Or from a file (`--verdicts FILE`): one `SAMPLE_ID right|wrong
[note]` a line, `#` comments and blank lines ignored.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import artifacts
from .config import EvalConfig
from .errors import InputError
from .sql.execute import ExecResult, SqlExecutor
from .store import Store

SHOW_ROWS = 5  # rows of each result printed
_WORDS = {"y": "right", "yes": "right", "right": "right",
          "n": "wrong", "no": "wrong", "wrong": "wrong"}


@dataclass
class AuditItem:
    sample_id: str
    question: str
    evidence: str
    gold_sql: str
    sql: str
    gold: ExecResult
    answer: ExecResult
    verdict: str | None  # an earlier verdict, if any


def load_items(store: Store, run_id: str, count: int, config: EvalConfig) -> list[AuditItem]:
    rows = store.rows_to_audit(run_id, count)
    executor = SqlExecutor(config.timeout_s, config.row_cap, config.workers)

    async def run_both(row: dict[str, Any]) -> tuple[ExecResult, ExecResult]:
        gold, answer = await asyncio.gather(executor.aexecute(row["db_path"], row["gold_sql"]),
                                            executor.aexecute(row["db_path"], row["sql"]))
        return gold, answer

    async def run_all() -> list[tuple[ExecResult, ExecResult]]:
        return await asyncio.gather(*(run_both(r) for r in rows))

    try:
        results = asyncio.run(run_all())
    finally:
        executor.close()
    return [AuditItem(r["sample_id"], r["question"], r["evidence"], r["gold_sql"], r["sql"],
                      gold, answer, r["verdict"]) for r, (gold, answer) in zip(rows, results)]


def format_result(result: ExecResult) -> list[str]:
    if not result.ok:
        return [f"    error {result.error}: {result.detail}"]
    count = f"{len(result.rows)}{'+' if result.truncated else ''} row(s)"
    lines = [f"    {count}; columns: {', '.join(result.columns)}"]
    lines += [f"    {row!r}" for row in result.rows[:SHOW_ROWS]]
    if len(result.rows) > SHOW_ROWS:
        lines.append("    …")
    return lines


def format_item(index: int, total: int, item: AuditItem) -> str:
    lines = [f"[{index}/{total}] {item.sample_id}"
             + (f" (earlier verdict: {item.verdict})" if item.verdict else ""),
             f"  question: {item.question}"]
    if item.evidence:
        lines.append(f"  evidence: {item.evidence}")
    lines += [f"  answer:   {item.sql}", *format_result(item.answer),
              f"  gold:     {item.gold_sql}", *format_result(item.gold)]
    return "\n".join(lines)


def parse_answer(line: str) -> tuple[str, str] | None:
    """(verdict or "skip" or "stop", note) from a prompt's answer; None when not understood."""
    word, _, note = line.strip().partition(" ")
    word = word.lower()
    if word in ("s", "skip", ""):
        return "skip", ""
    if word in ("q", "quit", "stop"):
        return "stop", ""
    verdict = _WORDS.get(word)
    return None if verdict is None else (verdict, note.strip())


def read_verdicts(path: Path) -> dict[str, tuple[str, str]]:
    """sample_id -> (verdict, note) from a verdicts file; a bad line is an InputError naming it."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read the verdicts file: {exc.strerror or exc}",
                         path=str(path)) from None
    verdicts = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        sample_id, _, rest = line.partition(" ")
        word, _, note = rest.strip().partition(" ")
        verdict = _WORDS.get(word.lower())
        if verdict is None:
            raise InputError(f"expected 'SAMPLE_ID right|wrong [note]', got {line!r}",
                             path=str(path), line=number,
                             hint="one verdict a line: the sample id, then right or wrong")
        verdicts[sample_id] = (verdict, note.strip())
    return verdicts


def audit(store: Store, run_id: str, items: list[AuditItem], *, out: Callable[[str], None],
          ask: Callable[[str], str | None] | None = None,
          verdicts: dict[str, tuple[str, str]] | None = None) -> int:
    """Shows each item and records its verdict: from `verdicts` when given (items it does not
    name are shown and left), else from `ask` (None: end of input, stop). Returns how many
    verdicts were recorded."""
    recorded = 0
    for index, item in enumerate(items, 1):
        out(format_item(index, len(items), item))
        if verdicts is not None:
            given = verdicts.get(item.sample_id)
            if given is None:
                out("  (no verdict in the file)")
                continue
        else:
            given = None
            while given is None:
                line = ask("  right? [y]es [n]o [s]kip [q]uit (+ note): ") if ask else None
                if line is None:
                    return recorded
                given = parse_answer(line)
                if given is None:
                    out("  answer y, n, s or q (a note may follow y or n)")
            if given[0] == "stop":
                return recorded
            if given[0] == "skip":
                continue
        store.put_audit(run_id, item.sample_id, *given)
        recorded += 1
    return recorded


def write_audit_report(store: Store, run_id: str, run_dir: Path) -> dict[str, Any]:
    rows = store.audits(run_id)
    right = sum(r["verdict"] == "right" for r in rows)
    report = {"run_id": run_id, "audited": len(rows), "right": right,
              "wrong": len(rows) - right,
              "precision": right / len(rows) if rows else None, "rows": rows}
    artifacts.write_json(run_dir / "reports" / "audit_report.json", report)
    return report
