"""candidates: with `teacher.candidates = k` > 1, a sample whose answer does not match gold is
asked again, up to k answers in all, and carries on the best one (the first gold match, else the
best by answer_rounds.rank; the earlier on a tie).

The first candidate is the plain request (teacher.temperature), so pass@1 is what a run without
candidates gets and its answer is shared with such a run's cache. Candidate i > 0 is asked at
`teacher.candidate_temperature` with seed i: a key of its own, reproducible where the server
honours seeds. Candidates are asked one after another and stop at the first gold match, so a
sample costs only the answers it needed. Each is stored before use: a run stopped mid-candidates
asks on resume only those it lacks.
"""

from __future__ import annotations

from dataclasses import replace

from .base import WorkItem
from .context import StepContext
from .trial import keep, rank, trial, verified


async def step(item: WorkItem, ctx: StepContext) -> None:
    """Leaves the kept answer's trial in `item.trial` for the repair round; a stop
    mid-candidates rejects the sample as teacher_cancelled (not stored: left for the resume)."""
    rounds = ctx.rounds
    if rounds is None or rounds.candidates <= 1 or not item.example.has_gold:
        return  # without gold SQL, the agreement stage asks the candidates
    teacher, check_rules = rounds.teacher, ctx.rules.check
    judged = await trial(item, item.answer, ctx.evaluator, check_rules)
    asked = [{"key": item.cache_key, "gold_match": verified(judged)}]
    best, best_answer, best_key = judged, item.answer, item.cache_key
    for index in range(1, rounds.candidates):
        if verified(best):
            break
        params = replace(teacher.params, temperature=rounds.candidate_temperature, seed=index)
        key = teacher.key_for(item.messages, params)
        answer = await teacher.answer(key, item.messages, params)
        if not answer.ok and answer.reason == "cancelled":
            item.reject("teacher", "teacher_cancelled", answer.detail)
            return
        judged = await trial(item, answer, ctx.evaluator, check_rules)
        asked.append({"key": key, "gold_match": verified(judged)})
        if rank(judged) > rank(best):
            best, best_answer, best_key = judged, answer, key
    keep(item, best_answer, best_key)
    item.rounds["candidates"] = asked
    item.rounds["kept"] = next(i for i, c in enumerate(asked) if c["key"] == best_key)
    item.trial = best
