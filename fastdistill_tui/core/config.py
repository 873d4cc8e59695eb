"""Run configuration: dataclasses, TOML in (tomllib) and out (tomli_w), env overrides, paths.

Precedence: CLI flags > environment (FASTDISTILL_<SECTION>_<KEY>) > config file > defaults.
Unknown keys are an error naming the key and the file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs
import tomli_w

from .errors import ConfigError

APP_NAME = "fastdistill"


@dataclass
class DatasetConfig:
    spec: str = "bundled"  # bundled | wikisql:DIR | spider:DIR | jsonl:FILE
    split: str = ""  # split distilled; "" = the dataset's default
    eval_split: str = ""  # split for student evaluation; "" = the dataset's default
    limit: int = 0  # first N samples after dedup; 0 = all


@dataclass
class TeacherConfig:
    spec: str = "builtin"  # builtin | openai:MODEL | openrouter:MODEL | ollama:MODEL | mlx:PATH
    base_url: str = ""  # for openai/ollama specs; "" = provider default
    api_key_env: str = ""  # env var holding the key; "" = provider default (never the key itself)
    concurrency: int = 32
    timeout_s: float = 60.0
    max_retries: int = 5
    rpm: int = 0  # requests per minute limit; 0 = none
    tpm: int = 0  # tokens per minute limit; 0 = none
    temperature: float = 0.0
    max_tokens: int = 512
    disable_thinking: bool = True
    price_in_per_m: float = 0.0  # USD per 1M prompt tokens; 0 = use provider-reported cost
    price_out_per_m: float = 0.0
    transport: str = "auto"  # auto | httpx | aiohttp


@dataclass
class EvalConfig:
    timeout_s: float = 5.0  # per query
    row_cap: int = 10_000
    float_tol: float = 1e-6
    column_order: str = "strict"  # strict | ignore
    cache_gold_results: bool = True
    max_cached_gold: int = 4096
    workers: int = 2  # SQL execution threads
    judge: str = "rule"  # rule | llm
    judge_spec: str = ""  # provider spec for the LLM judge


@dataclass
class TeacherEvalGate:
    enabled: bool = True
    min_total: int = 50
    exec_pass_rate: float = 0.5
    gold_match_rate: float = 0.1
    judge_mean: float = 0.4


@dataclass
class GatesConfig:
    teacher_eval: TeacherEvalGate = field(default_factory=TeacherEvalGate)


@dataclass
class SelectConfig:
    min_score: float = 1.0  # 1.0 = only answers whose result matches gold
    valid_fraction: float = 0.1


@dataclass
class StudentConfig:
    """The student trained on the exported set and evaluated before and after (DESIGN §6).
    Training knobs left at 0/"" take the profile's value (student/profiles.py)."""

    enabled: bool = True
    spec: str = "smollm2"  # smollm2 | an mlx-lm model directory | a Hugging Face id
    profile: str = "auto"  # auto (quick on CPU-only machines, else standard) | quick | standard
    fine_tune_type: str = ""  # lora | full
    iters: int = 0
    batch_size: int = 0
    learning_rate: float = 0.0
    num_layers: int = 0  # layers adapted/trained, counted from the top
    lora_rank: int = 0
    max_seq_length: int = 0
    steps_per_eval: int = 0
    save_every: int = 0
    max_tokens: int = 0  # generation cap for the student's answers
    eval_limit: int = -1  # questions of the eval split evaluated; -1 = the profile's, 0 = all
    eval_batch_size: int = 64  # sequences generated together
    blas_threads: int = 0  # 0 = the CPU count (capped at 8)


@dataclass
class RunConfig:
    data_dir: str = ""  # "" = platformdirs user data dir
    override_gates: list[str] = field(default_factory=list)


OPERATIONAL_SETTINGS = {
    "teacher": ("base_url", "api_key_env", "concurrency", "timeout_s", "max_retries", "rpm",
                "tpm", "price_in_per_m", "price_out_per_m", "transport"),
    "eval": ("workers",),
    "student": ("eval_batch_size", "blas_threads"),
}


