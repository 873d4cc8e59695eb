"""`fastdistill` command line (DESIGN §9). Exit codes: 0 done, 2 bad input or config, 3 a gate
failed with no override, 130 stopped by the user (resumable)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import signal
import sys
import threading
from pathlib import Path
from typing import Any, TextIO

from . import __version__
from .core import config as cfg
from .core.errors import FastDistillError, InputError
from .core.events import Event, event_to_json
from .core.gates import GateDecision


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
    return parser


def add_run_options(run: argparse.ArgumentParser) -> None:
    """The options of a run; the app and `run --headless` take the same ones."""
    run.add_argument("--headless", action="store_true",
                     help="no TUI: progress on stderr, events as JSONL with --events")
    run.add_argument("--config", help="TOML config (default: the platformdirs config file)")
    run.add_argument("--dataset", help="wikisql:DIR | spider:DIR | jsonl:FILE | bundled")
    run.add_argument("--split", help="dataset split to distil")
    run.add_argument("--limit", type=int, help="first N samples (after dedup)")
    run.add_argument("--teacher", help="builtin | openai:MODEL | openrouter:MODEL | "
                                       "ollama:MODEL | mlx:PATH")
    run.add_argument("--base-url", help="server URL for openai/ollama specs")
    run.add_argument("--concurrency", type=int, help="teacher requests in flight")
    run.add_argument("--student", help="student model dir/id (training lands in a later "
                                       "release; currently ignored with a warning)")
    run.add_argument("--no-student", action="store_true", help="skip training and student eval")
    run.add_argument("--override-gate", action="append", default=[], metavar="NAME",
                     help="continue past a failed gate (e.g. teacher_eval)")
    run.add_argument("--events", metavar="FILE|-", help="write JSONL events to FILE or stdout")
    run.add_argument("--resume", metavar="RUN_ID", help="continue a run")


def load_run_config(args: argparse.Namespace) -> cfg.Config:
    """File/env config with the CLI flags applied on top (CLI > env > file > defaults)."""
    config = cfg.load_config(args.config)
    flags = {
        ("dataset", "spec"): args.dataset, ("dataset", "split"): args.split,
        ("dataset", "limit"): args.limit, ("teacher", "spec"): args.teacher,
        ("teacher", "base_url"): args.base_url, ("teacher", "concurrency"): args.concurrency,
    }
    for (section, key), value in flags.items():
        if value is not None:
            setattr(getattr(config, section), key, value)
    for gate in args.override_gate:
        if gate not in config.run.override_gates:
            config.run.override_gates.append(gate)
    return cfg.validate(config, "command line")


def resumed_config(args: argparse.Namespace, current: cfg.Config, stored: dict[str, Any],
                   run_id: str) -> cfg.Config:
    """The run's own config; only what does not change its outputs may be given again:
    --base-url and --concurrency (a moved or bigger server) and --override-gate."""
    config = cfg.config_from_dict(stored, f"run {run_id}")
    fixed = {"--dataset": args.dataset, "--split": args.split, "--limit": args.limit,
             "--teacher": args.teacher, "--config": args.config}
    given = [flag for flag, value in fixed.items() if value is not None]
    if given:
        raise InputError(f"{', '.join(given)} cannot change a run being resumed",
                         field="--resume", hint="drop them, or start a new run without --resume")
    if args.base_url is not None:
        config.teacher.base_url = args.base_url
    if args.concurrency is not None:
        config.teacher.concurrency = args.concurrency
    config.run.override_gates = sorted(set(config.run.override_gates)
                                       | set(current.run.override_gates))
    return cfg.validate(config, f"run {run_id}")


class HeadlessPrinter:
    """Human progress on stderr: one status line every couple of seconds, plus milestones."""

    def __init__(self, out: TextIO, every_s: float = 2.0) -> None:
        self.out = out
        self.every_s = every_s
        self.last = 0.0
        self.progress: dict[str, Any] = {}
        self.requests: Any = None

    def __call__(self, event: Event) -> None:
        kind = type(event).__name__
        if kind == "StageProgress":
            self.progress[event.stage] = event
            if event.ts - self.last >= self.every_s:
                self.last = event.ts
                self.status_line()
        elif kind == "RequestStats":
            self.requests = event
        elif kind == "RunStarted":
            verb = "resuming" if event.resumed else "starting"
            self.say(f"{verb} run {event.run_id}: dataset {event.dataset}, teacher "
                     f"{event.teacher}, {event.total} samples")
        elif kind == "StageFinished":
            self.say(f"[{event.stage}] done: {event.kept} kept, {event.rejected} rejected "
                     f"in {event.seconds:.1f}s")
        elif kind == "GateEvaluated":
            when = "early check" if event.early else "final"
            verdict = "passed" if event.passed else "FAILED"
            parts = ", ".join(f"{k} {format_metric(m['value'])} (≥ "
                              f"{format_metric(m['threshold'])})"
                              for k, m in event.metrics.items())
            self.say(f"gate {event.gate} ({when}) {verdict}: {parts}")
        elif kind == "GateDecided" and event.overridden:
            self.say(f"gate {event.gate} overridden by {event.by}")
        elif kind == "Log":
            self.say(f"{event.level}: {event.message}")

    def status_line(self) -> None:
        parts = []
        for stage, p in self.progress.items():
            part = f"{stage} {p.done}" + (f"/{p.total}" if p.total else "")
            if stage == "teacher":
                part += f" {p.rate_per_s:.1f}/s"
                if p.eta_s is not None:
                    part += f" ETA {format_seconds(p.eta_s)}"
            parts.append(part)
        r = self.requests
        if r is not None:
            parts.append(f"requests cached {r.cached} fresh {r.fresh} failed {r.failed} "
                         f"in-flight {r.in_flight} cost ${r.cost:.4f}")
        self.say(" | ".join(parts))

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)


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


def resolve_run(args: argparse.Namespace, config: cfg.Config,
                store: Any) -> tuple[cfg.Config, str | None, bool]:
    """The run's config, its id (None: a new run) and whether it resumes."""
    from .core.engine import run_dir_for
    from .core.run_lock import is_locked

    resume = False
    run_id = args.resume
    if run_id:
        run = store.get_run(run_id)
        if run is None:
            raise InputError(f"no run '{run_id}'", field="--resume",
                             hint="list runs with `fastdistill report --list`")
        config = resumed_config(args, config, json.loads(run["config_json"]), run_id)
        resume = True
    else:
        run_id = store.latest_unfinished_run(config.config_hash())
        if run_id is not None and is_locked(run_dir_for(config, run_id)):
            run_id = None  # another process is running it: start a run of our own
        resume = run_id is not None
    if args.student and not args.no_student:
        print("warning: student training and evaluation are not in this release; "
              "--student is ignored", file=sys.stderr)
    return config, run_id, resume


