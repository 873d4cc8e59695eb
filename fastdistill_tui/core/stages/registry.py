"""The pipeline's stages, declared once: the engine, the reports, the timing report and the app
read their names, order and timing marks from here.

`marks` are the per-sample timing labels (DESIGN §3) a stage writes, so TIMING_LABELS follows the
stage order. The student stages run on the dataset's eval split, not on the distilled samples:
each evaluated question gets distilled (queued for the student) → student_gen → student_eval.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StageInfo:
    name: str
    kind: str  # "stream": per sample, side by side | "barrier": once, after the gate | "student"
    marks: tuple[str, ...] = ()


STAGE_INFO: tuple[StageInfo, ...] = (
    StageInfo("canonical", "stream", ("raw", "canonical", "hashed")),
    StageInfo("dedup", "stream"),
    StageInfo("gold_check", "stream"),
    StageInfo("teacher", "stream", ("teacher",)),
    StageInfo("candidates", "stream"),  # teacher.candidates > 1: up to k answers, one kept
    StageInfo("repair", "stream"),  # teacher.repair: a failed or empty answer asked once more
    StageInfo("clean", "stream"),
    StageInfo("rules", "stream", ("filtered",)),
    StageInfo("execeval", "stream", ("eval",)),
    StageInfo("score", "stream"),
    StageInfo("select", "barrier", ("selected",)),
    StageInfo("export", "barrier", ("distilled",)),
    StageInfo("student_eval_pre", "student", ("student_gen", "student_eval")),
    StageInfo("train", "student"),
    StageInfo("student_eval_post", "student", ("student_gen", "student_eval")),
)

#: Stage names in pipeline order, as they appear in events and reports.
STAGES: tuple[str, ...] = tuple(s.name for s in STAGE_INFO)
STREAM_STAGES: tuple[str, ...] = tuple(s.name for s in STAGE_INFO if s.kind == "stream")
STUDENT_STAGES: tuple[str, ...] = tuple(s.name for s in STAGE_INFO if s.kind == "student")
#: Timing labels in pipeline order; a transition is a pair of consecutive labels a sample has.
TIMING_LABELS: tuple[str, ...] = tuple(dict.fromkeys(m for s in STAGE_INFO for m in s.marks))
#: The student evaluation stages and the phase each one measures.
STUDENT_EVAL_PHASES = {"student_eval_pre": "pre", "student_eval_post": "post"}
