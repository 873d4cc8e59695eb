"""`fastdistill` command line (DESIGN §9). Exit codes: 0 done, 1 an internal error (the run is
resumable), 2 bad input, config or setup (a path that cannot be written, a full disk), 3 a gate
failed with no override, 4 finished but samples got no teacher answer (`incomplete`: a rerun or
--resume asks exactly those), 130 stopped by the user (resumable).

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
from .core.errors import FastDistillError, InputError, SetupError
from .core.events import Event, write_event
from .core.gates import GateDecision, gate_misses_title
from .core.misses import format_misses
from .launch import add_run_options, load_run_config, mark_aborted, resolve_run, store_path
from .widgets.format import format_seconds

if TYPE_CHECKING:  # the engine and store load only when a command needs them
    from .core.engine import Engine
    from .core.store import Store


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
    report.add_argument("--audit", type=int, metavar="N",
                        help="show N kept rows (question, answer, gold, both results) and "
                             "record a verdict for each (y/n lines on stdin, or --verdicts)")
    report.add_argument("--verdicts", metavar="FILE",
                        help="with --audit: verdicts from FILE, one 'SAMPLE_ID right|wrong "
                             "[note]' a line, instead of prompts")

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
        self.generating: dict[str, Any] = {}  # student stage -> its latest StageProgress
        self.finished: set[str] = set()
        self.teacher_eta: float | None = None
        self.teacher_done: deque[tuple[float, int]] = deque()
        self.requests: Any = None

    def __call__(self, event: Event) -> None:
        kind = type(event).__name__
        if kind == "StageProgress":
            self.progress[event.stage] = (event.done, event.total)
            if event.tokens:
                self.generating[event.stage] = event
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
            misses = format_misses(event.reasons, event.exec_errors)
            if misses:
                self.say(f"  {gate_misses_title(event)} so far: {misses}")
        elif kind == "GateDecided" and event.overridden:
            self.say(f"gate {event.gate} overridden ({event.by})")
        elif kind == "TrainProgress":
            if event.ts - self.last >= self.every_s or event.iteration == event.total_iterations:
                self.last = event.ts
                where = f"[train] iteration {event.iteration}/{event.total_iterations}"
                if event.step:
                    self.say(f"{where}: {event.step}")
                    return
                val = "" if event.val_loss is None else f" val {event.val_loss:.3f}"
                eta = "" if event.eta_s is None else f" ETA {format_seconds(event.eta_s)}"
                self.say(f"{where} loss {event.loss:.3f}{val} {event.tokens_per_s:.0f} tok/s"
                         f"{eta}")
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
            gen = self.generating.get(stage)
            if gen is not None and stage not in self.finished:
                part += f" ({gen.tokens:,} tokens, {gen.tokens_per_s:.0f} tok/s"
                part += f", ETA {format_seconds(gen.eta_s)})" if gen.eta_s is not None else ")"
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
    misses = run_misses(outcome.run_dir)
    if misses:
        printer.say(misses)
    if outcome.status != "completed":
        printer.say(outcome.message)
    printer.say(f"run {outcome.run_id} {outcome.status}: {outcome.run_dir}")
    return outcome.exit_code


def run_misses(run_dir: Path) -> str:
    """The run's 'answers missing the gold: ...' line, '' before its reports exist."""
    from .core.report import misses_line, read_reports

    return misses_line(read_reports(run_dir)[0]) if run_dir.is_dir() else ""


def aborted(run_id: str, store: Store, printer: HeadlessPrinter) -> int:
    """A second Ctrl-C: what reached the store stays; the run is marked resumable."""
    printer.say(mark_aborted(store, run_id))
    return 130


def cmd_app(args: argparse.Namespace) -> int:
    """The app on a run of these options; what headless prints last is printed after it."""
    from .app import create_app

    app = create_app(args)
    require_display()
    app.run()
    return leave_app(app)


def leave_app(app: Any) -> int:
    """After the app closed: its last line on stderr and its exit code. A run aborted from the
    app is marked cancelled (resumable) in the store, so every list shows a final status, and
    the process leaves now rather than after the requests in flight."""
    from .core.store import Store

    if app.aborted and app.run_request is not None:
        request = app.run_request
        store = Store(store_path(request.config))
        try:
            print(mark_aborted(store, request.run_id), file=sys.stderr)
        finally:
            store.close()
        sys.stderr.flush()
        os._exit(130)
    if app.result.line:
        print(app.result.line, file=sys.stderr)
    return app.return_code or 0


def _audit(config: cfg.Config, store, run_id: str, args: argparse.Namespace) -> int:
    from .core import audit
    from .core.runs import run_dir_for

    if args.audit < 1:
        raise InputError(f"--audit needs a number of rows ≥ 1, got {args.audit}",
                         field="--audit")
    verdicts = audit.read_verdicts(Path(args.verdicts)) if args.verdicts else None
    items = audit.load_items(store, run_id, args.audit, config.eval)
    if not items:
        print(f"run {run_id} kept no rows: nothing to audit")
        return 0

    def ask(prompt: str) -> str | None:
        try:
            return input(prompt)
        except EOFError:
            return None

    recorded = audit.audit(store, run_id, items, out=print, ask=ask, verdicts=verdicts)
    summary = audit.write_audit_report(store, run_id, run_dir_for(config, run_id))
    precision = summary["precision"]
    print(f"{recorded} verdict(s) recorded; run {run_id}: {summary['right']} right, "
          f"{summary['wrong']} wrong of {summary['audited']} audited"
          + (f" (precision {precision:.2f})" if precision is not None else ""))
    return 0


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
        if args.audit is not None:
            return _audit(config, store, run_id, args)
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
    return leave_app(app)


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
