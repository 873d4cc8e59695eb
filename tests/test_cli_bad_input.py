"""Every bad input a new user hit, through the real command line in a subprocess: the exit code,
one line on stderr naming the file, variable or key, no traceback, and no run left "running"."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from dataset_helpers import write_spider

from test_engine import make_dataset


@dataclass
class Case:
    args: list[str]
    needle: str  # must appear in the error line
    env: dict[str, str] = field(default_factory=dict)
    code: int = 2
    setup: Callable[[Path], None] | None = None
    one_line: bool = True  # False: found mid-run, after progress lines; the last line names it


def config_file(text: str) -> Callable[[Path], None]:
    def write(t: Path) -> None:
        (t / "config.toml").write_bytes(text.encode() if isinstance(text, str) else text)
    return write


def spider_with_db(content: bytes) -> Callable[[Path], None]:
    def write(t: Path) -> None:
        root = write_spider(t / "spider")
        (root / "database" / "konzerte" / "konzerte.sqlite").write_bytes(content)
    return write


def jsonl_rows(*rows: dict) -> Callable[[Path], None]:
    def write(t: Path) -> None:
        make_dataset(t / "data", 3)
        (t / "data" / "bad.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return write


def all_gold_broken(t: Path) -> None:
    make_dataset(t / "data", 3)
    rows = [{"question": f"q{i}", "sql": "SELECT nope FROM city", "db": "geo.sqlite"}
            for i in range(5)]
    (t / "data" / "bad.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def outside_file(t: Path) -> None:
    make_dataset(t / "elsewhere", 3)
    rows = [{"question": "q", "sql": "SELECT 1", "db": "../elsewhere/geo.sqlite"}]
    (t / "data").mkdir()
    (t / "data" / "bad.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def spider_escaping_db_id(t: Path) -> None:
    root = write_spider(t / "spider")
    escaping = "../../elsewhere/konzerte"  # database/<it>/<it>.sqlite is t/elsewhere/...
    (t / "elsewhere").mkdir()
    (root / "database" / "konzerte" / "konzerte.sqlite").rename(
        t / "elsewhere" / "konzerte.sqlite")
    tables = json.loads((root / "tables.json").read_text())
    tables[0]["db_id"] = escaping
    (root / "tables.json").write_text(json.dumps(tables))
    (root / "dev.json").write_text(json.dumps([
        {"db_id": escaping, "question": "q", "query": "SELECT 1"}]))


def empty_model_dir(t: Path) -> None:
    (t / "model").mkdir()


def regular_file(name: str) -> Callable[[Path], None]:
    def write(t: Path) -> None:
        (t / name).write_text("not a directory\n")
    return write


KEY = "sk-or-v1-PASTED-KEY-0123456789abcdef"
HEX_KEY = "a3f9c2e17b5d4f608e1c9a2b7d3e5f60"  # a key that is also a valid variable name
DATA = "jsonl:{t}/data/questions.jsonl"
BAD = "jsonl:{t}/data/bad.jsonl"
FAST = ["--limit", "60"]

CASES: dict[str, Case] = {
    # -- tracebacks before --------------------------------------------------------------------
    "config is a directory": Case(["run", "--headless", "--config", "{t}"], "{t}"),
    "FASTDISTILL_CONFIG is a directory": Case(["run", "--headless"], "FASTDISTILL_CONFIG",
                                              env={"FASTDISTILL_CONFIG": "{t}"}),
    "config not UTF-8": Case(["run", "--headless", "--config", "{t}/config.toml"],
                             "{t}/config.toml:2", setup=config_file(b"[teacher]\nspec = '\xff'\n")),
    "data dir unwritable: run": Case(["run", "--headless", *FAST], "{t}/file",
                                     env={"XDG_DATA_HOME": "{t}/file/data"},
                                     setup=regular_file("file")),
    "data dir unwritable: report": Case(["report"], "{t}/file",
                                        env={"XDG_DATA_HOME": "{t}/file/data"},
                                        setup=regular_file("file")),
    "data dir unwritable: report --list": Case(["report", "--list"], "{t}/file",
                                               env={"XDG_DATA_HOME": "{t}/file/data"},
                                               setup=regular_file("file")),
    "data dir unwritable: data get": Case(["data", "get", "wikisql", "--url",
                                           "http://127.0.0.1:9/x"], "{t}/file",
                                          env={"XDG_DATA_HOME": "{t}/file/data"},
                                          setup=regular_file("file")),
    "config dir unwritable: init": Case(["init"], "{t}/file",
                                        env={"XDG_CONFIG_HOME": "{t}/file/config"},
                                        setup=regular_file("file")),
    "--events is a directory": Case(["run", "--headless", *FAST, "--events", "{t}"], "{t}"),
    "data get --dest is a file": Case(["data", "get", "wikisql", "--dest", "{t}/file", "--url",
                                       "http://127.0.0.1:9/x"], "{t}/file",
                                      setup=regular_file("file")),
    "data get offline names the URL": Case(["data", "get", "wikisql", "--dest", "{t}/dl",
                                            "--url", "http://127.0.0.1:9/data.tar.bz2"],
                                           "http://127.0.0.1:9/data.tar.bz2"),
    "llm judge without judge_spec": Case(["run", "--headless", "--config", "{t}/config.toml"],
                                         "{t}/config.toml:2: field 'eval.judge_spec'",
                                         setup=config_file("[eval]\njudge = 'llm'\n")),
    # -- bad values accepted before -------------------------------------------------------------
    "--concurrency huge": Case(["run", "--headless", "--concurrency", "100000000"],
                               "--concurrency"),
    "select.min_score 7": Case(["run", "--headless", "--config", "{t}/config.toml"],
                               "{t}/config.toml:3: field 'select.min_score'",
                               setup=config_file("[select]\n\nmin_score = 7\n")),
    "min_score nan from env": Case(["run", "--headless"], "FASTDISTILL_SELECT_MIN_SCORE",
                                   env={"FASTDISTILL_SELECT_MIN_SCORE": "nan"}),
    "timeout 1e400": Case(["run", "--headless", "--config", "{t}/config.toml"],
                          "{t}/config.toml:2: field 'teacher.timeout_s'",
                          setup=config_file("[teacher]\ntimeout_s = 1e400\n")),
    "gates env not a number": Case(["run", "--headless"],
                                   "FASTDISTILL_GATES_TEACHER_EVAL_MIN_TOTAL",
                                   env={"FASTDISTILL_GATES_TEACHER_EVAL_MIN_TOTAL": "abc"}),
    "gates env unknown key": Case(["run", "--headless"], "FASTDISTILL_GATES_TEACHER_EVAL_MIN",
                                  env={"FASTDISTILL_GATES_TEACHER_EVAL_MIN": "3"}),
    "FASTDISTILL_CONFIG missing": Case(["run", "--headless"], "FASTDISTILL_CONFIG",
                                       env={"FASTDISTILL_CONFIG": "{t}/missing.toml"}),
    "TEACHER_EVAL_GATE maybe": Case(["run", "--headless"], "FASTDISTILL_TEACHER_EVAL_GATE",
                                    env={"FASTDISTILL_TEACHER_EVAL_GATE": "maybe"}),
    "--override-gate unknown": Case(["run", "--headless", "--override-gate", "nosuchgate"],
                                    "--override-gate"),
    "--override-gate dashed": Case(["run", "--headless", "--override-gate", "teacher-eval"],
                                   "teacher_eval"),
    "--base-url with builtin": Case(["run", "--headless", "--base-url", "http://x:1/v1"],
                                    "--base-url"),
    "env range error names the variable": Case(
        ["run", "--headless"], "FASTDISTILL_TEACHER_CONCURRENCY",
        env={"FASTDISTILL_TEACHER_CONCURRENCY": "0"}),
    "--base-url not a URL": Case(["run", "--headless", "--teacher", "openai:m", "--base-url",
                                  "notaurl"], "--base-url"),
    "TOML syntax error has a line": Case(["run", "--headless", "--config", "{t}/config.toml"],
                                         "{t}/config.toml:3",
                                         setup=config_file("[teacher]\nspec = 'builtin'\nx = \n")),
    # -- setup mistakes reported as something else ------------------------------------------------
    "mlx dir without a model": Case(["run", "--headless", "--teacher", "mlx:{t}/model"],
                                    "{t}/model", setup=empty_model_dir),
    "mlx model that cannot load": Case(["run", "--headless", *FAST, "--teacher",
                                        "mlx:{t}/model"], "mlx:{t}/model failed 8 requests",
                                       setup=lambda t: (empty_model_dir(t), (
                                           t / "model" / "config.json").write_text("{}")),
                                       one_line=False),
    "0-byte sqlite": Case(["run", "--headless", "--dataset", "spider:{t}/spider"],
                          "konzerte.sqlite", setup=spider_with_db(b"")),
    "corrupt sqlite": Case(["run", "--headless", "--dataset", "spider:{t}/spider"],
                           "konzerte.sqlite", setup=spider_with_db(b"garbage" * 200)),
    "every gold query fails": Case(["run", "--headless", "--dataset", BAD], "bad.jsonl",
                                   setup=all_gold_broken, one_line=False),
    # -- answers from the right teacher ---------------------------------------------------------
    "key pasted into api_key_env": Case(["run", "--headless", "--teacher", "openai:m"],
                                        "FASTDISTILL_TEACHER_API_KEY_ENV",
                                        env={"FASTDISTILL_TEACHER_API_KEY_ENV": KEY}),
    "key pasted into the config": Case(["run", "--headless", "--config", "{t}/config.toml"],
                                       "{t}/config.toml:3: field 'teacher.api_key_env'",
                                       setup=config_file(f"[teacher]\nspec = 'openai:m'\n"
                                                         f"api_key_env = '{KEY}'\n")),
    "hex key pasted into api_key_env": Case(["run", "--headless", "--teacher", "openai:m"],
                                            "FASTDISTILL_TEACHER_API_KEY_ENV",
                                            env={"FASTDISTILL_TEACHER_API_KEY_ENV": HEX_KEY}),
    "judge key pasted into the config": Case(
        ["run", "--headless", "--config", "{t}/config.toml"],
        "{t}/config.toml:2: field 'eval.judge_api_key_env'",
        setup=config_file(f"[eval]\njudge_api_key_env = '{KEY}'\n")),
    "jsonl db outside the dataset": Case(["run", "--headless", "--dataset", BAD],
                                         "{t}/data/bad.jsonl:1", setup=outside_file),
    "spider db_id outside the dataset": Case(["run", "--headless", "--dataset",
                                              "spider:{t}/spider"], "dev.json:1",
                                             setup=spider_escaping_db_id),
    # -- clean exit 2 already: they stay that way --------------------------------------------------
    "no --headless": Case(["run"], "--headless"),
    "unknown dataset kind": Case(["run", "--headless", "--dataset", "nosuchkind:/x"], "dataset"),
    "unknown teacher": Case(["run", "--headless", "--teacher", "carrier-pigeon:x"],
                            "option --teacher"),
    "--concurrency 0": Case(["run", "--headless", "--concurrency", "0"], "--concurrency"),
    "--limit negative": Case(["run", "--headless", "--limit", "-1"], "--limit"),
    "--resume unknown run": Case(["run", "--headless", "--resume", "no-such-run"],
                                 "no-such-run"),
    "unknown config key": Case(["run", "--headless", "--config", "{t}/config.toml"],
                               "{t}/config.toml:2: field 'teacher.model'",
                               setup=config_file("[teacher]\nmodel = 'x'\n")),
    "unknown config section": Case(["run", "--headless", "--config", "{t}/config.toml"],
                                   "'studnet'", setup=config_file("[studnet]\nx = 1\n")),
    "--config missing": Case(["run", "--headless", "--config", "{t}/missing.toml"],
                             "{t}/missing.toml"),
    "wrong type in config": Case(["run", "--headless", "--config", "{t}/config.toml"],
                                 "teacher.concurrency",
                                 setup=config_file("[teacher]\nconcurrency = 'many'\n")),
    "bad column_order": Case(["run", "--headless", "--config", "{t}/config.toml"],
                             "eval.column_order",
                             setup=config_file("[eval]\ncolumn_order = 'sideways'\n")),
    "bad judge": Case(["run", "--headless", "--config", "{t}/config.toml"], "eval.judge",
                      setup=config_file("[eval]\njudge = 'maybe'\n")),
    "bad transport": Case(["run", "--headless", "--config", "{t}/config.toml"],
                          "teacher.transport", setup=config_file("[teacher]\ntransport = 'x'\n")),
    "gate rate above 1": Case(["run", "--headless", "--config", "{t}/config.toml"],
                              "gates.teacher_eval.exec_pass_rate",
                              setup=config_file("[gates.teacher_eval]\nexec_pass_rate = 1.5\n")),
    "valid_fraction 1": Case(["run", "--headless", "--config", "{t}/config.toml"],
                             "select.valid_fraction",
                             setup=config_file("[select]\nvalid_fraction = 1\n")),
    "env not an integer": Case(["run", "--headless"], "FASTDISTILL_TEACHER_CONCURRENCY",
                               env={"FASTDISTILL_TEACHER_CONCURRENCY": "abc"}),
    "env unknown setting": Case(["run", "--headless"], "FASTDISTILL_TEACHER_CONCURENCY",
                                env={"FASTDISTILL_TEACHER_CONCURENCY": "3"}),
    "openai without a key": Case(["run", "--headless", "--teacher", "openai:m"], "OPENAI_API_KEY"),
    "openrouter without a key": Case(["run", "--headless", "--teacher", "openrouter:x/y"],
                                     "OPENROUTER_API_KEY"),
    "api_key_env names an unset variable": Case(
        ["run", "--headless", "--teacher", "openai:m"], "NOT_SET_ANYWHERE",
        env={"FASTDISTILL_TEACHER_API_KEY_ENV": "NOT_SET_ANYWHERE"}),
    "mlx dir not found": Case(["run", "--headless", "--teacher", "mlx:{t}/nope"], "{t}/nope"),
    "jsonl file missing": Case(["run", "--headless", "--dataset", "jsonl:{t}/nope.jsonl"],
                               "{t}/nope.jsonl"),
    "jsonl malformed row": Case(["run", "--headless", "--dataset", BAD],
                                "{t}/data/bad.jsonl:2: field 'sql'",
                                setup=jsonl_rows({"question": "q", "sql": "SELECT 1",
                                                  "db": "geo.sqlite"},
                                                 {"question": "q2", "sql": 5,
                                                  "db": "geo.sqlite"})),
    "jsonl db missing": Case(["run", "--headless", "--dataset", BAD], "{t}/data/bad.jsonl:1",
                             setup=jsonl_rows({"question": "q", "sql": "SELECT 1",
                                               "db": "none.sqlite"})),
    "jsonl empty": Case(["run", "--headless", "--dataset", BAD], "{t}/data/bad.jsonl",
                        setup=jsonl_rows()),
    "unknown split": Case(["run", "--headless", "--dataset", DATA, "--split", "nope"], "nope",
                          setup=lambda t: make_dataset(t / "data", 3)),
    "spider dir missing": Case(["run", "--headless", "--dataset", "spider:{t}/nope"],
                               "{t}/nope"),
    "wikisql dir missing": Case(["run", "--headless", "--dataset", "wikisql:{t}/nope"],
                                "{t}/nope"),
    "report with no runs": Case(["report"], "fastdistill run --headless"),
    "init twice": Case(["init", "--path", "{t}/config.toml"], "--force",
                       setup=config_file("[teacher]\n")),
}


def fill(value: str, t: Path) -> str:
    return value.replace("{t}", str(t))


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_gives_one_clear_line(name, tmp_path):
    case = CASES[name]
    t = tmp_path / "case"
    t.mkdir()
    if case.setup is not None:
        case.setup(t)
    env = {**os.environ, **{k: fill(v, t) for k, v in case.env.items()}}
    proc = subprocess.run([sys.executable, "-m", "fastdistill_tui",
                           *(fill(a, t) for a in case.args)],
                          env=env, capture_output=True, text=True, timeout=120)
    err = proc.stderr
    assert "Traceback" not in err, err
    assert proc.returncode == case.code, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 or not case.one_line, err
    assert fill(case.needle, t) in (lines[-1] if case.one_line else "".join(lines[-2:])), err
    assert KEY not in err + proc.stdout and HEX_KEY not in err + proc.stdout
    store = Path(env["XDG_DATA_HOME"]) / "fastdistill" / "fastdistill.sqlite"
    if store.is_file():
        with sqlite3.connect(store) as conn:
            running = conn.execute("SELECT run_id FROM runs WHERE status = 'running'").fetchall()
        assert running == []
