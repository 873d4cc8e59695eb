"""The run store: one SQLite file (WAL) holding runs, samples, teacher answers and results.

The teacher cache is global across runs (keyed by DESIGN §3's cache key), so a rerun of the same
config makes no teacher request. Everything a run produces is a row here before it is used, so
a run killed at any point resumes from the rows that reached disk.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import SetupError
from .runs import RESUMABLE_STATUSES
from .types import Answer, Completion, Failure

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    finished_at REAL,
    status TEXT NOT NULL,
    config_hash TEXT NOT NULL,
    config_json TEXT NOT NULL,
    dataset TEXT NOT NULL,
    teacher TEXT NOT NULL,
    gate_decisions TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS schemas (
    schema_hash TEXT PRIMARY KEY,
    schema_json TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS samples (
    run_id TEXT NOT NULL,
    sample_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    source TEXT NOT NULL,
    question TEXT NOT NULL,
    evidence TEXT NOT NULL,
    db_path TEXT NOT NULL,
    gold_sql TEXT NOT NULL,
    schema_hash TEXT NOT NULL,
    logical_form TEXT,
    PRIMARY KEY (run_id, sample_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS teacher_answers (
    cache_key TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    ok INTEGER NOT NULL,
    text TEXT,
    reason TEXT,
    detail TEXT,
    http_status INTEGER,
    finish_reason TEXT,
    tokens_in INTEGER NOT NULL,
    tokens_out INTEGER NOT NULL,
    cost REAL NOT NULL,
    latency_s REAL NOT NULL,
    attempts INTEGER NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS results (
    run_id TEXT NOT NULL,
    sample_id TEXT NOT NULL,
    cache_key TEXT,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    gold_ok INTEGER NOT NULL,
    gold_empty INTEGER NOT NULL DEFAULT 0,
    teacher_ok INTEGER NOT NULL DEFAULT 0,
    sql TEXT,
    sql_fingerprint TEXT,
    exec_ok INTEGER NOT NULL DEFAULT 0,
    gold_match INTEGER NOT NULL DEFAULT 0,
    score REAL NOT NULL DEFAULT 0,
    rejected_at TEXT,
    reason TEXT,
    detail TEXT,
    marks TEXT NOT NULL,
    selected INTEGER NOT NULL DEFAULT 0,
    split TEXT,
    lf_match INTEGER,
    lf_exec_match INTEGER,
    rounds TEXT,
    agreed INTEGER,
    PRIMARY KEY (run_id, sample_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS student_answers (
    cache_key TEXT PRIMARY KEY,
    text TEXT NOT NULL,
    tokens_in INTEGER NOT NULL,
    tokens_out INTEGER NOT NULL,
    truncated INTEGER NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS student_results (
    run_id TEXT NOT NULL,
    phase TEXT NOT NULL,
    sample_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    cache_key TEXT NOT NULL,
    sql TEXT,
    exec_ok INTEGER NOT NULL,
    gold_match INTEGER NOT NULL,
    score REAL NOT NULL,
    rejected_at TEXT,
    reason TEXT,
    detail TEXT NOT NULL,
    marks TEXT NOT NULL,
    PRIMARY KEY (run_id, phase, sample_id)
) WITHOUT ROWID;
-- a person's verdicts on kept rows (fastdistill report RUN --audit N)
CREATE TABLE IF NOT EXISTS audits (
    run_id TEXT NOT NULL,
    sample_id TEXT NOT NULL,
    verdict TEXT NOT NULL,
    note TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (run_id, sample_id)
) WITHOUT ROWID;
"""

#: The home list's counts per run (run_index.py) read these instead of the wide rows; made
#: after _migrate, since an older store gets the columns they cover there.
INDEXES = """
CREATE INDEX IF NOT EXISTS samples_by_run ON samples (run_id);
CREATE INDEX IF NOT EXISTS results_counts
    ON results (run_id, selected, gold_ok, teacher_ok, exec_ok, gold_match, agreed, cache_key);
"""


