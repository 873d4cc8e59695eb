"""locate / init / report through the command line, as a user runs them."""

import json
import subprocess
import sys
import tomllib

from fastdistill_tui import cli


def test_locate_follows_xdg(isolated_dirs, capsys):
    assert cli.main(["locate"]) == 0
    out = capsys.readouterr().out
    assert f"config: {isolated_dirs / 'xdg_config_home' / 'fastdistill' / 'config.toml'}" in out
    assert f"runs:   {isolated_dirs / 'xdg_data_home' / 'fastdistill' / 'runs'}" in out


def test_init_writes_a_loadable_config_once(isolated_dirs, capsys):
    assert cli.main(["init"]) == 0
    path = isolated_dirs / "xdg_config_home" / "fastdistill" / "config.toml"
    assert tomllib.loads(path.read_text())["teacher"]["spec"] == "builtin"
    assert cli.main(["init"]) == 2
    assert "--force" in capsys.readouterr().err
    assert cli.main(["init", "--force"]) == 0


def test_report_of_a_finished_run(capsys):
    assert cli.main(["run", "--headless", "--limit", "60"]) == 0
    run_id = capsys.readouterr().err.strip().splitlines()[-1].split()[1]
    assert cli.main(["report", run_id, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["run_id"] == run_id and report["status"] == "completed"
    assert report["stages"]["score"]["total"] == 60
    assert "hashed__to__teacher" in report["timing"]["durations"]
    assert cli.main(["report"]) == 0  # latest run, human table
    text = capsys.readouterr().out
    assert "score" in text and "p50 ms" in text
    assert cli.main(["report", "--list"]) == 0
    assert run_id in capsys.readouterr().out
    assert cli.main(["report", "--list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(r["run_id"], r["status"]) for r in listed] == [(run_id, "completed")]
    assert cli.main(["report", "nope"]) == 2


def test_report_with_no_runs_says_how_to_start(capsys):
    assert cli.main(["report"]) == 2
    assert "fastdistill run --headless" in capsys.readouterr().err


def test_module_entry_point_prints_help():
    proc = subprocess.run([sys.executable, "-m", "fastdistill_tui", "--help"],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and "run" in proc.stdout and "locate" in proc.stdout
