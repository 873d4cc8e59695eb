"""agreement: a question without gold SQL (a user's own question, no SQL written for it) is
checked by execution agreement instead of a gold match. Up to `no_gold.candidates` (k) teacher
answers are asked, and one is kept only when at least `no_gold.min_agree` (m) of them return the
same non-empty result on the database and on its perturbed copies (sql/test_suite.py): answers
that agree only on the dataset's rows, or on "no rows", do not count as agreeing.

The answers are the candidates stage's (candidates.py): the first is the plain request, answer
i > 0 is asked at `teacher.candidate_temperature` with seed i, so both stages share cache
entries. Answers are asked one after another and stop as soon as m agree, or as soon as m can
no longer be reached. Two answers agree when the evaluator, taking the earlier one as "gold",
calls the later one a match on the database and test-suite checking finds no copy where they
differ. The earliest answer of the agreeing group is kept.

Samples with gold SQL pass untouched (the candidates stage serves them). A deterministic teacher
(the builtin one) gives the same answer every time, so its agreement would prove nothing: its
samples without gold are rejected with a reason that says so.

`item.rounds["agreement"]` records what was asked: {"candidates": [{"key": K, "group": g}],
"kept": i, "agree": n, "needed": m} (group: the index of the group the answer joined, None for
an answer that failed or returned no rows).
"""

from __future__ import annotations

from dataclasses import replace

from ..sql.evaluator import Evaluator
from .base import WorkItem
from .context import StepContext
from .trial import keep, trial

REASON = "no_agreement"


async def step(item: WorkItem, ctx: StepContext) -> None:
    if item.example.has_gold:
        return
    item.agreed = False
    rounds = ctx.rounds
    if rounds is None:
        item.reject("agreement", REASON, "the teacher is deterministic: asking it again gives "
                    "the same answer, so agreement cannot check a question without gold SQL")
        return
    teacher, evaluator = rounds.teacher, ctx.evaluator
    k, m = rounds.no_gold.candidates, rounds.no_gold.min_agree
    groups: list[list[int]] = []  # answer indices; the first of a group is its representative
    answers: list[tuple] = []  # (answer, key, sql) per asked answer
    asked: list[dict] = []
    split_on_copies = ""  # the first pair that agreed on the database but not on a copy
    first = None  # the plain answer's trial: what a question dropped here is reported with
    for index in range(k):
        if index == 0:
            answer, key = item.answer, item.cache_key
        else:
            params = replace(teacher.params, temperature=rounds.candidate_temperature,
                             seed=index)
            key = teacher.key_for(item.messages, params)
            answer = await teacher.answer(key, item.messages, params)
            if not answer.ok and answer.reason == "cancelled":
                item.reject("teacher", "teacher_cancelled", answer.detail)
                return
        judged = await trial(item, answer, evaluator, ctx.rules.check)
        if first is None:
            first = judged
        answers.append((answer, key, judged.sql))
        group = None
        outcome = judged.outcome
        if outcome is not None and outcome.exec_ok and not outcome.pred_empty:
            for g, members in enumerate(groups):
                same, why = await agree(evaluator, item.example.db_path,
                                        answers[members[0]][2], judged.sql)
                if same:
                    members.append(index)
                    group = g
                    break
                split_on_copies = split_on_copies or why
            else:
                groups.append([index])
                group = len(groups) - 1
        asked.append({"key": key, "group": group})
        best = max((len(g) for g in groups), default=0)
        if best >= m or best + (k - 1 - index) < m:
            break
    best_group = max(groups, key=len, default=[])
    record = {"candidates": asked, "agree": len(best_group), "needed": m}
    item.rounds["agreement"] = record
    if len(best_group) < m:
        detail = (f"{len(best_group)} of {len(asked)} answers agree ({m} needed)" if groups
                  else f"no answer returned rows ({len(asked)} asked)")
        if split_on_copies:
            detail += f"; answers that agreed on the database differed on a copy: " \
                      f"{split_on_copies}"
        item.sql, item.outcome = first.sql, first.outcome  # exec-pass counts the plain answer
        item.reject("agreement", REASON, detail)
        return
    chosen = best_group[0]
    answer, key, _sql = answers[chosen]
    keep(item, answer, key)
    record["kept"] = chosen
    item.agreed = True


async def agree(evaluator: Evaluator, db_path: str, first: str | None,
                other: str | None) -> tuple[bool, str]:
    """Whether two answers return the same non-empty result on the database and on its
    perturbed copies; when only the copies tell them apart, the second value says where."""
    outcome = await evaluator.evaluate(db_path, first or "", other)
    if not outcome.gold_match:
        return False, ""
    suite = evaluator.suite
    if suite is None:
        return True, ""
    verdict = await suite.check(evaluator, db_path, first or "", other or "")
    if verdict is None or verdict.agreed:
        return True, ""
    return False, verdict.detail