@dataclass
class Config:
    run: RunConfig = field(default_factory=RunConfig)
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    gates: GatesConfig = field(default_factory=GatesConfig)
    select: SelectConfig = field(default_factory=SelectConfig)
    student: StudentConfig = field(default_factory=StudentConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def config_hash(self) -> str:
        """Hash of the settings that change a run's outputs; how the run gets there (where the
        server is, how hard to drive it, where files go) is left out, so a run restarted with
        another --concurrency or --base-url is still the same run."""
        data = self.to_dict()
        data["run"] = {}
        for section, keys in OPERATIONAL_SETTINGS.items():
            for key in keys:
                data[section].pop(key)
        if data["student"] == _outputs_only(StudentConfig()):
            del data["student"]  # configs from before the student keep their hash (auto-resume)
        blob = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    @property
    def data_dir(self) -> Path:
        return Path(self.run.data_dir) if self.run.data_dir else user_data_dir()

    @property
    def runs_dir(self) -> Path:
        return self.data_dir / "runs"


def _outputs_only(student: StudentConfig) -> dict[str, Any]:
    data = dataclasses.asdict(student)
    for key in OPERATIONAL_SETTINGS["student"]:
        data.pop(key)
    return data


def config_dir() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME))


def user_data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME))


def cache_dir() -> Path:
    return Path(platformdirs.user_cache_dir(APP_NAME))


def default_config_path() -> Path:
    env = os.environ.get("FASTDISTILL_CONFIG")
    return Path(env) if env else config_dir() / "config.toml"


def _coerce(value: Any, typ: Any, where: str, path: str | None) -> Any:
    """Check/convert one value to the dataclass field type; error names the key and file."""
    origin = typing.get_origin(typ)
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"expected a list, got {type(value).__name__}", path=path,
                              field=where)
        (inner,) = typing.get_args(typ)
        return [_coerce(v, inner, where, path) for v in value]
    if typ is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false",
                                                        "no", "off"):
            return value.lower() in ("1", "true", "yes", "on")
        raise ConfigError(f"expected true/false, got {value!r}", path=path, field=where)
    if typ is int:
        if isinstance(value, bool):
            raise ConfigError(f"expected an integer, got {value!r}", path=path, field=where)
        try:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"expected an integer, got {value!r}", path=path,
                              field=where) from None
    if typ is float:
        if isinstance(value, bool):
            raise ConfigError(f"expected a number, got {value!r}", path=path, field=where)
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"expected a number, got {value!r}", path=path,
                              field=where) from None
    if typ is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ConfigError(f"expected a string, got {value!r}", path=path, field=where)
        return str(value)
    raise AssertionError(f"unsupported config type {typ}")  # programming error


def _apply(obj: Any, data: dict[str, Any], prefix: str, path: str | None) -> None:
    hints = typing.get_type_hints(type(obj))
    names = {f.name for f in dataclasses.fields(obj)}
    for key, value in data.items():
        where = f"{prefix}{key}"
        if key not in names:
            known = ", ".join(sorted(names))
            raise ConfigError(f"unknown key '{where}'", path=path, field=where,
                              hint=f"known keys here: {known}")
        typ = hints[key]
        if dataclasses.is_dataclass(typ):
            if not isinstance(value, dict):
                raise ConfigError(f"expected a table [{where}]", path=path, field=where)
            _apply(getattr(obj, key), value, where + ".", path)
        else:
            setattr(obj, key, _coerce(value, typ, where, path))


def config_from_dict(data: dict[str, Any], source: str) -> Config:
    """A Config from a stored dict (e.g. the config a run was started with)."""
    config = Config()
    _apply(config, data, "", source)
    return config


