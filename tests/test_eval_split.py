"""`--eval-split by-database`: whole databases held out of distillation for the student's
evaluation; on a Spider-format set with several real SQLite databases written here."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from fastdistill_tui import cli
from fastdistill_tui.core import config as cfg, events as ev
from fastdistill_tui.core.datasets.db_split import (BY_DATABASE, DatabaseSplit, database_of,
                                                    held_out, parse_spec)
from fastdistill_tui.core.datasets.spider import SpiderDataset
from fastdistill_tui.core.engine import Engine
from fastdistill_tui.core.errors import InputError
from fastdistill_tui.core.store import Store
from fastdistill_tui.core.sql.rule_pool import RuleChecker
from fastdistill_tui.core.stages.context import StepContext
from fastdistill_tui.core.stages.chain import AnswerChain
from fastdistill_tui.core.stages.scorer import Scorer
from dataset_helpers import make_sqlite
from student_helpers import tiny_student

CITIES = ["Berlin", "Paris", "Rome", "Oslo"]
DATABASES = [f"shop_{n}" for n in range(8)]


def write_shops(root: Path) -> Path:
    """Eight databases, one `items` table each, four WikiSQL-shaped questions per database."""
    tables, rows = [], []
    for db in DATABASES:
        values = ", ".join(f"('{db}-{city}', {10 * i + 1}, '{city}')"
                           for i, city in enumerate(CITIES))
        make_sqlite(root / "database" / db / f"{db}.sqlite",
                    f"CREATE TABLE items (name TEXT, price INTEGER, city TEXT);"
                    f"INSERT INTO items VALUES {values};")
        tables.append({"db_id": db, "table_names_original": ["items"], "table_names": ["items"],
                       "column_names_original": [[-1, "*"], [0, "name"], [0, "price"],
                                                 [0, "city"]],
                       "column_names": [[-1, "*"], [0, "name"], [0, "price"], [0, "city"]],
                       "column_types": ["text", "text", "number", "text"],
                       "primary_keys": [], "foreign_keys": []})
        rows += [{"db_id": db, "question": f"What is the name when city is {city}?",
                  "query": f"SELECT name FROM items WHERE city = '{city}'"} for city in CITIES]
    (root / "tables.json").write_text(json.dumps(tables))
    (root / "dev.json").write_text(json.dumps(rows))
    return root


def test_the_held_out_databases_are_seeded_stable_and_never_all():
    picked = held_out(DATABASES, 0.25, seed=0)
    assert len(picked) == 2 and set(picked) < set(DATABASES)
    assert held_out(list(reversed(DATABASES)), 0.25, seed=0) == picked  # order does not matter
    assert held_out(DATABASES, 0.25, seed=0) == picked  # same inputs, same databases
    assert {tuple(held_out(DATABASES, 0.25, seed=s)) for s in range(6)} != {tuple(picked)}
    assert len(held_out(DATABASES, 0.01, seed=0)) == 1  # at least one
    assert len(held_out(DATABASES, 0.99, seed=0)) == 7  # never all
    with pytest.raises(InputError, match="at least 2 databases"):
        held_out(["only"], 0.5, seed=0)


def test_distilled_and_evaluated_questions_come_from_disjoint_databases(tmp_path):
    base = SpiderDataset(write_shops(tmp_path / "shops"))
    split = DatabaseSplit(base, "dev", 0.25, seed=3)
    trained = [database_of(e) for e in split.iter_examples("dev")]
    evaluated = [database_of(e) for e in split.iter_examples(BY_DATABASE)]
    assert set(evaluated) == split.held_out and len(split.held_out) == 2
    assert not set(trained) & set(evaluated)
    assert sorted(trained + evaluated) == sorted(database_of(e) for e in base.iter_examples("dev"))
    assert (split.count("dev"), split.count(BY_DATABASE)) == (24, 8)
    assert split.default_eval_split == BY_DATABASE
    split.check_split(BY_DATABASE)  # a split name the engine may check like any other
    assert split.describe(set())["databases_disjoint"] is True
    leak = {str(tmp_path / "shops" / "database" / db / f"{db}.sqlite") for db in split.held_out}
    assert split.describe(leak)["databases_disjoint"] is False


def test_the_spec_and_its_errors():
    assert parse_spec("dev") is None and parse_spec("") is None
    assert parse_spec(BY_DATABASE) == (0.2, 0)
    assert parse_spec("by-database:0.3:7") == (0.3, 7)
    for bad in ("by-database:1.5", "by-database:0", "by-database:x", "by-database:0.2:y"):
        with pytest.raises(ValueError):
            parse_spec(bad)


def test_a_bad_eval_split_flag_exits_2_naming_it(capsys):
    code = cli.main(["run", "--headless", "--no-student", "--eval-split", "by-database:1.5"])
    assert code == 2
    assert "option --eval-split: must be a split name or by-database" in capsys.readouterr().err


def test_a_run_evaluates_the_student_on_databases_it_never_distilled(tmp_path):
    student = tiny_student(tmp_path / "student")
    config = cfg.Config()
    config.dataset.spec = f"spider:{write_shops(tmp_path / 'shops')}"
    config.dataset.eval_split = "by-database:0.25:1"
    config.run.override_gates = ["teacher_eval"]
    s = config.student
    s.enabled = True
    s.spec, s.profile, s.iters, s.learning_rate, s.num_layers = str(student), "quick", 2, 1e-3, 2
    s.save_every, s.steps_per_eval, s.max_seq_length, s.max_tokens = 2, 8, 256, 8
    s.eval_limit, s.eval_batch_size = 0, 4
    store = Store(config.data_dir / "fastdistill.sqlite")
    seen: list[ev.Event] = []
    outcome = asyncio.run(Engine(config, store).run(seen.append, lambda e: True))
    assert outcome.status == "completed", outcome.message
    report = json.loads((outcome.run_dir / "reports" / "student_eval_post.quality_report.json")
                        .read_text())
    split = report["eval_databases"]
    expected = held_out(DATABASES, 0.25, seed=1)
    assert split["held_out_databases"] == expected and split["databases_disjoint"] is True
    assert (split["held_out_questions"], split["training_questions"]) == (8, 24)
    distilled = {Path(p).stem for p in store.distilled_db_paths(outcome.run_id)}
    assert distilled and not distilled & set(expected)
    assert report["total"] == 8 and report["disjoint_from_distilled"] is True
    teacher = report["teacher_on_eval"]
    assert teacher["total"] == 8 and teacher["asked"] == 8  # not distilled: asked now
    phases = {e.phase: e for e in seen if isinstance(e, ev.StudentMetrics)}
    assert list(phases) == ["teacher", "pre", "post"]
    assert phases["teacher"].gold_match_rate == teacher["gold_match_rate"]
    assert "teacher on the same 8 eval questions" in cli_report(config, outcome.run_id)


def cli_report(config, run_id) -> str:
    from fastdistill_tui.core.report import format_report, load_report

    return format_report(load_report(config, Store(config.data_dir / "fastdistill.sqlite"),
                                     run_id))


def test_the_teacher_s_eval_pass_stops_asking_an_unreachable_teacher(tmp_path):
    """A teacher that refuses connections: a few requests fail, the rest are not asked, and all
    count as misses (no answers), not as a crash or minutes of retries."""
    from fastdistill_tui.core.providers import make_provider
    from fastdistill_tui.core.sql.evaluator import Evaluator
    from fastdistill_tui.core.stages.student_eval import eval_items
    from fastdistill_tui.core.stages.teacher import TeacherStage
    from fastdistill_tui.core.stages.teacher_on_eval import teacher_on_eval
    from fastdistill_tui.core.types import GenParams

    base = SpiderDataset(write_shops(tmp_path / "shops"))
    items = eval_items(list(base.iter_examples("dev"))[:12])
    teacher_config = cfg.TeacherConfig(spec="openai:x", base_url="http://127.0.0.1:9/v1",
                                       max_retries=0, timeout_s=5.0)
    store = Store(tmp_path / "store.sqlite")
    evaluator = Evaluator(cfg.EvalConfig())

    async def go():
        provider = make_provider(teacher_config)
        try:
            chain = AnswerChain(StepContext(evaluator, Scorer(), RuleChecker(0)), marks=False)
            return await teacher_on_eval(items, TeacherStage(provider, store, GenParams()),
                                         chain, concurrency=1, give_up_after=3)
        finally:
            await provider.aclose()

    try:
        rates = asyncio.run(go())
    finally:
        evaluator.close()
    assert (rates.total, rates.failed, rates.exec_ok) == (12, 12, 0)
    assert rates.asked == 3
