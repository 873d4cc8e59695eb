import tomllib

import pytest

from fastdistill_tui.core import config as cfg
from fastdistill_tui.core.errors import ConfigError


def write(tmp_path, text):
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_written_by_init_load_back(tmp_path):
    path = cfg.write_default_config(tmp_path / "c" / "config.toml")
    data = tomllib.loads(path.read_text())
    assert data["teacher"]["spec"] == "builtin"
    assert data["gates"]["teacher_eval"]["min_total"] == 50
    loaded = cfg.load_config(path, env={})
    assert loaded == cfg.Config()


def test_init_refuses_to_overwrite_without_force(tmp_path):
    path = cfg.write_default_config(tmp_path / "config.toml")
    path.write_text("[teacher]\nconcurrency = 3\n")
    with pytest.raises(ConfigError, match="--force"):
        cfg.write_default_config(path)
    cfg.write_default_config(path, force=True)
    assert cfg.load_config(path, env={}).teacher.concurrency == 32


def test_unknown_key_names_key_and_file(tmp_path):
    path = write(tmp_path, "[teacher]\nconcurency = 3\n")
    with pytest.raises(ConfigError) as info:
        cfg.load_config(path, env={})
    message = str(info.value)
    assert "teacher.concurency" in message and str(path) in message


def test_unknown_section_and_nested_gate_key(tmp_path):
    with pytest.raises(ConfigError, match="'studnet'"):
        cfg.load_config(write(tmp_path, "[studnet]\nx = 1\n"), env={})
    with pytest.raises(ConfigError, match="'student.x'"):
        cfg.load_config(write(tmp_path, "[student]\nx = 1\n"), env={})
    with pytest.raises(ConfigError, match="gates.teacher_eval.min_totl"):
        cfg.load_config(write(tmp_path, "[gates.teacher_eval]\nmin_totl = 1\n"), env={})


@pytest.mark.parametrize("text, field", [
    ("[teacher]\nconcurrency = 'many'\n", "teacher.concurrency"),
    ("[teacher]\nconcurrency = 0\n", "teacher.concurrency"),
    ("[eval]\ncolumn_order = 'sideways'\n", "eval.column_order"),
    ("[gates.teacher_eval]\nexec_pass_rate = 1.5\n", "gates.teacher_eval.exec_pass_rate"),
    ("[gates]\nteacher_eval = 3\n", "gates.teacher_eval"),
    ("[teacher]\ndisable_thinking = 'maybe'\n", "teacher.disable_thinking"),
    ("[dataset]\nlimit = 2.5\n", "dataset.limit"),
    ("[no_gold]\ncandidates = 1\n", "no_gold.candidates"),
    ("[no_gold]\ncandidates = 3\nmin_agree = 4\n", "no_gold.min_agree"),
    ("[gates.teacher_eval]\nagreement_rate = -0.1\n", "gates.teacher_eval.agreement_rate"),
])
def test_bad_values_name_the_field(tmp_path, text, field):
    with pytest.raises(ConfigError) as info:
        cfg.load_config(write(tmp_path, text), env={})
    assert info.value.field == field
    assert field in str(info.value)


def test_invalid_toml_names_file(tmp_path):
    path = write(tmp_path, "[teacher\n")
    with pytest.raises(ConfigError, match="not valid TOML") as info:
        cfg.load_config(path, env={})
    assert str(path) in str(info.value)


def test_missing_explicit_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        cfg.load_config(tmp_path / "nope.toml", env={})


def test_thresholds_can_be_zero(tmp_path):
    path = write(tmp_path, "[gates.teacher_eval]\nmin_total = 0\nexec_pass_rate = 0\n"
                           "gold_match_rate = 0.0\njudge_mean = 0\n")
    gate = cfg.load_config(path, env={}).gates.teacher_eval
    assert (gate.min_total, gate.exec_pass_rate, gate.gold_match_rate, gate.judge_mean) == (
        0, 0.0, 0.0, 0.0)


def test_precedence_env_over_file(tmp_path):
    path = write(tmp_path, "[teacher]\nconcurrency = 8\nspec = 'ollama:x'\n")
    loaded = cfg.load_config(path, env={"FASTDISTILL_TEACHER_CONCURRENCY": "64"})
    assert loaded.teacher.concurrency == 64
    assert loaded.teacher.spec == "ollama:x"


