"""The pipeline's stages, declared once. The engine runs from this list, and the reports, the
timing report, the headless line and the app read their names, order and marks from it: adding
a per-sample stage is one file (an `AnswerStep`) and one line here.

Kinds, in pipeline order:
- "ingest": canonical, dedup — the producer's, as the dataset is read;
- "gold": the gold check, ahead of the teacher (its own tasks, so the teacher never waits);
- "teacher": the request (its own worker pool, `concurrency` wide);
- "answer": per-sample steps on the teacher's answer, in order, run by `stages.chain` for the
  teacher half and for both student evaluations alike;
- "barrier": once, after the stream and its gate (select, export);
- "student": after export (student_eval_pre, train, student_eval_post).

A stage's total is what the stage before it passes on (its total less its rejections), unless
`reads` names another stage whose kept samples it takes. `marks` are the per-sample timing labels
(DESIGN §3) a stage writes when it runs, so timing labels follow the stage order. The student
stages run on the dataset's eval split: each evaluated question gets distilled (queued for the
student) → student_gen → student_eval.

Read the list through the functions below, not at import time, so that a test can declare a
stage of its own by replacing STAGE_INFO.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import (agreement, candidates, clean, execeval, export, repair, rules, score, select,
               suite_check)
from .context import AnswerStep, BarrierStep


@dataclass(frozen=True)
class StageInfo:
    name: str
    kind: str  # "ingest" | "gold" | "teacher" | "answer" | "barrier" | "student"
    marks: tuple[str, ...] = ()
    #: what the stage runs: an "answer" stage's AnswerStep on a sample, a "barrier" stage's
    #: BarrierStep once (stages/base.py); the other kinds have their own place in the stream
    step: AnswerStep | BarrierStep | None = None
    #: the result columns that are the stage's output, hashed into its manifest
    columns: tuple[str, ...] = ()
    #: an answer stage that also runs on samples rejected before it (the score: every sample
    #: whose gold executes gets one); it rejects nothing itself
    on_rejected: bool = False
    #: write `marks` also for samples rejected before the stage ("filtered" closes the filter
    #: stages for every answered sample)
    mark_skipped: bool = False
    #: the stage whose kept samples this one takes, when not the stage before it
    reads: str = ""


STAGE_INFO: tuple[StageInfo, ...] = (
    StageInfo("canonical", "ingest", ("raw", "canonical", "hashed")),
    StageInfo("dedup", "ingest"),
    StageInfo("gold_check", "gold", columns=("sample_id", "gold_ok", "gold_empty")),
    StageInfo("teacher", "teacher", ("teacher",), columns=("sample_id", "cache_key",
                                                           "teacher_ok")),
    StageInfo("candidates", "answer", step=candidates.step),
    StageInfo("agreement", "answer", step=agreement.step, columns=("sample_id", "agreed")),
    StageInfo("repair", "answer", step=repair.step),
    StageInfo("clean", "answer", step=clean.step, columns=("sample_id", "sql")),
    StageInfo("rules", "answer", ("filtered",), step=rules.step, mark_skipped=True,
              columns=("sample_id", "sql", "sql_fingerprint")),
    StageInfo("execeval", "answer", ("eval",), step=execeval.step,
              columns=("sample_id", "exec_ok", "gold_match", "reason")),
    StageInfo("suite_check", "answer", step=suite_check.step,
              columns=("sample_id", "gold_match", "reason")),
    StageInfo("score", "answer", step=score.step, on_rejected=True, reads="gold_check",
              columns=("sample_id", "score")),
    StageInfo("select", "barrier", ("selected",), step=select.step,
              columns=("sample_id", "selected", "split")),
    StageInfo("export", "barrier", ("distilled",), step=export.step,
              columns=("sample_id", "split", "sql")),
    StageInfo("student_eval_pre", "student", ("student_gen", "student_eval")),
    StageInfo("train", "student"),
    StageInfo("student_eval_post", "student", ("student_gen", "student_eval")),
)

#: The student evaluation stages and the phase each one measures.
STUDENT_EVAL_PHASES = {"student_eval_pre": "pre", "student_eval_post": "post"}


def stages(*kinds: str) -> tuple[StageInfo, ...]:
    """The declared stages in pipeline order, of the given kinds (all without)."""
    return tuple(s for s in STAGE_INFO if not kinds or s.kind in kinds)


def stage_names(*kinds: str) -> tuple[str, ...]:
    """Stage names in pipeline order, as they appear in events and reports."""
    return tuple(s.name for s in stages(*kinds))


def stage(name: str) -> StageInfo:
    for info in STAGE_INFO:
        if info.name == name:
            return info
    raise KeyError(name)


def upstream(name: str) -> str:
    """The stage whose kept samples `name` takes: its `reads`, else the stage before it."""
    names = stage_names()
    info = stage(name)
    return info.reads or names[names.index(name) - 1]


def timed_stages() -> tuple[str, ...]:
    """Stages timed per sample (own work, not waiting), in the order the timing bars show
    them: the streaming stages after the ingest."""
    return stage_names("gold", "teacher", "answer")


def timing_labels() -> tuple[str, ...]:
    """Timing labels in pipeline order; a transition is a pair of consecutive labels a sample
    has."""
    return tuple(dict.fromkeys(m for s in STAGE_INFO for m in s.marks))
