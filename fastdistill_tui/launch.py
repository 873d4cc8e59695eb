"""Options → a run request: what `fastdistill run` and the app's forms share.

The command line (cli.py) and the app (app.py, screens/) both import this module; neither
imports the other, and nothing here imports Textual. It holds the run options' parser, how
they become a config (CLI > env > file > defaults), how a resume or a rerun finds its run,
where the run store lives, and what an aborted run is marked."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .core import config as cfg
from .core.errors import ConfigError, InputError, NothingToDo
from .core.runs import resume_command

if TYPE_CHECKING:  # the store loads only when a run needs it
    from .core.store import Store


def store_path(config: cfg.Config) -> Path:
    return config.data_dir / "fastdistill.sqlite"


@dataclass
class RunRequest:
    """What the options resolved to: the run's config, its id and whether it resumes."""

    config: cfg.Config
    run_id: str
    resume: bool
    events_path: str | None = None  # --events: a copy of the events as JSONL


def add_run_options(run: argparse.ArgumentParser) -> None:
    """The options of a run; the app and `run --headless` take the same ones."""
    run.add_argument("--headless", action="store_true",
                     help="no TUI: progress on stderr, events as JSONL with --events")
    run.add_argument("--config", help="TOML config (default: the platformdirs config file)")
    run.add_argument("--dataset", help="wikisql:DIR | spider:DIR | jsonl:FILE | bundled")
    run.add_argument("--split", help="dataset split to distil")
    run.add_argument("--limit", type=int,
                     help="N samples (after dedup): a seeded sample spread over the databases "
                          "(dataset.seed); 0 = all")
    run.add_argument("--eval-split", metavar="NAME|by-database[:F[:SEED]]",
                     help="split the student is evaluated on; by-database: a seeded fraction F "
                          "(default 0.2) of the distilled split's databases, held out of "
                          "distillation")
    run.add_argument("--teacher", help="builtin | openai:MODEL | openrouter:MODEL | "
                                       "ollama:MODEL | mlx:PATH")
    run.add_argument("--base-url", help="server URL for openai/ollama specs")
    run.add_argument("--concurrency", type=int,
                     help=f"teacher requests in flight at most (1 to {cfg.MAX_CONCURRENCY}; "
                          "never more than there are samples; adapted below it to the server "
                          "unless teacher.adaptive_concurrency = false)")
    run.add_argument("--student", metavar="SPEC",
                     help="smollm2 (default) | an mlx-lm model directory | a Hugging Face id")
    run.add_argument("--no-student", action="store_true", help="skip training and student eval")
    run.add_argument("--override-gate", action="append", default=[], metavar="NAME",
                     help="continue past a failed gate (e.g. teacher_eval)")
    run.add_argument("--events", metavar="FILE|-", help="write JSONL events to FILE or stdout")
    run.add_argument("--resume", metavar="RUN_ID", help="continue a run")


def run_parser() -> argparse.ArgumentParser:
    """The run options alone, raising InputError-able ArgumentError instead of exiting."""
    parser = argparse.ArgumentParser(prog="fastdistill run", exit_on_error=False)
    add_run_options(parser)
    return parser


def load_run_config(args: argparse.Namespace) -> cfg.Config:
    """File/env config with the CLI flags applied on top (CLI > env > file > defaults)."""
    config = cfg.load_config(args.config)
    flags = {
        "dataset.spec": (args.dataset, "--dataset"), "dataset.split": (args.split, "--split"),
        "dataset.limit": (args.limit, "--limit"), "teacher.spec": (args.teacher, "--teacher"),
        "dataset.eval_split": (args.eval_split, "--eval-split"),
        "teacher.base_url": (args.base_url, "--base-url"),
        "teacher.concurrency": (args.concurrency, "--concurrency"),
        "student.spec": (args.student, "--student"),
        "student.enabled": (False if args.no_student else None, "--no-student"),
    }
    if args.resume:  # they apply to the run's own config (resumed_config)
        del flags["teacher.base_url"], flags["teacher.concurrency"]
    for key, (value, flag) in flags.items():
        if value is not None:
            cfg.set_flag(config, key, value, flag)
    add_override_gates(config, args.override_gate)
    return cfg.validate(config, "command line")


def add_override_gates(config: cfg.Config, gates: list[str]) -> None:
    if gates:
        merged = sorted(set(config.run.override_gates) | set(gates))
        cfg.set_flag(config, "run.override_gates", merged, "--override-gate")


