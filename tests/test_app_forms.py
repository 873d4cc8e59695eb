"""The new-run form and the settings form, driven by Textual's pilot: bad input is refused with
the command line's message; a saved setting is read back by `fastdistill run --headless`."""

from __future__ import annotations

import subprocess
import sys
import tomllib

import pytest
from test_app import wait_for

from fastdistill_tui.app import FastDistillApp
from fastdistill_tui.cli import main
from fastdistill_tui.core import config as cfg
from fastdistill_tui.core.errors import ConfigError
from fastdistill_tui.core.settings_file import current_values, save_settings
from fastdistill_tui.screens.new_run import NewRunScreen
from fastdistill_tui.screens.settings import SettingsScreen


def home_app() -> FastDistillApp:
    return FastDistillApp(home=cfg.load_config())


async def open_form(pilot, key: str, screen_type) -> None:
    # no runs stored: the home screen is empty but still takes its keys
    await wait_for(pilot, lambda: pilot.app.screen.query("DataTable"), "home")
    await pilot.press(key)
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, screen_type)
                   and pilot.app.screen.query("Input"), "the form")


async def fill(pilot, selector: str, text: str) -> None:
    box = pilot.app.screen.query_one(selector)
    box.value = text
    await pilot.pause()


async def submit(pilot, status: str) -> str:
    """Save the open form (ctrl+s); the text of its status line then."""
    await pilot.press("ctrl+s")
    return str(pilot.app.screen.query_one(status).render())


def cli_error(argv: list[str], capsys) -> str:
    assert main(["run", "--headless", *argv]) == 2
    return capsys.readouterr().err.strip().removeprefix("error: ")


def field_error(pilot, field: str) -> str:
    box = pilot.app.screen.query_one(f"#{field}-error")
    return str(box.render()) if box.display else ""


async def test_new_run_marks_each_bad_field_beside_it_in_one_wording():
    """Today a missing dataset path was accepted and the dashboard hung on 'reading and
    validating'; the errors came in three wordings on one status line."""
    app = home_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_form(pilot, "n", NewRunScreen)
        await fill(pilot, "#limit", "-5")
        assert field_error(pilot, "limit") == "↑ must be a whole number, 0 or more"
        status = await submit(pilot, "#new-run-status")
        assert status == "1 field to fix: see the mark under it"
        assert app.engine is None and isinstance(app.screen, NewRunScreen)
        await fill(pilot, "#limit", "abc")
        assert "whole number" in field_error(pilot, "limit")
        await fill(pilot, "#limit", "60")
        assert field_error(pilot, "limit") == ""
        await fill(pilot, "#concurrency", "0")
        assert field_error(pilot, "concurrency") == "↑ must be a whole number from 1 to 1024"
        await fill(pilot, "#gate-gold_match_rate", "lots")
        assert field_error(pilot, "gate-gold_match_rate") == "↑ must be a number from 0 to 1"
        pilot.app.screen.query_one("#dataset_kind").value = "jsonl"
        await pilot.pause()
        assert field_error(pilot, "dataset_path") == "↑ a jsonl dataset needs its path"
        await fill(pilot, "#dataset_path", "/no/such/questions.jsonl")
        assert "no such file or directory" in field_error(pilot, "dataset_path")
        status = await submit(pilot, "#new-run-status")
        assert status == "3 fields to fix: see the marks under them" and app.engine is None
        assert app.screen.would_lose() == "The form has 4 fields filled in."
        for field in ("#dataset_path", "#concurrency", "#gate-gold_match_rate"):
            await fill(pilot, field, "")
        assert app.screen.would_lose() == "The form has 1 field filled in."  # the limit


async def test_the_limit_field_says_what_limit_takes():
    """`first N samples`: --limit takes a seeded sample spread over the databases."""
    app = home_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_form(pilot, "n", NewRunScreen)
        limit = app.screen.query_one("#limit")
        assert "first" not in limit.placeholder and "across the databases" in limit.placeholder
        assert len(limit.placeholder) <= limit.content_size.width  # whole at 80 columns


async def test_new_run_with_good_values_starts_the_dashboard_with_its_thresholds():
    app = home_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_form(pilot, "n", NewRunScreen)
        await fill(pilot, "#limit", "40")
        await fill(pilot, "#student", "none")
        await fill(pilot, "#concurrency", "4")
        await fill(pilot, "#gate-min_total", "20")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.screen is app.run_screen, "the dashboard")
        await wait_for(pilot, lambda: app.state.finished is not None, "the run's end")
        assert app.state.finished.status == "completed"  # min_total 20: 40 answers pass
        assert app.state.total == 40
        config = app.run_request.config
        assert config.teacher.concurrency == 4 and config.gates.teacher_eval.min_total == 20
        assert not config.student.enabled