def cmd_run(args: argparse.Namespace) -> int:
    from .core.engine import Engine
    from .core.store import Store

    if not args.headless:
        return cmd_app(args)
    config = load_run_config(args)
    store = Store(store_path(config))
    try:
        config, run_id, resume = resolve_run(args, config, store)
    except BaseException:
        store.close()
        raise

    printer = HeadlessPrinter(sys.stderr)
    events_out: TextIO | None = None
    if args.events == "-":
        events_out = sys.stdout
    elif args.events:
        Path(args.events).parent.mkdir(parents=True, exist_ok=True)
        events_out = open(args.events, "a", encoding="utf-8")

    def sink(event: Event) -> None:
        printer(event)
        if events_out is not None:
            events_out.write(json.dumps(event_to_json(event), ensure_ascii=False) + "\n")
            events_out.flush()

    cancel = threading.Event()

    def on_sigint(signum: int, frame: Any) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        printer.say("stopping: finishing requests in flight (Ctrl-C again to abort now)")
        cancel.set()

    previous = {sig: signal.signal(sig, on_sigint) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        engine = Engine(config, store, run_id=run_id, resume=resume)
        outcome = asyncio.run(engine.run(sink, headless_gate_policy, cancel))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        store.close()
        if events_out is not None and events_out is not sys.stdout:
            events_out.close()
    if outcome.status != "completed":
        printer.say(outcome.message)
    printer.say(f"run {outcome.run_id} {outcome.status}: {outcome.run_dir}")
    return outcome.exit_code


def cmd_app(args: argparse.Namespace) -> int:
    """The app on a run of these options; what headless prints last is printed after it."""
    from .app import create_app

    app = create_app(args)
    app.run()
    if app.result.line:
        print(app.result.line, file=sys.stderr)
    if app.aborted:  # don't wait for the requests in flight: what is stored stays resumable
        sys.stderr.flush()
        os._exit(130)
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
            for run in store.list_runs():
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


def cmd_home() -> int | None:
    """`fastdistill` with no options: the stored runs, where there are any (None: none yet,
    so the offline default run opens as before)."""
    from .app import create_home_app

    app = create_home_app(cfg.load_config())
    if app is None:
        return None
    app.run()
    if app.result.line:
        print(app.result.line, file=sys.stderr)
    if app.aborted:  # a resumed run aborted: as cmd_app, don't wait for requests in flight
        sys.stderr.flush()
        os._exit(130)
    return app.return_code or 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    given = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    handlers = {"run": cmd_run, "report": cmd_report, "locate": cmd_locate, "init": cmd_init,
                "data": cmd_data, "serve": cmd_serve}
    try:
        if args.command is None:
            home = cmd_home() if not given else None
            return cmd_run(args) if home is None else home
        return handlers[args.command](args)
    except FastDistillError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("aborted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