def test_env_gate_override_and_unknown_env(tmp_path):
    loaded = cfg.load_config(None, env={"FASTDISTILL_TEACHER_EVAL_GATE": "0"})
    assert loaded.run.override_gates == ["teacher_eval"]
    with pytest.raises(ConfigError, match="FASTDISTILL_TEACHER_CONCURENCY"):
        cfg.load_config(None, env={"FASTDISTILL_TEACHER_CONCURENCY": "3"})


def test_xdg_relocates_paths(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert cfg.default_config_path() == tmp_path / "cfg" / "fastdistill" / "config.toml"
    assert cfg.Config().runs_dir == tmp_path / "data" / "fastdistill" / "runs"


def test_config_hash_ignores_data_dir_but_not_teacher():
    a, b = cfg.Config(), cfg.Config()
    b.run.data_dir = "/elsewhere"
    b.teacher.concurrency, b.teacher.base_url, b.eval.workers = 256, "http://x/v1", 8
    assert a.config_hash() == b.config_hash()
    b.teacher.spec = "ollama:m"
    assert a.config_hash() != b.config_hash()


def test_command_line_beats_environment_beats_file(tmp_path, monkeypatch):
    from fastdistill_tui import cli

    path = write(tmp_path, "[teacher]\nconcurrency = 8\ntimeout_s = 9.0\nmax_retries = 2\n")
    monkeypatch.setenv("FASTDISTILL_TEACHER_CONCURRENCY", "64")
    monkeypatch.setenv("FASTDISTILL_TEACHER_TIMEOUT_S", "30")
    args = cli.build_parser().parse_args(["run", "--headless", "--config", str(path),
                                          "--concurrency", "3"])
    config = cli.load_run_config(args)
    assert config.teacher.concurrency == 3  # flag over env over file
    assert config.teacher.timeout_s == 30.0  # env over file
    assert config.teacher.max_retries == 2  # file over default
    assert config.teacher.temperature == 0.0  # default


def test_gate_thresholds_from_the_environment():
    loaded = cfg.load_config(None, env={"FASTDISTILL_GATES_TEACHER_EVAL_MIN_TOTAL": "20",
                                        "FASTDISTILL_GATES_TEACHER_EVAL_ENABLED": "false"})
    assert (loaded.gates.teacher_eval.min_total, loaded.gates.teacher_eval.enabled) == (20, False)
    assert cfg.load_config(None, env={"FASTDISTILL_TEACHER_EVAL_GATE": "1"}
                           ).run.override_gates == []


def test_an_error_names_the_line_or_the_variable_that_set_the_value(tmp_path):
    path = write(tmp_path, "# comment\n[select]\nvalid_fraction = 0.2\nmin_score = 7\n")
    with pytest.raises(ConfigError) as info:
        cfg.load_config(path, env={})
    assert str(info.value).startswith(f"{path}:4: field 'select.min_score'")
    with pytest.raises(ConfigError) as info:
        cfg.load_config(None, env={"FASTDISTILL_SELECT_MIN_SCORE": "inf"})
    assert "environment variable FASTDISTILL_SELECT_MIN_SCORE" in str(info.value)
    assert info.value.path != str(path)


def test_urls_lose_their_credentials_on_the_way_to_disk():
    config = cfg.Config()
    config.teacher.base_url = "https://user:secret@host:8000/v1"
    assert config.public_dict()["teacher"]["base_url"] == "https://***@host:8000/v1"
    assert cfg.basic_auth(config.teacher.base_url) == (
        "https://host:8000/v1", {"Authorization": "Basic dXNlcjpzZWNyZXQ="})
    assert cfg.redact_url("http://host/v1") == "http://host/v1"


def test_tests_see_the_real_default_config():
    """No fixture patches the defaults: the student is on by default, as a user gets it
    (tests turn it off through FASTDISTILL_STUDENT_ENABLED or say so in their Config)."""
    assert cfg.Config().student.enabled is True
    assert cfg.load_config(env={}).student.enabled is True
    assert cfg.load_config().student.enabled is False  # conftest's environment