def test_save_settings_keeps_unknown_keys_and_names_a_bad_key(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('future_section = { a = 1 }\n[teacher]\nspec = "builtin"\nnew_knob = 3\n',
                    encoding="utf-8")
    save_settings(path, {"teacher.concurrency": "7", "run.override_gates": "teacher_eval"})
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    assert data["future_section"] == {"a": 1} and data["teacher"]["new_knob"] == 3
    assert data["teacher"]["concurrency"] == 7 and data["run"]["override_gates"] == [
        "teacher_eval"]
    before = path.read_text(encoding="utf-8")
    with pytest.raises(ConfigError, match="teacher.concurrency"):
        save_settings(path, {"teacher.concurrency": "0"})
    with pytest.raises(ConfigError, match="gates.teacher_eval.judge_mean"):
        save_settings(path, {"gates.teacher_eval.judge_mean": "high"})
    assert path.read_text(encoding="utf-8") == before


def test_save_settings_keeps_the_users_comments_and_layout(tmp_path):
    """Saving rewrote the whole file with tomli-w: every comment went."""
    path = tmp_path / "config.toml"
    text = ('# my teacher: the local llama.cpp server\n[teacher]\nspec = "openai:q"  # 1.5b\n'
            'concurrency = 4\n\n# small runs while I tune\n[dataset]\nlimit = 200\n')
    path.write_text(text, encoding="utf-8")
    save_settings(path, {"teacher.concurrency": "8", "gates.teacher_eval.min_total": "10"})
    saved = path.read_text(encoding="utf-8")
    assert saved.startswith(text.replace("concurrency = 4", "concurrency = 8"))
    assert "# 1.5b" in saved and "# small runs while I tune" in saved
    assert tomllib.loads(saved)["gates"]["teacher_eval"]["min_total"] == 10


async def test_settings_round_trip_to_toml_that_headless_run_reads(capsys):
    path = cfg.default_config_path()
    app = home_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_form(pilot, "comma", SettingsScreen)
        await fill(pilot, "#set-teacher--concurrency", "zero")
        status = await submit(pilot, "#settings-status")
        assert "teacher.concurrency" in status and not path.exists()
        await fill(pilot, "#set-teacher--concurrency", "3")
        await fill(pilot, "#set-dataset--limit", "25")
        await fill(pilot, "#set-gates--teacher_eval--min_total", "10")
        await pilot.press("ctrl+s")
        assert path.exists(), str(app.screen.query_one("#settings-status").render())
        assert str(app.screen.query_one("#settings-status").render()) == (
            f"saved 3 settings to {path}")
        await fill(pilot, "#set-dataset--limit", "30")
        assert app.screen.would_lose() == "1 setting changed and not saved."
        await fill(pilot, "#set-dataset--limit", "25")
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    assert data == {"teacher": {"concurrency": 3}, "dataset": {"limit": 25},
                    "gates": {"teacher_eval": {"min_total": 10}}}
    assert current_values(path)["dataset.limit"] == "25"
    # the file is what `fastdistill run --headless` reads: 25 samples, and the gate passes
    # on 25 answers only because min_total came down to 10
    done = subprocess.run([sys.executable, "-m", "fastdistill_tui", "run", "--headless",
                           "--no-student"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "25 samples" in done.stderr and "completed" in done.stderr


async def test_settings_are_grouped_described_and_typed():
    """Today: a flat list of raw keys, no descriptions, booleans and choices as free text."""
    from textual.widgets import Select, Switch

    path = cfg.default_config_path()
    app = home_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_form(pilot, "comma", SettingsScreen)
        screen = app.screen
        sections = [str(s.render()) for s in screen.query(".settings-section")]
        assert sections[:3] == ["[run]", "[dataset]", "[teacher]"]
        assert "[gates.teacher_eval]" in sections
        thinking = screen.query_one("#set-teacher--disable_thinking")
        assert isinstance(thinking, Switch) and thinking.value is True
        transport = screen.query_one("#set-teacher--transport")
        assert isinstance(transport, Select) and transport.value == "auto"
        about = [str(a.render()) for a in screen.query(".setting-about")]
        assert "N samples after dedup, a seeded sample spread over databases; 0 = all" in about
        assert all(about), "every key says what it means"
        thinking.value = False
        transport.value = "httpx"
        await pilot.pause()
        await pilot.press("ctrl+s")
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    assert data == {"teacher": {"disable_thinking": False, "transport": "httpx"}}


async def test_a_switch_says_on_or_off_in_words_without_colour(monkeypatch):
    """With NO_COLOR=1 every yes/no setting was a blank: the switch shows its state only in
    colour."""
    from textual.widgets import Switch

    monkeypatch.setenv("NO_COLOR", "1")
    app = home_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_form(pilot, "comma", SettingsScreen)
        assert app.no_color
        screen = app.screen
        switches = list(screen.query(Switch))
        assert switches
        for switch in switches:
            word = str(screen.query_one(f"#{switch.id}-state").render())
            assert word == ("on" if switch.value else "off"), switch.id
        repair = screen.query_one("#set-teacher--repair", Switch)
        before = repair.value
        repair.focus()
        await pilot.press("space")
        await pilot.pause()
        assert repair.value is not before
        assert str(screen.query_one("#set-teacher--repair-state").render()) == (
            "on" if repair.value else "off")
