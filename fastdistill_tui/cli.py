"""`fastdistill` command line (DESIGN §9). Exit codes: 0 done, 1 an internal error (the run is
resumable), 2 bad input, config or setup (a path that cannot be written, a full disk), 3 a gate
failed with no override, 130 stopped by the user (resumable).

Every error is one line on stderr naming the file and line, variable, option or key at fault."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import signal
import sqlite3
import sys
import threading
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from . import __version__
from .core import config as cfg
from .core.errors import FastDistillError, InputError, NothingToDo, SetupError
from .core.events import Event, write_event
from .core.gates import GateDecision

if TYPE_CHECKING:  # the engine and store load only when a command needs them
    from .core.engine import Engine
    from .core.store import Store


def store_path(config: cfg.Config) -> Path:
    return config.data_dir / "fastdistill.sqlite"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fastdistill",
        description="Distil a teacher LLM into a small student on execution-checked Text2SQL.")
    parser.add_argument("--version", action="version", version=f"fastdistill {__version__}")
    add_run_options(parser)  # `fastdistill [options]` opens the app on a run
    sub = parser.add_subparsers(dest="command")
    add_run_options(sub.add_parser("run", help="run the pipeline (the app unless --headless)"))
    report = sub.add_parser("report", help="quality + timing summary of a run")
    report.add_argument("run_id", nargs="?", help="run id (default: the latest run)")
    report.add_argument("--json", action="store_true", help="machine-readable output")
    report.add_argument("--list", action="store_true", help="list runs")
    report.add_argument("--config", help="TOML config")

    sub.add_parser("locate", help="print config, data and runs paths")
    init = sub.add_parser("init", help="write a default config file")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    init.add_argument("--path", help="where to write (default: the platformdirs config file)")

    serve = sub.add_parser("serve", help="the app in a browser (pip install '.[serve]')")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default: this machine only)")
    serve.add_argument("--port", type=int, default=8000, help="port (default: 8000)")

    data = sub.add_parser("data", help="datasets")
    data_sub = data.add_subparsers(dest="data_command")
    get = data_sub.add_parser("get", help="download + convert a public dataset")
    get.add_argument("name", choices=["wikisql"])
    get.add_argument("--dest", help="target directory (default: data dir/datasets)")
    get.add_argument("--url", help="archive URL (default: the official WikiSQL archive)")
    get.add_argument("--sha256", help="expected checksum of the archive")

    models = sub.add_parser("models", help="student models")
    models_sub = models.add_subparsers(dest="models_command")
    fetch = models_sub.add_parser("get", help="fetch + convert a student into the cache")
    fetch.add_argument("name", help="smollm2 | qwen2.5-coder-0.5b | a Hugging Face id")
    return parser


def add_run_options(run: argparse.ArgumentParser) -> None:
    """The options of a run; the app and `run --headless` take the same ones."""
    run.add_argument("--headless", action="store_true",
                     help="no TUI: progress on stderr, events as JSONL with --events")
    run.add_argument("--config", help="TOML config (default: the platformdirs config file)")
    run.add_argument("--dataset", help="wikisql:DIR | spider:DIR | jsonl:FILE | bundled")
    run.add_argument("--split", help="dataset split to distil")
    run.add_argument("--limit", type=int, help="first N samples (after dedup); 0 = all")
    run.add_argument("--eval-split", metavar="NAME|by-database[:F[:SEED]]",
                     help="split the student is evaluated on; by-database: a seeded fraction F "
                          "(default 0.2) of the distilled split's databases, held out of "
                          "distillation")
    run.add_argument("--teacher", help="builtin | openai:MODEL | openrouter:MODEL | "
                                       "ollama:MODEL | mlx:PATH")
    run.add_argument("--base-url", help="server URL for openai/ollama specs")
    run.add_argument("--concurrency", type=int,
                     help=f"teacher requests in flight (1 to {cfg.MAX_CONCURRENCY}; never more "
                          "than there are samples)")
    run.add_argument("--student", metavar="SPEC",
                     help="smollm2 (default) | an mlx-lm model directory | a Hugging Face id")
    run.add_argument("--no-student", action="store_true", help="skip training and student eval")
    run.add_argument("--override-gate", action="append", default=[], metavar="NAME",
                     help="continue past a failed gate (e.g. teacher_eval)")
    run.add_argument("--events", metavar="FILE|-", help="write JSONL events to FILE or stdout")
    run.add_argument("--resume", metavar="RUN_ID", help="continue a run")


def load_run_config(args: argparse.Namespace) -> cfg.Config:
    """File/env config with the CLI flags applied on top (CLI > env > file > defaults)."""
    config = cfg.load_config(args.config)
    flags = {
        "dataset.spec": (args.dataset, "--dataset"), "dataset.split": (args.split, "--split"),
        "dataset.eval_split": (args.eval_split, "--eval-split"),
        "dataset.limit": (args.limit, "--limit"), "teacher.spec": (args.teacher, "--teacher"),
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


class HeadlessPrinter:
    """Human progress on stderr: one status line every couple of seconds, plus milestones.

    The line's counters come from one moment: a stage's entry is its latest StageProgress, or
    its final count once it finished. The teacher shows its current rate (over the last
    RATE_WINDOW_S), retries and any 429 pause, so a slowdown is visible when it happens."""

    RATE_WINDOW_S = 10.0

    def __init__(self, out: TextIO, every_s: float = 2.0) -> None:
        self.out = out
        self.every_s = every_s
        self.last = 0.0
        self.progress: dict[str, tuple[int, int]] = {}  # stage -> (done, total)
        self.finished: set[str] = set()
        self.teacher_eta: float | None = None
        self.teacher_done: deque[tuple[float, int]] = deque()
        self.requests: Any = None

    def __call__(self, event: Event) -> None:
        kind = type(event).__name__
        if kind == "StageProgress":
            self.progress[event.stage] = (event.done, event.total)
            if event.stage == "teacher":
                self.teacher_eta = event.eta_s
                self.teacher_done.append((event.ts, event.done))
                while event.ts - self.teacher_done[0][0] > self.RATE_WINDOW_S:
                    self.teacher_done.popleft()
            # While samples stream, a tick's StageProgress events end with RequestStats: the
            # line waits for it, so its counters all come from that tick. Later stages (select
            # on) report one at a time.
            if "score" in self.finished:
                self.maybe_status_line(event.ts)
        elif kind == "RequestStats":
            self.requests = event
            self.maybe_status_line(event.ts)
        elif kind == "StageStarted":
            self.progress.setdefault(event.stage, (0, 0))  # the line keeps pipeline order
        elif kind == "RunFinished":
            self.status_line()  # the final counts, whatever the timer
        elif kind == "RunStarted":
            verb = "resuming" if event.resumed else "starting"
            self.say(f"{verb} run {event.run_id}: dataset {event.dataset}, teacher "
                     f"{event.teacher}, {event.total} samples")
        elif kind == "StageFinished":
            self.progress[event.stage] = (event.total, event.total)
            self.finished.add(event.stage)
            counted = (f"{event.total} iterations" if event.stage == "train"  # no samples
                       else f"{event.kept} kept, {event.rejected} rejected")
            self.say(f"[{event.stage}] done: {counted} in {event.seconds:.1f}s")
        elif kind == "GateEvaluated":
            when = "early check" if event.early else "final"
            verdict = "passed" if event.passed else "FAILED"
            parts = ", ".join(gate_metric(k, m) for k, m in event.metrics.items())
            self.say(f"gate {event.gate} ({when}) {verdict}: {parts}")
        elif kind == "GateDecided" and event.overridden:
            self.say(f"gate {event.gate} overridden ({event.by})")
        elif kind == "TrainProgress":
            if event.ts - self.last >= self.every_s or event.iteration == event.total_iterations:
                self.last = event.ts
                val = "" if event.val_loss is None else f" val {event.val_loss:.3f}"
                eta = "" if event.eta_s is None else f" ETA {format_seconds(event.eta_s)}"
                self.say(f"[train] iteration {event.iteration}/{event.total_iterations} loss "
                         f"{event.loss:.3f}{val} {event.tokens_per_s:.0f} tok/s{eta}")
        elif kind == "StudentMetrics":
            who = "teacher" if event.phase == "teacher" else f"student ({event.phase})"
            self.say(f"{who} on {event.total} eval questions: exec-pass "
                     f"{event.exec_pass_rate:.3f}, gold-match {event.gold_match_rate:.3f}")
        elif kind == "Log":
            self.say(f"{event.level}: {event.message}")

    def maybe_status_line(self, ts: float) -> None:
        if ts - self.last >= self.every_s:
            self.last = ts
            self.status_line()

    def current_rate(self) -> float | None:
        if len(self.teacher_done) < 2:
            return None
        (t0, d0), (t1, d1) = self.teacher_done[0], self.teacher_done[-1]
        return (d1 - d0) / (t1 - t0) if t1 > t0 else None

    def status_line(self) -> None:
        parts = []
        for stage, (done, total) in self.progress.items():
            part = f"{stage} {done}" + (f"/{total}" if total else "")
            if stage == "teacher" and stage not in self.finished:
                rate = self.current_rate()
                if rate is not None:
                    part += f" {rate:.1f}/s"
                if self.teacher_eta is not None:
                    part += f" ETA {format_seconds(self.teacher_eta)}"
            parts.append(part)
        r = self.requests
        if r is not None:
            line = (f"requests cached {r.cached} fresh {r.fresh} failed {r.failed} "
                    f"in-flight {r.in_flight} ready {r.ready_ahead} retries {r.retries}")
            if r.rate_limited:
                line += f" 429s {r.rate_limited}"
            if r.paused_s > 0:
                line += f" (paused {r.paused_s:.0f}s by the server)"
            if r.judge_requests:
                line += f" judge {r.judge_requests} (${r.judge_cost:.4f})"
            parts.append(line + f" cost ${r.cost:.4f}")
        self.say(" | ".join(parts))

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)


def gate_metric(name: str, metric: dict[str, Any]) -> str:
    """ "answers 1300 (min_total 50)", "exec_pass_rate 0.700 (≥ 0.500)" """
    if name == "min_total":
        return f"answers {format_metric(metric['value'])} (min_total " \
               f"{format_metric(metric['threshold'])})"
    return f"{name} {format_metric(metric['value'])} (≥ {format_metric(metric['threshold'])})"


def format_metric(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.3f}"


def format_seconds(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s"


def headless_gate_policy(event: Any) -> GateDecision:
    """Headless has nobody to ask: a failed gate stops the run unless overridden up front."""
    return GateDecision(False, "policy")


def cmd_run(args: argparse.Namespace) -> int:
    from .core.engine import Engine
    from .core.store import Store

    if not args.headless:
        return cmd_app(args)
    config = load_run_config(args)
    store = Store(store_path(config))
    try:
        config, run_id, resume = resolve_run(args, config, store)
        return run_engine(args, Engine(config, store, run_id=run_id, resume=resume), store)
    finally:
        try:
            store.close()
        except sqlite3.Error:
            pass  # the failure that stopped the run was reported already


def resolve_run(args: argparse.Namespace, config: cfg.Config,
                store: Store) -> tuple[cfg.Config, str | None, bool]:
    """The run's config, its id (None: a new run) and whether it resumes; a rerun continues
    the newest unfinished run of its config. NothingToDo for a completed run's --resume."""
    from .core.engine import run_dir_for

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


