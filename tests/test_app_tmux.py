"""The real app in a real terminal (tmux, 120×40): the default offline job, a gate answered with
a key, the screen read back as text; then the same screen at 80×24."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from loopback_server import LoopbackServer
from test_engine import gold_responder, make_dataset

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

HANG_GUARD_S = 180


class Tmux:
    """One tmux server on a socket of our own, so no other session on the machine is touched."""

    def __init__(self, name: str) -> None:
        self.socket = f"fastdistill-test-{os.getpid()}-{name}"

    def __call__(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], check=True,
                              capture_output=True, text=True).stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "app")

    def wait_for(self, *texts: str, gone: str = "") -> str:
        """The screen once it shows one of `texts` (or no longer shows `gone`)."""
        deadline = time.monotonic() + HANG_GUARD_S
        while True:
            screen = self.screen()
            if any(text in screen for text in texts) or (gone and gone not in screen):
                return screen
            assert time.monotonic() < deadline, f"never shown: {texts}\n{screen}"
            time.sleep(0.2)

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)


def start_app(tmux: Tmux, cwd: Path, *args: str) -> None:
    """`python -m fastdistill_tui ARGS` in a 120×40 window, then `EXIT=<code>` once it ends."""
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in os.environ.items()
                   if k.startswith("XDG_"))
    command = (f"cd {shlex.quote(str(cwd))} && unset COLUMNS LINES && "
               f"env {env} TERM=xterm-256color {shlex.quote(sys.executable)} -m "
               f"fastdistill_tui {' '.join(map(shlex.quote, args))}; echo EXIT=$?; sleep 600")
    # "manual": the window keeps 120×40 with no client attached
    tmux("new-session", "-d", "-s", "app", "-x", "120", "-y", "40", command, ";",
         "set", "-g", "window-size", "manual")


def test_default_job_in_a_terminal_with_a_gate_answered_by_key(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("[gates.teacher_eval]\ngold_match_rate = 1.0\n", encoding="utf-8")
    tmux = Tmux("gate")
    try:
        start_app(tmux, tmp_path, "--config", str(config))
        answered = 0
        while True:  # the early check may pass; the final one fails (gold-match < 1.0)
            screen = tmux.wait_for("Override and continue", "completed · work")
            if "Override and continue" not in screen:
                break
            assert "gold-match" in screen and "✗ FAIL" in screen
            tmux("send-keys", "-t", "app", "o")
            answered += 1
            tmux.wait_for(gone="Override and continue")
        screen = tmux.wait_for("completed · work")
        assert answered >= 1
        assert "FastDistill" in screen.splitlines()[0]
        for stage in ("canonical", "teacher", "score", "select", "export"):
            assert any(line.lstrip("│ ").startswith(stage) and "✓ done" in line
                       for line in screen.splitlines()), stage
        assert "p50" in screen and "queue wait" in screen and "fresh" in screen
        assert "mlx/train.jsonl" in screen and "overridden by user" in screen

        tmux("resize-window", "-t", "app", "-x", "80", "-y", "24")
        deadline = time.monotonic() + HANG_GUARD_S
        while True:  # until the app has redrawn at the new size
            narrow = tmux.screen()
            lines = narrow.rstrip("\n").splitlines()
            if "Quit" in lines[-1] and "✓ done" in narrow and "builtin:rules" in lines[0]:
                break
            assert time.monotonic() < deadline, narrow
            time.sleep(0.2)
        assert len(lines) <= 24 and all(len(line) <= 80 for line in lines)
        assert "completed" in lines[0] and "builtin:rules" in lines[0]  # the teacher kept
        assert "✓ done" in narrow and "Quit" in lines[-1]

        tmux("send-keys", "-t", "app", "q")
        tmux.wait_for("EXIT=0")
    finally:
        tmux.close()
    runs = Path(os.environ["XDG_DATA_HOME"]) / "fastdistill" / "runs"
    (run_dir,) = runs.iterdir()
    decisions = json.loads((run_dir / "manifests" / "run.manifest.json").read_text())[
        "gate_decisions"]
    assert [d["by"] for d in decisions if not d["passed"]] == ["user"] * answered


def test_ctrl_c_twice_in_a_terminal_leaves_at_once_resumable(tmp_path):
    data, gold = make_dataset(tmp_path / "data", 60)
    with LoopbackServer(responder=gold_responder(gold), latency_s=30.0) as srv:
        tmux = Tmux("abort")
        try:
            start_app(tmux, tmp_path, "--dataset", f"jsonl:{data}", "--teacher", "openai:m",
                      "--base-url", srv.base_url, "--concurrency", "2")
            tmux.wait_for("in flight        2")
            tmux("send-keys", "-t", "app", "C-c")
            tmux.wait_for("the run stays resumable")
            tmux("send-keys", "-t", "app", "C-c")  # the answers in flight take 30 s
            screen = tmux.wait_for("EXIT=")
        finally:
            tmux.close()
    assert "EXIT=130" in screen and "stopped at once" in screen
