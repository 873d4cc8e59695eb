"""The rounds after the teacher stage — k candidates (candidates.py), agreement for questions
without gold SQL (agreement.py), then the repair round (repair.py) — as a run configures them,
and their account in their quality reports.

Both are "answer" stages declared before clean (registry.py) and only change which answer the
sample carries on (`item.answer`, `item.cache_key`); the stages after them judge that answer
once, as always. The engine leaves a round that is off out of the run's chain and stage list.
Every turn is a cache entry of its own (the teacher's store), so a resumed run asks nothing
twice, also in the middle of a sample's candidates or before its repair.

`item.rounds` (stored in results.rounds as JSON) records what was asked:
    {"candidates": [{"key": K, "gold_match": bool}, ...], "kept": i,      (k > 1)
     "repair": {"from": K0, "key": K, "why": REASON, "gold_match": bool, "kept": bool},
                                                                        (when asked)
     "agreement": {"candidates": [{"key": K, "group": g}, ...], ...}}  (no gold SQL)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..config import NoGoldConfig, TeacherConfig
from ..store import Store
from .teacher import TeacherStage

ROUND_STAGES = ("candidates", "agreement", "repair")


@dataclass(frozen=True)
class Rounds:
    """What the round stages ask with (StepContext.rounds): the run's teacher stage, whose
    `answer()` stores and counts every turn, and the settings."""

    teacher: TeacherStage
    candidates: int = 1
    candidate_temperature: float = 0.7
    repair: bool = False
    no_gold: NoGoldConfig = field(default_factory=NoGoldConfig)  # the agreement stage's


def round_stages(teacher_config: TeacherConfig, deterministic: bool,
                 no_gold: bool = False) -> tuple[str, ...]:
    """The rounds a run has, in order. A deterministic teacher gets none (asking it again gives
    the same answer), except the agreement stage where questions lack gold SQL (no_gold), which
    then rejects those with a reason."""
    return tuple(name for name, on in (
        ("candidates", teacher_config.candidates > 1 and not deterministic),
        ("agreement", no_gold),
        ("repair", teacher_config.repair and not deterministic)) if on)


def rounds_for(teacher_config: TeacherConfig, teacher: TeacherStage,
               no_gold: NoGoldConfig | None = None) -> Rounds | None:
    """What the rounds ask with; None for a deterministic teacher. `no_gold`: the run has
    questions without gold SQL, asked as these settings say."""
    if teacher.answers.deterministic or not round_stages(teacher_config, False,
                                                         no_gold is not None):
        return None
    return Rounds(teacher, teacher_config.candidates, teacher_config.candidate_temperature,
                  teacher_config.repair, no_gold or NoGoldConfig())


def rounds_json(rounds: dict[str, Any]) -> str | None:
    return json.dumps(rounds, sort_keys=True) if rounds else None


def rounds_report(store: Store, run_id: str, selected: int) -> dict[str, dict[str, Any]]:
    """The round stages' quality report extras, from the store (a resumed run counts all of
    it): repairs asked, kept, fixed and their tokens; pass@1 vs pass@k over the samples that
    had candidates and the extra candidates' tokens; questions checked by agreement, the
    answers asked for them (all of them, the plain one included) and how many agreed; and, in
    each, every answer's tokens and cost in all and per kept (selected) sample."""
    rows = store.query("SELECT cache_key, rounds, gold_match FROM results WHERE run_id = ?"
                       " AND gold_ok = 1 AND teacher_ok = 1", (run_id,))
    repair = {"asked": 0, "kept": 0, "fixed": 0, "tokens_in": 0, "tokens_out": 0, "cost": 0.0}
    candidates = {"samples": 0, "asked": 0, "pass_at_1": 0.0, "pass_at_k": 0.0,
                  "tokens_in": 0, "tokens_out": 0, "cost": 0.0}
    agreement = {"questions": 0, "asked": 0, "agreed": 0, "tokens_in": 0, "tokens_out": 0,
                 "cost": 0.0}
    first_matches = any_matches = 0
    keys: set[str] = set()
    extra_keys: list[str] = []
    repair_keys: list[str] = []
    agreement_keys: list[str] = []
    for cache_key, rounds_text, gold_match in rows:
        rounds = json.loads(rounds_text) if rounds_text else {}
        if "agreement" in rounds:
            record = rounds["agreement"]
            asked_here = [c["key"] for c in record["candidates"]]
            keys.update(asked_here)
            agreement["questions"] += 1
            agreement["asked"] += len(asked_here)
            agreement["agreed"] += "kept" in record
            agreement_keys.extend(asked_here)
            continue
        asked = [c["key"] for c in rounds.get("candidates", [])]
        keys.update(asked or [cache_key])
        if asked:
            candidates["samples"] += 1
            candidates["asked"] += len(asked)
            first_matches += bool(rounds["candidates"][0]["gold_match"])
            any_matches += any(c["gold_match"] for c in rounds["candidates"])
            extra_keys.extend(asked[1:])
        if "repair" in rounds:
            turn = rounds["repair"]
            keys.update((turn["key"], turn["from"]))
            repair["asked"] += 1
            repair["kept"] += bool(turn["kept"])
            repair["fixed"] += bool(turn["kept"] and gold_match)
            repair_keys.append(turn["key"])
    answers = store.answer_usage(keys)
    for key in extra_keys:
        _add(candidates, answers.get(key))
    for key in repair_keys:
        _add(repair, answers.get(key))
    for key in agreement_keys:
        _add(agreement, answers.get(key))
    if candidates["samples"]:
        candidates["pass_at_1"] = first_matches / candidates["samples"]
        candidates["pass_at_k"] = any_matches / candidates["samples"]
    total = {"tokens_in": 0, "tokens_out": 0, "cost": 0.0}
    for key in keys:
        _add(total, answers.get(key))
    per_kept = {name: (value / selected if selected else None) for name, value in total.items()}
    answers_used = {"answers_total": total, "per_kept_sample": per_kept}
    return {"repair": {"repair": repair, **answers_used},
            "candidates": {"candidates": candidates, **answers_used},
            "agreement": {"agreement": agreement, **answers_used}}


def _add(into: dict[str, Any], billed: tuple[int, int, float] | None) -> None:
    if billed is not None:
        into["tokens_in"] += billed[0]
        into["tokens_out"] += billed[1]
        into["cost"] += billed[2]