def validate(config: Config, path: str | None = None) -> Config:
    """Range checks that types alone cannot express."""
    checks = [
        (config.teacher.concurrency >= 1, "teacher.concurrency", "must be ≥ 1"),
        (config.teacher.max_retries >= 0, "teacher.max_retries", "must be ≥ 0"),
        (config.teacher.timeout_s > 0, "teacher.timeout_s", "must be > 0"),
        (config.teacher.transport in ("auto", "httpx", "aiohttp"), "teacher.transport",
         "must be auto, httpx or aiohttp"),
        (config.eval.timeout_s > 0, "eval.timeout_s", "must be > 0"),
        (config.eval.row_cap >= 1, "eval.row_cap", "must be ≥ 1"),
        (config.eval.column_order in ("strict", "ignore"), "eval.column_order",
         "must be strict or ignore"),
        (config.eval.judge in ("rule", "llm"), "eval.judge", "must be rule or llm"),
        (config.eval.workers >= 1, "eval.workers", "must be ≥ 1"),
        (config.dataset.limit >= 0, "dataset.limit", "must be ≥ 0"),
        (0.0 <= config.select.valid_fraction < 1.0, "select.valid_fraction", "must be in [0, 1)"),
        (config.student.profile in ("auto", "quick", "standard"), "student.profile",
         "must be auto, quick or standard"),
        (config.student.fine_tune_type in ("", "lora", "full"), "student.fine_tune_type",
         "must be lora or full"),
        (config.student.eval_limit >= -1, "student.eval_limit", "must be ≥ 0 (0 = all)"),
        (config.student.eval_batch_size >= 1, "student.eval_batch_size", "must be ≥ 1"),
    ]
    for name in ("iters", "batch_size", "num_layers", "lora_rank", "max_seq_length",
                 "steps_per_eval", "save_every", "max_tokens", "blas_threads"):
        checks.append((getattr(config.student, name) >= 0, f"student.{name}",
                       "must be ≥ 0 (0 = the profile's value)"))
    checks.append((config.student.learning_rate >= 0, "student.learning_rate",
                   "must be ≥ 0 (0 = the profile's value)"))
    gate = config.gates.teacher_eval
    for name in ("exec_pass_rate", "gold_match_rate", "judge_mean"):
        checks.append((0.0 <= getattr(gate, name) <= 1.0, f"gates.teacher_eval.{name}",
                       "must be in [0, 1]"))
    checks.append((gate.min_total >= 0, "gates.teacher_eval.min_total", "must be ≥ 0"))
    for ok, where, what in checks:
        if not ok:
            raise ConfigError(what, path=path, field=where)
    return config


def load_config(path: str | Path | None = None, *, env: dict[str, str] | None = None,
                must_exist: bool = False) -> Config:
    """Defaults, then the TOML file (if present), then FASTDISTILL_* env overrides."""
    config = Config()
    file = Path(path) if path else default_config_path()
    if file.exists():
        try:
            with open(file, "rb") as fh:
                data = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"not valid TOML: {exc}", path=str(file),
                              hint="fix the syntax or run `fastdistill init --force`") from None
        _apply(config, data, "", str(file))
    elif must_exist or path:
        raise ConfigError("config file not found", path=str(file),
                          hint="create one with `fastdistill init`")
    apply_env(config, os.environ if env is None else env)
    return validate(config, str(file) if file.exists() else None)


def apply_env(config: Config, env: typing.Mapping[str, str]) -> None:
    """FASTDISTILL_<SECTION>_<KEY>=value, e.g. FASTDISTILL_TEACHER_CONCURRENCY=64.

    FASTDISTILL_TEACHER_EVAL_GATE=0 overrides the teacher-eval gate (DESIGN §4).
    """
    gate_env = env.get("FASTDISTILL_TEACHER_EVAL_GATE")
    if gate_env is not None and gate_env.strip().lower() in ("0", "false", "off", "no"):
        if "teacher_eval" not in config.run.override_gates:
            config.run.override_gates.append("teacher_eval")
    sections = {f.name: f for f in dataclasses.fields(config)}
    for key, value in env.items():
        if not key.startswith("FASTDISTILL_") or key in ("FASTDISTILL_CONFIG",
                                                         "FASTDISTILL_TEACHER_EVAL_GATE"):
            continue
        rest = key[len("FASTDISTILL_"):].lower()
        section = next((s for s in sections if rest.startswith(s + "_")), None)
        if section is None or section == "gates":
            continue  # other FASTDISTILL_* variables are not config (e.g. test hooks)
        name = rest[len(section) + 1:]
        target = getattr(config, section)
        if name not in {f.name for f in dataclasses.fields(target)}:
            raise ConfigError(f"unknown setting {key}", field=key,
                              hint=f"unset it; {section} keys: "
                              + ", ".join(f.name for f in dataclasses.fields(target)))
        typ = typing.get_type_hints(type(target))[name]
        if typing.get_origin(typ) is list:
            value = [v for v in value.split(",") if v]
        setattr(target, name, _coerce(value, typ, key, None))


def dump_config(config: Config) -> str:
    return tomli_w.dumps(config.to_dict())


def write_default_config(path: Path, *, force: bool = False) -> Path:
    """Write the default config atomically; refuse to overwrite unless forced."""
    if path.exists() and not force:
        raise ConfigError("config file already exists", path=str(path),
                          hint="pass --force to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(dump_config(Config()), encoding="utf-8")
    os.replace(tmp, path)
    return path