def run_engine(args: argparse.Namespace, engine: Engine, store: Store) -> int:
    printer = HeadlessPrinter(sys.stderr)
    if engine.config.student.enabled:
        from .core.student.models import local_path

        if local_path(engine.config.student.spec, cfg.cache_dir()) is None:
            printer.say(f"fetching the student model {engine.config.student.spec} (once; the "
                        "only network use of a default run) ...")
    events_out: TextIO | None = None
    if args.events == "-":
        events_out = sys.stdout
    elif args.events:
        Path(args.events).parent.mkdir(parents=True, exist_ok=True)
        events_out = open(args.events, "a", encoding="utf-8")

    def sink(event: Event) -> None:
        printer(event)
        if events_out is not None:
            write_event(events_out, event)

    cancel = threading.Event()

    def on_sigint(signum: int, frame: Any) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        printer.say("stopping: finishing requests in flight (Ctrl-C again to abort now)")
        cancel.set()

    previous = {sig: signal.signal(sig, on_sigint) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        outcome = asyncio.run(engine.run(sink, headless_gate_policy, cancel))
    except KeyboardInterrupt:
        return aborted(engine.run_id, store, printer)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if events_out is not None and events_out is not sys.stdout:
            events_out.close()
    if outcome.status != "completed":
        printer.say(outcome.message)
    printer.say(f"run {outcome.run_id} {outcome.status}: {outcome.run_dir}")
    return outcome.exit_code


def aborted(run_id: str, store: Store, printer: HeadlessPrinter) -> int:
    """A second Ctrl-C: what reached the store stays; the run is marked resumable."""
    run = store.get_run(run_id)
    if run is None:
        printer.say("aborted before the run started")
        return 130
    store.flush()
    if run["status"] == "running":
        store.set_run_status(run_id, "cancelled")
    printer.say(f"aborted: run {run_id} stopped at once; the answers received so far are "
                f"kept; resume with `fastdistill run --headless --resume {run_id}`")
    return 130


def cmd_app(args: argparse.Namespace) -> int:
    """The app on a run of these options; what headless prints last is printed after it."""
    from .app import create_app
    from .core.store import Store

    app = create_app(args)
    require_display()
    app.run()
    if app.aborted:  # leave now, not after the requests in flight: the run stays resumable
        request = app.run_request
        store = Store(store_path(request.config))
        code = aborted(request.run_id, store, HeadlessPrinter(sys.stderr))
        store.close()
        sys.stderr.flush()
        os._exit(code)
    if app.result.line:
        print(app.result.line, file=sys.stderr)
    return app.return_code or 0


def cmd_report(args: argparse.Namespace) -> int:
    from .core.report import format_report, load_report
    from .core.store import Store

    config = cfg.load_config(args.config)
    if not store_path(config).exists():
        raise InputError("no runs yet", path=str(store_path(config)),
                         hint="start one with `fastdistill run --headless`")
    store = Store(store_path(config))
    try:
        if args.list:
            runs = [{k: run[k] for k in ("run_id", "status", "dataset", "teacher", "created_at",
                                         "finished_at")} for run in store.list_runs()]
            if args.json:
                print(json.dumps(runs, indent=2, ensure_ascii=False))
            for run in runs if not args.json else []:
                print(f"{run['run_id']}  {run['status']:<11} {run['dataset']}  {run['teacher']}")
            return 0
        run_id = args.run_id or next((r["run_id"] for r in store.list_runs()), None)
        if run_id is None or store.get_run(run_id) is None:
            raise InputError(f"no run '{args.run_id}'", field="RUN_ID",
                             hint="list runs with `fastdistill report --list`")
        report = load_report(config, store, run_id)
    finally:
        store.close()
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        print(format_report(report))
    return 0


def cmd_locate(args: argparse.Namespace) -> int:
    config = cfg.load_config()
    print(f"config: {cfg.default_config_path()}")
    print(f"data:   {config.data_dir}")
    print(f"runs:   {config.runs_dir}")
    print(f"store:  {store_path(config)}")
    print(f"cache:  {cfg.cache_dir()}")
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    path = Path(args.path) if args.path else cfg.default_config_path()
    cfg.write_default_config(path, force=args.force)
    print(f"wrote {path}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Each browser tab gets its own `fastdistill` (home, or the default run), drawn by
    textual-serve over a websocket."""
    try:
        from textual_serve.server import Server
    except ImportError:
        raise InputError("the serve extra is not installed", field="serve",
                         hint="pip install '.[serve]' (textual-serve)") from None
    command = f"{shlex.quote(sys.executable)} -m fastdistill_tui"
    print(f"serving the app on http://{args.host}:{args.port}", file=sys.stderr, flush=True)
    Server(command, host=args.host, port=args.port, title="FastDistill").serve()
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    from .core.datasets.download import download_wikisql

    if args.data_command != "get":
        print("usage: fastdistill data get wikisql", file=sys.stderr)
        return 2
    config = cfg.load_config()
    dest = Path(args.dest) if args.dest else config.data_dir / "datasets"
    if dest.exists() and not dest.is_dir():
        raise InputError("is a file, not a directory", path=str(dest), field="--dest",
                         hint="give a directory to download into")
    last = [-1]

    def progress(done: int, total: int | None) -> None:
        pct = int(done * 100 / total) if total else -1
        if pct != last[0]:
            last[0] = pct
            shown = f"{pct:3d}%" if total else f"{done / 1e6:.1f} MB"
            print(f"\rdownloading WikiSQL {shown}", end="", file=sys.stderr, flush=True)

    kwargs: dict[str, Any] = {"progress": progress, "expected_sha256": args.sha256}
    if args.url:
        kwargs["url"] = args.url
    path = download_wikisql(dest, **kwargs)
    print(file=sys.stderr)
    print(f"WikiSQL ready: use --dataset wikisql:{path}")
    return 0


def require_display() -> None:
    """The app draws on a terminal, or through a driver that needs none (TEXTUAL_DRIVER:
    textual-serve's web driver, for `fastdistill serve`)."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()) and not os.environ.get(
            "TEXTUAL_DRIVER"):
        raise InputError("the app needs a terminal, and stdin or stdout is not one",
                         field="--headless", hint="add --headless to run without the app")


def cmd_home() -> int | None:
    """`fastdistill` with no options: the stored runs, where there are any (None: none yet,
    so the offline default run opens as before)."""
    from .app import create_home_app

    app = create_home_app(cfg.load_config())
    if app is None:
        return None
    require_display()
    app.run()
    if app.result.line:
        print(app.result.line, file=sys.stderr)
    if app.aborted:  # a resumed run aborted: as cmd_app, don't wait for requests in flight
        sys.stderr.flush()
        os._exit(130)
    return app.return_code or 0


def cmd_models(args: argparse.Namespace) -> int:
    from .core.student.models import resolve_student

    if args.models_command != "get":
        print("usage: fastdistill models get smollm2", file=sys.stderr)
        return 2
    print(f"fetching {args.name} (once; later runs use the cache) ...", file=sys.stderr)
    print(resolve_student(args.name, cfg.cache_dir()))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    given = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    handlers = {"run": cmd_run, "report": cmd_report, "locate": cmd_locate, "init": cmd_init,
                "data": cmd_data, "models": cmd_models, "serve": cmd_serve}
    try:
        if args.command is None:
            home = cmd_home() if not given else None
            return cmd_run(args) if home is None else home
        return handlers[args.command](args)
    except FastDistillError as exc:
        print(f"error: {exc}" if exc.exit_code else str(exc), file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # a path that cannot be read or written: the user can fix it
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc} (check the path, its permissions and the "
              f"free space)", file=sys.stderr)
        return SetupError.exit_code
    except KeyboardInterrupt:
        print("aborted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
