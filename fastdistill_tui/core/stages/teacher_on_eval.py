"""The teacher's own rates on the student's eval questions, so a user sees how close the student
came: an eval-only pass that asks the run's teacher each eval question and judges the answer by
the student's own answer chain (stages/chain.py).

It goes through the teacher's answer cache (StoredAnswers), so questions the run already sent
(an eval split that overlaps the distilled one, a resume, a rerun) cost no request; only the
others are asked, once. Nothing here is exported or trained on: the outcome is a summary in the
student report and a StudentMetrics event with phase "teacher". A teacher that fails a question
counts as not passing it, and the failures are counted, so an unreachable teacher shows as such;
after `give_up_after` unreachable answers in a row the rest are not asked (a resumed run whose
teacher server is gone finishes its student stages without minutes of retries).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from .base import WorkItem
from .chain import AnswerChain
from .student_eval import Rates, fresh_item
from .teacher import TeacherStage

PHASE = "teacher"


@dataclass(frozen=True)
class TeacherRates(Rates):
    total: int
    exec_ok: int
    gold_match: int
    failed: int  # the teacher gave no answer (an error, a timeout)
    asked: int  # requests sent now (the rest came from the answer cache)


async def teacher_on_eval(questions: list[WorkItem], teacher: TeacherStage,
                          chain: AnswerChain, concurrency: int,
                          give_up_after: int) -> TeacherRates:
    limit = asyncio.Semaphore(max(1, concurrency))
    fresh_before = teacher.counter.fresh

    async def judge(item: WorkItem) -> WorkItem:
        async with limit:
            if teacher.unreachable_streak >= give_up_after:
                item.reject("teacher", "teacher_unreachable", "not asked: the teacher was "
                            f"unreachable {teacher.unreachable_streak} times in a row")
                return item
            await teacher.run(item)
        if item.alive:
            await chain.judge(item)
        return item

    items = await asyncio.gather(*(judge(fresh_item(q)) for q in questions))
    return TeacherRates(
        total=len(items),
        exec_ok=sum(bool(i.outcome and i.outcome.exec_ok) for i in items),
        gold_match=sum(bool(i.outcome and i.outcome.gold_match) for i in items),
        failed=sum(i.rejected_at == "teacher" for i in items),
        asked=teacher.counter.fresh - fresh_before)