def resumed_config(args: argparse.Namespace, current: cfg.Config, stored: dict[str, Any],
                   run_id: str) -> cfg.Config:
    """The run's own config; only what does not change its outputs may be given again:
    --base-url and --concurrency (a moved or bigger server) and --override-gate."""
    config = cfg.config_from_dict(stored, f"run {run_id}")
    fixed = {"--dataset": args.dataset, "--split": args.split, "--limit": args.limit,
             "--eval-split": args.eval_split,
             "--teacher": args.teacher, "--config": args.config, "--student": args.student,
             "--no-student": args.no_student or None}
    given = [flag for flag, value in fixed.items() if value is not None]
    if given:
        raise InputError(f"{', '.join(given)} cannot change a run being resumed",
                         field="--resume", hint="drop them, or start a new run without --resume")
    if args.base_url is not None:
        cfg.set_flag(config, "teacher.base_url", args.base_url, "--base-url")
    elif cfg.REDACTED + "@" in config.teacher.base_url:
        raise InputError("the run's teacher URL held credentials, which are never stored",
                         field="--resume", hint="give the URL again with --base-url")
    if args.concurrency is not None:
        cfg.set_flag(config, "teacher.concurrency", args.concurrency, "--concurrency")
    add_override_gates(config, current.run.override_gates)
    return cfg.validate(config, f"run {run_id}")


def resolve_run(args: argparse.Namespace, config: cfg.Config,
                store: Store) -> tuple[cfg.Config, str | None, bool]:
    """The run's config, its id (None: a new run) and whether it resumes; a rerun continues
    the newest unfinished run of its config. NothingToDo for a completed run's --resume."""
    from .core.runs import run_dir_for

    run_id = args.resume
    if run_id:
        run = store.get_run(run_id)
        if run is None:
            raise InputError(f"no run '{run_id}'", field="--resume",
                             hint="list runs with `fastdistill report --list`")
        if run["status"] == "completed":
            raise NothingToDo(f"run {run_id} is already complete; nothing to do: "
                              f"{run_dir_for(config, run_id)}")
        config = resumed_config(args, config, json.loads(run["config_json"]), run_id)
    else:
        run_id = store.latest_unfinished_run(config.config_hash())
    return config, run_id, run_id is not None


def request_from_args(args: argparse.Namespace, config: cfg.Config) -> RunRequest:
    """The app's run of these parsed options (a new id, or the run a resume/rerun continues)."""
    from .core.runs import new_run_id
    from .core.store import Store

    if args.events == "-":
        raise InputError("the app draws on the terminal, so events cannot go to stdout",
                         field="--events", hint="give a file, or add --headless")
    store = Store(store_path(config))
    try:
        config, run_id, resume = resolve_run(args, config, store)
    finally:
        store.close()
    return RunRequest(config, run_id or new_run_id(), resume, args.events)


def run_request(argv: list[str], gates: dict[str, str] | None = None) -> RunRequest:
    """A run from `fastdistill run` options given by the app's forms, checked as the command
    line checks them; gates: teacher-eval gate thresholds (name → text) over the config's."""
    try:
        args = run_parser().parse_args(argv)
    except argparse.ArgumentError as exc:
        raise InputError(str(exc)) from None
    config = load_run_config(args)
    gate = config.gates.teacher_eval
    for name, text in (gates or {}).items():
        typ = type(getattr(gate, name))
        try:
            setattr(gate, name, typ(text))
        except ValueError:
            kind = "an integer" if typ is int else "a number"
            raise ConfigError(f"expected {kind}, got {text!r}", path="new run form",
                              field=f"gates.teacher_eval.{name}") from None
    return request_from_args(args, cfg.validate(config, "new run form"))


def mark_aborted(store: Store, run_id: str) -> str:
    """After a second Ctrl-C: what reached the store stays, and a run still marked running
    becomes cancelled (resumable), so every list shows a final status. Returns the line to
    print."""
    run = store.get_run(run_id)
    if run is None:
        return "aborted before the run started"
    store.flush()
    if run["status"] == "running":
        store.set_run_status(run_id, "cancelled")
    return (f"aborted: run {run_id} stopped at once; the answers received so far are "
            f"kept; resume with `{resume_command(run_id)}`")
