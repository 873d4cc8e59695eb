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

from ..sql.evaluator import Evaluator
from ..types import GenParams
from .trial import RuleCheck, keep, rank, trial, verified
from .base import WorkItem
from .teacher import TeacherStage


class CandidatesStage:
    name = "candidates"

    def __init__(self, teacher: TeacherStage, evaluator: Evaluator, check_rules: RuleCheck,
                 k: int, temperature: float) -> None:
        self.teacher, self.evaluator, self.check_rules = teacher, evaluator, check_rules
        self.k, self.temperature = k, temperature

    def params(self, index: int) -> GenParams:
        return replace(self.teacher.params, temperature=self.temperature, seed=index)

    async def run(self, item: WorkItem) -> None:
        """Leaves the kept answer's trial in `item.trial` for the repair round; a stop
        mid-candidates rejects the sample as teacher_cancelled (left for the resume)."""
        judged = await trial(item, item.answer, self.evaluator, self.check_rules)
        asked = [{"key": item.cache_key, "gold_match": verified(judged)}]
        best, best_answer, best_key = judged, item.answer, item.cache_key
        for index in range(1, self.k):
            if verified(best):
                break
            params = self.params(index)
            key = self.teacher.key_for(item.messages, params)
            answer = await self.teacher.answer(key, item.messages, params)
            if not answer.ok and answer.reason == "cancelled":
                item.reject("teacher", "teacher_cancelled", answer.detail)
                return
            judged = await trial(item, answer, self.evaluator, self.check_rules)
            asked.append({"key": key, "gold_match": verified(judged)})
            if rank(judged) > rank(best):
                best, best_answer, best_key = judged, answer, key
        keep(item, best_answer, best_key)
        item.rounds["candidates"] = asked
        item.rounds["kept"] = next(i for i, c in enumerate(asked) if c["key"] == best_key)
        item.trial = best