@dataclass
class ResultRow:
    """One sample's outcome through score; written once, after the score stage."""

    sample_id: str
    cache_key: str | None
    prompt_tokens: int
    gold_ok: bool
    gold_empty: bool
    teacher_ok: bool
    sql: str | None
    sql_fingerprint: str | None
    exec_ok: bool
    gold_match: bool
    score: float
    rejected_at: str | None  # stage name that rejected it, None if it reached score clean
    reason: str | None
    detail: str
    marks: dict[str, float]
    lf_match: bool | None = None  # WikiSQL metrics; None when the sample has no logical form
    lf_exec_match: bool | None = None
    rounds: str | None = None  # JSON: the candidates and repair asked (stages/answer_rounds.py)
    #: None for a sample with gold SQL; without: whether agreement kept it (stages/agreement.py)
    agreed: bool | None = None


@dataclass
class StudentResultRow:
    """One eval-split question answered by the student, before (pre) or after (post) training."""

    sample_id: str
    seq: int
    cache_key: str
    sql: str | None
    exec_ok: bool
    gold_match: bool
    score: float
    rejected_at: str | None
    reason: str | None
    detail: str
    marks: dict[str, float]


SCHEMA_VERSION = 4
#: Columns added after version 1, which a store from an earlier version gets on open.
ADDED_COLUMNS = {"results": [("lf_match", "INTEGER"), ("lf_exec_match", "INTEGER"),
                             ("rounds", "TEXT"), ("agreed", "INTEGER")]}

INSERT_ANSWER = ("INSERT OR REPLACE INTO teacher_answers"
                 " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")


