"""export: write the selected answers as mlx-lm `messages` JSONL (train.jsonl / valid.jsonl)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from ..config import PromptConfig
from ..prompt import render_messages, render_student_target
from ..store import Store
from ..types import Schema


def export(store: Store, run_id: str, out_dir: Path,
           prompt: PromptConfig | None = None) -> dict[str, int]:
    """Writes both files atomically, in sample_id order, streaming; returns counts per split.
    The prompts are rendered as the teacher's were (prompt: the run's [prompt] settings)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    schemas: dict[str, Schema] = {}
    counts = {"train": 0, "valid": 0}
    handles = {split: open(out_dir / f"{split}.jsonl.tmp", "w", encoding="utf-8")
               for split in counts}
    try:
        rows = store.conn.execute(
            "SELECT r.split, r.sql, s.question, s.evidence, s.schema_hash, s.db_path"
            " FROM results r JOIN samples s USING (run_id, sample_id)"
            " WHERE r.run_id = ? AND r.selected = 1 ORDER BY r.sample_id", (run_id,))
        for split, sql, question, evidence, schema_hash, db_path in rows:
            schema = schemas.get(schema_hash)
            if schema is None:
                schema = Schema.from_json(json.loads(store.get_schema_json(schema_hash)))
                schemas[schema_hash] = schema
            messages = render_messages(schema, question, evidence, db_path=db_path,
                                       content=prompt)
            messages.append({"role": "assistant", "content": render_student_target(sql)})
            handles[split].write(json.dumps({"messages": messages}, ensure_ascii=False) + "\n")
            counts[split] += 1
    finally:
        for handle in handles.values():
            handle.close()
    for split in counts:
        os.replace(out_dir / f"{split}.jsonl.tmp", out_dir / f"{split}.jsonl")
    with store.conn:
        store.conn.execute("BEGIN")
        store.conn.execute("UPDATE results SET marks = json_set(marks, '$.distilled', ?)"
                           " WHERE run_id = ? AND selected = 1", (time.time(), run_id))
    return counts
