"""student_eval judges the student's answers with the teacher's evaluator, per phase, from the
answer cache when it can (so this test needs no model: the answers are put in the cache)."""

from __future__ import annotations

import asyncio
import json
import threading
from itertools import islice
from pathlib import Path

from fastdistill_tui.core.config import EvalConfig, cache_dir
from fastdistill_tui.core.datasets.bundled import BundledDataset
from fastdistill_tui.core.sql.evaluator import Evaluator
from fastdistill_tui.core.sql.rule_pool import RuleChecker
from fastdistill_tui.core.stages.context import StepContext
from fastdistill_tui.core.stages.chain import AnswerChain
from fastdistill_tui.core.stages.scorer import Scorer
from fastdistill_tui.core.stages.student_eval import (StudentModel, answer_key, eval_items,
                                                      evaluate_student)
from fastdistill_tui.core.store import Store, StudentResultRow
from fastdistill_tui.core.student.blas import find_blas


def test_each_phase_judges_its_own_answers_with_the_teachers_evaluator(tmp_path):
    dataset = BundledDataset(cache_dir=cache_dir())
    questions = eval_items(list(islice(dataset.iter_examples("eval"), 8)))
    store = Store(tmp_path / "store.sqlite")
    base = StudentModel(Path("unused"), "base")
    tuned = StudentModel(Path("unused"), "base", adapter=Path("unused"), adapter_key="lora")
    answers = {base: lambda q: "The answer is 42.",  # prose, as the untrained student writes
               tuned: lambda q: f"```sql\n{q.example.gold_sql}\n```"}
    for model, answer in answers.items():
        for q in questions:
            store.put_student_result("seed", "x", StudentResultRow(
                q.sample_id, 0, answer_key(model, q.messages, 16), None, False, False, 0.0,
                None, None, "", {}), answer={"text": answer(q), "tokens_in": 1,
                                             "tokens_out": 1, "truncated": False})
    evaluator = Evaluator(EvalConfig())
    chain = AnswerChain(StepContext(evaluator, Scorer(), RuleChecker(0)), marks=False)
    summaries = {}
    for phase, model in (("pre", base), ("post", tuned)):
        summaries[phase] = asyncio.run(evaluate_student(
            phase, model, questions, store=store, run_id="r", chain=chain, max_tokens=16,
            batch_size=4, blas=find_blas(1), cancel=threading.Event(),
            progress=lambda done, total, step: None))
    evaluator.close()
    pre, post = summaries["pre"], summaries["post"]
    assert (pre.total, pre.exec_ok, pre.gold_match, pre.generated) == (8, 0, 0, 0)
    assert (post.total, post.exec_ok, post.gold_match, post.generated) == (8, 8, 8, 0)
    reasons = {row["reason"] for row in store.student_results("r", "pre")}
    assert reasons == {"no_sql_found"}
    assert all(row["sql"] for row in store.student_results("r", "post"))
    # a student answer's timings are its own (the teacher pipeline's "eval" mark would add a
    # transition the timing report cannot order)
    marks = [json.loads(row["marks"]) for row in store.student_results("r", "post")]
    assert all(set(m) == {"distilled", "student_gen", "student_eval"} for m in marks), marks
    store.close()