class Store:
    """Thin data access over the run store. Use from one thread (the engine's event loop)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.execute("PRAGMA busy_timeout=10000")
            self.conn.executescript(SCHEMA)
            self._migrate()
            self.conn.executescript(INDEXES)
        except (OSError, sqlite3.Error) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            where = getattr(exc, "filename", None) or self.path
            raise SetupError(f"cannot open the run store: {reason}", path=str(where),
                             hint="check that the data directory (XDG_DATA_HOME or "
                                  "run.data_dir) is writable and the disk is not full") from None
        self._pending_samples: list[tuple] = []
        self._pending_answers: list[tuple] = []
        self._pending_results: list[tuple] = []
        self._known_schemas: set[str] = set()

    def close(self) -> None:
        self.flush()
        self.conn.close()

    def _migrate(self) -> None:
        """Bring a store written by an earlier version up to SCHEMA_VERSION (in place: runs and
        cached answers are kept)."""
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version >= SCHEMA_VERSION:
            return
        for table, columns in ADDED_COLUMNS.items():
            present = {row[1] for row in self.conn.execute(f"PRAGMA table_info({table})")}
            for name, declaration in columns:
                if name not in present:
                    self.conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {declaration}")
        self.conn.execute("DROP INDEX IF EXISTS results_summary")  # results_counts replaces it
        self.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    # -- runs -------------------------------------------------------------------------------
    def create_run(self, run_id: str, config_hash: str, config_json: str, dataset: str,
                   teacher: str) -> None:
        self.conn.execute(
            "INSERT INTO runs (run_id, created_at, status, config_hash, config_json, dataset,"
            " teacher) VALUES (?, ?, 'running', ?, ?, ?, ?)",
            (run_id, time.time(), config_hash, config_json, dataset, teacher))

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        cur = self.conn.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,))
        row = cur.fetchone()
        if row is None:
            return None
        return dict(zip([d[0] for d in cur.description], row))

    def list_runs(self) -> list[dict[str, Any]]:
        cur = self.conn.execute("SELECT * FROM runs ORDER BY created_at DESC")
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, row)) for row in cur.fetchall()]

    def latest_unfinished_run(self, config_hash: str) -> str | None:
        """The newest run of this config that did not complete: a rerun continues it (a
        gate-failed run too, so that a rerun with the gate overridden picks up its answers; not
        a dataset_invalid one, whose gold failures a fixed dataset must not inherit)."""
        row = self.conn.execute(
            f"SELECT run_id FROM runs WHERE config_hash = ? AND status IN"
            f" ({','.join('?' * len(RESUMABLE_STATUSES))}) ORDER BY created_at DESC LIMIT 1",
            (config_hash, *RESUMABLE_STATUSES)).fetchone()
        return row[0] if row else None

    def set_run_status(self, run_id: str, status: str) -> None:
        finished = time.time() if status != "running" else None
        self.conn.execute("UPDATE runs SET status = ?, finished_at = ? WHERE run_id = ?",
                          (status, finished, run_id))

    def add_gate_decision(self, run_id: str, decision: dict[str, Any]) -> None:
        row = self.conn.execute("SELECT gate_decisions FROM runs WHERE run_id = ?",
                                (run_id,)).fetchone()
        decisions = json.loads(row[0]) + [decision]
        self.conn.execute("UPDATE runs SET gate_decisions = ? WHERE run_id = ?",
                          (json.dumps(decisions), run_id))

    # -- samples ----------------------------------------------------------------------------
    def add_schema(self, schema_hash: str, schema_json: str) -> None:
        if schema_hash in self._known_schemas:
            return
        self.conn.execute("INSERT OR IGNORE INTO schemas VALUES (?, ?)", (schema_hash, schema_json))
        self._known_schemas.add(schema_hash)

    def get_schema_json(self, schema_hash: str) -> str:
        return self.conn.execute("SELECT schema_json FROM schemas WHERE schema_hash = ?",
                                 (schema_hash,)).fetchone()[0]

    def queue_sample(self, row: tuple) -> None:
        """(run_id, sample_id, seq, source, question, evidence, db_path, gold_sql, schema_hash,
        logical_form_json); written on the next flush."""
        self._pending_samples.append(row)

    def done_sample_ids(self, run_id: str, final_teacher_failures: Iterable[str]) -> set[str]:
        """Samples a resume need not redo: all with a result, except those whose teacher
        answer failed for a reason worth asking again, and those whose gold query timed out."""
        final = tuple(f"teacher_{reason}" for reason in final_teacher_failures)
        marks = ",".join("?" * len(final)) or "NULL"
        return {r[0] for r in self.conn.execute(
            "SELECT sample_id FROM results WHERE run_id = ? AND NOT (gold_ok = 1 AND"
            f" teacher_ok = 0 AND reason NOT IN ({marks})) AND NOT (gold_ok = 0 AND"
            " reason = 'gold_timeout')", (run_id, *final))}

    def unanswered(self, run_id: str, final_teacher_failures: Iterable[str]
                   ) -> list[tuple[str, int, str]]:
        """(reason, samples, one detail) of the run's samples that got no teacher answer for a
        reason a resume asks again (the complement of done_sample_ids' teacher part)."""
        final = tuple(f"teacher_{reason}" for reason in final_teacher_failures)
        marks = ",".join("?" * len(final)) or "NULL"
        return [tuple(row) for row in self.conn.execute(
            "SELECT reason, COUNT(*), MAX(detail) FROM results WHERE run_id = ? AND gold_ok = 1"
            f" AND teacher_ok = 0 AND reason NOT IN ({marks}) GROUP BY reason"
            " ORDER BY COUNT(*) DESC, reason", (run_id, *final))]

    def result_flags(self, run_id: str) -> dict[str, tuple]:
        """sample_id -> (gold_ok, teacher_ok, exec_ok, gold_match, score, gold_empty,
        rejected_at, reason, detail, agreed) of every stored result: what a resume counts for
        finished samples."""
        return {row[0]: row[1:] for row in self.conn.execute(
            "SELECT sample_id, gold_ok, teacher_ok, exec_ok, gold_match, score, gold_empty,"
            " rejected_at, reason, detail, agreed FROM results WHERE run_id = ?", (run_id,))}

    def first_gold_failure(self, run_id: str) -> tuple[str, str]:
        """(source file:line, detail) of the run's first sample whose gold SQL failed."""
        row = self.conn.execute(
            "SELECT s.source, r.detail FROM results r JOIN samples s USING (run_id, sample_id)"
            " WHERE r.run_id = ? AND r.gold_ok = 0 ORDER BY s.seq LIMIT 1", (run_id,)).fetchone()
        return (row[0], row[1] or "") if row else ("", "")

    # -- teacher cache ----------------------------------------------------------------------
    def get_answer(self, cache_key: str) -> Answer | None:
        row = self.conn.execute(
            "SELECT ok, text, reason, detail, http_status, finish_reason, tokens_in, tokens_out,"
            " cost, latency_s, attempts FROM teacher_answers WHERE cache_key = ?",
            (cache_key,)).fetchone()
        if row is None:
            return None
        ok, text, reason, detail, status, finish, t_in, t_out, cost, latency, attempts = row
        if ok:
            return Completion(text=text, tokens_in=t_in, tokens_out=t_out, cost=cost,
                              latency_s=latency, attempts=attempts, finish_reason=finish or "")
        return Failure(reason=reason, detail=detail or "", attempts=attempts, latency_s=latency,
                       http_status=status, tokens_in=t_in, tokens_out=t_out, cost=cost)

    def put_answer(self, cache_key: str, provider: str, model: str, answer: Answer, *,
                   commit_now: bool = True) -> None:
        """Persist a teacher answer before anything uses it: committed at once, or (for
        answers that are free to recompute) with the next flush, ahead of the results."""
        is_ok = isinstance(answer, Completion)
        row = (cache_key, provider, model, int(is_ok),
               answer.text if is_ok else None,
               None if is_ok else answer.reason,
               None if is_ok else answer.detail,
               None if is_ok else answer.http_status,
               answer.finish_reason if is_ok else None,
               answer.tokens_in, answer.tokens_out, answer.cost, answer.latency_s,
               answer.attempts, time.time())
        if commit_now:
            self.conn.execute(INSERT_ANSWER, row)
        else:
            self._pending_answers.append(row)

    def answer_usage(self, keys: Iterable[str]) -> dict[str, tuple[int, int, float]]:
        """cache_key -> (tokens_in, tokens_out, cost) of the stored answers among `keys`."""
        keys = list(keys)
        usage: dict[str, tuple[int, int, float]] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            usage.update((key, (t_in, t_out, cost)) for key, t_in, t_out, cost in self.conn.execute(
                "SELECT cache_key, tokens_in, tokens_out, cost FROM teacher_answers WHERE"
                f" cache_key IN ({','.join('?' * len(chunk))})", chunk))
        return usage

    # -- results ----------------------------------------------------------------------------
    def queue_result(self, run_id: str, r: ResultRow) -> None:
        self._pending_results.append((
            run_id, r.sample_id, r.cache_key, r.prompt_tokens, int(r.gold_ok), int(r.gold_empty),
            int(r.teacher_ok), r.sql, r.sql_fingerprint, int(r.exec_ok), int(r.gold_match),
            r.score, r.rejected_at, r.reason, r.detail, json.dumps(r.marks),
            _optional_bool(r.lf_match), _optional_bool(r.lf_exec_match), r.rounds,
            _optional_bool(r.agreed)))

    @property
    def pending(self) -> int:
        return (len(self._pending_samples) + len(self._pending_answers)
                + len(self._pending_results))

    def flush(self) -> None:
        """Write queued samples and answers before the results that refer to them, in one
        transaction."""
        if not self.pending:
            return
        with self.conn:
            self.conn.execute("BEGIN")
            if self._pending_samples:
                self.conn.executemany(
                    "INSERT OR IGNORE INTO samples VALUES (?,?,?,?,?,?,?,?,?,?)",
                    self._pending_samples)
            if self._pending_answers:
                self.conn.executemany(INSERT_ANSWER, self._pending_answers)
            if self._pending_results:
                self.conn.executemany(
                    "INSERT OR REPLACE INTO results (run_id, sample_id, cache_key, prompt_tokens,"
                    " gold_ok, gold_empty, teacher_ok, sql, sql_fingerprint, exec_ok, gold_match,"
                    " score, rejected_at, reason, detail, marks, lf_match, lf_exec_match, rounds,"
                    " agreed) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    self._pending_results)
        self._pending_samples.clear()
        self._pending_answers.clear()
        self._pending_results.clear()

    def results(self, run_id: str) -> Iterator[dict[str, Any]]:
        """The run's result rows, all columns, in sample_id order (the order manifests hash
        in), streamed."""
        cur = self.conn.execute("SELECT * FROM results WHERE run_id = ? ORDER BY sample_id",
                                (run_id,))
        names = [d[0] for d in cur.description]
        return (dict(zip(names, values)) for values in cur)

    def stored_samples(self, run_id: str) -> Iterator[tuple[str, int, str, str]]:
        """(sample_id, seq, question, schema_hash) of the run's samples in sample_id order."""
        return self.conn.execute("SELECT sample_id, seq, question, schema_hash FROM samples"
                                 " WHERE run_id = ? ORDER BY sample_id", (run_id,))

    def all_marks(self, run_id: str) -> Iterator[dict[str, float]]:
        """Every timing-mark dict of the run: teacher results, then student results."""
        return (json.loads(m) for (m,) in self.conn.execute(
            "SELECT marks FROM results WHERE run_id = ? UNION ALL"
            " SELECT marks FROM student_results WHERE run_id = ?", (run_id, run_id)))

    # -- select and export ------------------------------------------------------------------
    def select_results(self, run_id: str, min_score: float, valid_fraction: float,
                       bucket: Callable[[str], float]) -> int:
        """Marks the selected results (score ≥ min_score, not rejected, a gold result with
        rows) and their split (`bucket(sample_id) < valid_fraction`: valid); returns how many.
        One UPDATE in SQLite, so memory does not grow with the run."""
        conn = self.conn
        conn.create_function("fd_valid_bucket", 1, bucket, deterministic=True)
        eligible = ("run_id = :run AND gold_ok = 1 AND gold_empty = 0 AND teacher_ok = 1"
                    " AND sql IS NOT NULL AND rejected_at IS NULL AND score >= :min_score")
        params = {"run": run_id, "min_score": min_score, "vf": valid_fraction,
                  "now": time.time()}
        with conn:
            conn.execute("BEGIN")
            conn.execute("UPDATE results SET selected = 0, split = NULL WHERE run_id = :run",
                         params)
            count = conn.execute(
                "UPDATE results SET selected = 1, marks = json_set(marks, '$.selected', :now),"
                " split = CASE WHEN fd_valid_bucket(sample_id) < :vf THEN 'valid' ELSE 'train'"
                f" END WHERE {eligible}", params).rowcount
            has_valid = conn.execute(
                "SELECT 1 FROM results WHERE run_id = :run AND selected = 1"
                " AND split = 'valid' LIMIT 1", params).fetchone()
            # mlx-lm needs a non-empty valid set: with none hashed there, move the lowest bucket
            if valid_fraction > 0 and count >= 2 and not has_valid:
                conn.execute(
                    "UPDATE results SET split = 'valid' WHERE run_id = :run AND sample_id = ("
                    " SELECT sample_id FROM results WHERE run_id = :run AND selected = 1"
                    " ORDER BY fd_valid_bucket(sample_id) LIMIT 1)", params)
        return count

    def selected_rows(self, run_id: str) -> Iterator[tuple[str, str, str, str, str, str]]:
        """(split, sql, question, evidence, schema_hash, db_path) of the selected samples in
        sample_id order, streamed."""
        return self.conn.execute(
            "SELECT r.split, r.sql, s.question, s.evidence, s.schema_hash, s.db_path"
            " FROM results r JOIN samples s USING (run_id, sample_id)"
            " WHERE r.run_id = ? AND r.selected = 1 ORDER BY r.sample_id", (run_id,))

    def mark_distilled(self, run_id: str, at: float) -> None:
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.execute("UPDATE results SET marks = json_set(marks, '$.distilled', ?)"
                              " WHERE run_id = ? AND selected = 1", (at, run_id))

    # -- student ----------------------------------------------------------------------------
    def get_student_answer(self, cache_key: str) -> dict[str, Any] | None:
        """A generated student answer, cached across runs like the teacher's (same model,
        adapter, prompt and generation settings give the same greedy text)."""
        row = self.conn.execute("SELECT text, tokens_in, tokens_out, truncated FROM"
                                " student_answers WHERE cache_key = ?", (cache_key,)).fetchone()
        if row is None:
            return None
        return {"text": row[0], "tokens_in": row[1], "tokens_out": row[2],
                "truncated": bool(row[3])}

    def put_student_result(self, run_id: str, phase: str, r: StudentResultRow, *,
                           answer: dict[str, Any] | None = None) -> None:
        """One evaluated student answer (and, when freshly generated, the answer itself),
        committed together so a stopped evaluation resumes where it stopped."""
        with self.conn:
            self.conn.execute("BEGIN")
            if answer is not None:
                self.conn.execute(
                    "INSERT OR REPLACE INTO student_answers VALUES (?,?,?,?,?,?)",
                    (r.cache_key, answer["text"], answer["tokens_in"], answer["tokens_out"],
                     int(answer["truncated"]), time.time()))
            self.conn.execute(
                "INSERT OR REPLACE INTO student_results VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (run_id, phase, r.sample_id, r.seq, r.cache_key, r.sql, int(r.exec_ok),
                 int(r.gold_match), r.score, r.rejected_at, r.reason, r.detail,
                 json.dumps(r.marks)))

    def student_done_ids(self, run_id: str, phase: str) -> set[str]:
        return {r[0] for r in self.conn.execute(
            "SELECT sample_id FROM student_results WHERE run_id = ? AND phase = ?",
            (run_id, phase))}

    def student_results(self, run_id: str, phase: str) -> Iterable[dict[str, Any]]:
        """The phase's evaluated answers in sample_id order (the order manifests hash in)."""
        cur = self.conn.execute("SELECT * FROM student_results WHERE run_id = ? AND phase = ?"
                                " ORDER BY sample_id", (run_id, phase))
        names = [d[0] for d in cur.description]
        return (dict(zip(names, values)) for values in cur)

    def distilled_overlap(self, run_id: str, sample_ids: Iterable[str]) -> int:
        """How many of sample_ids were distilled (selected) in this run: 0 for a disjoint
        eval split."""
        ids = list(sample_ids)
        if not ids:
            return 0
        selected = {r[0] for r in self.conn.execute(
            "SELECT sample_id FROM results WHERE run_id = ? AND selected = 1", (run_id,))}
        return sum(1 for i in ids if i in selected)

    def rows_to_audit(self, run_id: str, limit: int) -> list[dict[str, Any]]:
        """Up to `limit` kept rows, those without a verdict first, in sample_id order (a hash:
        an unbiased sample that is the same on every call)."""
        cur = self.conn.execute(
            "SELECT s.sample_id, s.question, s.evidence, s.db_path, s.gold_sql, r.sql,"
            " a.verdict FROM results AS r JOIN samples AS s USING (run_id, sample_id)"
            " LEFT JOIN audits AS a USING (run_id, sample_id)"
            " WHERE r.run_id = ? AND r.selected = 1"
            " ORDER BY a.verdict IS NOT NULL, s.sample_id LIMIT ?", (run_id, limit))
        names = [d[0] for d in cur.description]
        return [dict(zip(names, values)) for values in cur]

    def put_audit(self, run_id: str, sample_id: str, verdict: str, note: str = "") -> None:
        """A person's verdict ("right" or "wrong") on a kept row; a later one replaces it."""
        self.conn.execute("INSERT OR REPLACE INTO audits VALUES (?, ?, ?, ?, ?)",
                          (run_id, sample_id, verdict, note, time.time()))

    def audits(self, run_id: str) -> list[dict[str, Any]]:
        cur = self.conn.execute(
            "SELECT a.sample_id, a.verdict, a.note, a.created_at, s.question, s.gold_sql, r.sql"
            " FROM audits AS a JOIN samples AS s USING (run_id, sample_id)"
            " JOIN results AS r USING (run_id, sample_id) WHERE a.run_id = ?"
            " ORDER BY a.sample_id", (run_id,))
        names = [d[0] for d in cur.description]
        return [dict(zip(names, values)) for values in cur]

    def distilled_db_paths(self, run_id: str) -> set[str]:
        """The SQLite files of the samples this run distilled (selected)."""
        return {r[0] for r in self.conn.execute(
            "SELECT DISTINCT s.db_path FROM results r JOIN samples s ON s.run_id = r.run_id "
            "AND s.sample_id = r.sample_id WHERE r.run_id = ? AND r.selected = 1", (run_id,))}

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple]:
        return self.conn.execute(sql, tuple(params)).fetchall()


def _optional_bool(value: bool | None) -> int | None:
    return None if value is None else int(value)
