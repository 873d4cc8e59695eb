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
from .context import BarrierContext


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
        for split, sql, question, evidence, schema_hash, db_path in store.selected_rows(run_id):
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
    store.mark_distilled(run_id, time.time())
    return counts


def step(ctx: BarrierContext) -> tuple[int, int]:
    out_dir = ctx.run_dir / "mlx"
    counts = export(ctx.store, ctx.run_id, out_dir, ctx.config.prompt)
    ctx.log("info", f"exported {counts['train']} train / {counts['valid']} valid examples to "
                    f"{out_dir}")
    return sum(counts.values()), 0
