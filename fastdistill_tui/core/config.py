"""Run configuration: dataclasses, TOML in (tomllib) and out (tomli_w), env overrides, paths.

Precedence: CLI flags > environment (FASTDISTILL_<SECTION>_<KEY>) > config file > defaults.
Unknown keys are an error naming the key and the file.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import math
import os
import re
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import unquote, urlsplit, urlunsplit

import platformdirs
import tomli_w

from .errors import ConfigError

APP_NAME = "fastdistill"
MAX_CONCURRENCY = 1024  # teacher requests in flight; more only adds memory and 429s
MAX_TIMEOUT_S = 3600.0
MAX_CANDIDATES = 16
#: Teacher settings that change outputs only when on: left out of the config hash at these
#: values, so configs from before them keep their hash (and auto-resume).
ROUNDS_OFF = {"repair": False, "candidates": 1}


@dataclass
class DatasetConfig:
    spec: str = "bundled"  # bundled | wikisql:DIR | spider:DIR | jsonl:FILE
    split: str = ""  # split distilled; "" = the dataset's default
    # "by-database[:FRACTION[:SEED]]": held-out databases of the distilled split (db_split.py)
    eval_split: str = ""  # eval split; "" = the dataset's; by-database[:F[:SEED]] = held-out dbs
    limit: int = 0  # N samples after dedup, a seeded sample spread over databases; 0 = all
    seed: int = 0  # the --limit sample's seed


@dataclass
class TeacherConfig:
    spec: str = "builtin"  # builtin | openai:MODEL | openrouter:MODEL | ollama:MODEL | mlx:PATH
    base_url: str = ""  # for openai/ollama specs; "" = provider default
    api_key_env: str = ""  # env var holding the key; "" = provider default (never the key itself)
    concurrency: int = 32  # requests in flight; with adaptive_concurrency, the most in flight
    adaptive_concurrency: bool = True  # grow in-flight requests while throughput grows
    # (back off when the server only queues them, as a local server does)
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
    # an answer that yields no SQL, fails to parse or execute, or returns no rows where the gold
    # has rows is asked once more with the error (stages/repair.py)
    repair: bool = True  # ask a failed answer once more, with its error
    candidates: int = 1  # k > 1: up to k answers a sample, the first gold match kept
    candidate_temperature: float = 0.7  # for candidates 2..k (the first is the plain request)


@dataclass
class PromptConfig:
    """What the teacher's and the student's prompts show of the database beside its schema."""

    db_content: bool = True  # false = the schema alone (names and the dataset's types)
    example_rows: int = 3  # rows shown per table
    value_hints: int = 3  # stored values like the question's words, per text column
    budget_tokens: int = 300  # most tokens the database content adds to a prompt


@dataclass
class EvalConfig:
    timeout_s: float = 5.0  # per query
    row_cap: int = 10_000
    float_tol: float = 1e-6
    column_order: str = "strict"  # strict | ignore
    duplicates: str = "bag"  # bag: duplicate rows count | set: they do not
    # a gold match must also match on perturbed copies of the database (auto: except for
    # WikiSQL-format samples, where it costs ~4x the evaluation: docs/PERFORMANCE.md)
    test_suite: str = "auto"  # auto (recheck on perturbed copies) | on | off
    cache_gold_results: bool = True
    max_cached_gold: int = 4096
    workers: int = 2  # SQL execution threads
    judge: str = "rule"  # rule | llm
    judge_spec: str = ""  # provider spec for the LLM judge
    judge_base_url: str = ""  # the judge's own server; "" = its provider's default
    judge_api_key_env: str = ""  # env var holding the judge's key; "" = provider default


@dataclass
class NoGoldConfig:
    """Rows without gold SQL (stages/agreement.py): up to `candidates` teacher answers are asked
    and one is kept only when at least `min_agree` of them return the same non-empty result on
    the database and on its perturbed copies. The default, all of 3, kept 33 of 120
    spider-de-dev questions at a precision of 0.909 against their hidden gold with a 1.5B
    teacher; 3 of 4 kept 44 at 0.864 (docs/PERFORMANCE.md)."""

    candidates: int = 3  # k: answers asked at most (fewer once min_agree agree, or cannot)
    min_agree: int = 3  # m: answers that must agree for one to be kept


@dataclass
class TeacherEvalGate:
    enabled: bool = True
    min_total: int = 50
    exec_pass_rate: float = 0.5
    gold_match_rate: float = 0.1
    judge_mean: float = 0.4  # the LLM judge's mean score; checked only when eval.judge = "llm"
    agreement_rate: float = 0.1  # without gold SQL: share kept by agreement (only if any)


@dataclass
class GatesConfig:
    teacher_eval: TeacherEvalGate = field(default_factory=TeacherEvalGate)


GATE_NAMES = tuple(f.name for f in dataclasses.fields(GatesConfig))


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
    "teacher": ("base_url", "api_key_env", "concurrency", "adaptive_concurrency", "timeout_s",
                "max_retries", "rpm", "tpm", "price_in_per_m", "price_out_per_m", "transport"),
    "eval": ("workers", "judge_base_url", "judge_api_key_env"),
    "student": ("eval_batch_size", "blas_threads"),
}


class Origin(NamedTuple):
    """Where a setting came from, for error messages: a file and line, a variable, a flag."""

    path: str | None
    line: int | None
    field: str


@dataclass
class Config:
    run: RunConfig = field(default_factory=RunConfig)
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    prompt: PromptConfig = field(default_factory=PromptConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    gates: GatesConfig = field(default_factory=GatesConfig)
    select: SelectConfig = field(default_factory=SelectConfig)
    no_gold: NoGoldConfig = field(default_factory=NoGoldConfig)
    student: StudentConfig = field(default_factory=StudentConfig)

    def __post_init__(self) -> None:
        self.origins: dict[str, Origin] = {}  # "teacher.concurrency" -> where it was set

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def public_dict(self) -> dict[str, Any]:
        """to_dict with credentials taken out of URLs: what may be written to disk."""
        data = self.to_dict()
        data["teacher"]["base_url"] = redact_url(data["teacher"]["base_url"])
        data["eval"]["judge_base_url"] = redact_url(data["eval"]["judge_base_url"])
        return data

    def config_hash(self) -> str:
        """Hash of the settings that change a run's outputs; how the run gets there (where the
        server is, how hard to drive it, where files go) is left out, so a run restarted with
        another --concurrency or --base-url is still the same run."""
        data = self.to_dict()
        data["run"] = {}
        for section, keys in OPERATIONAL_SETTINGS.items():
            for key in keys:
                data[section].pop(key)
        for key, off in ROUNDS_OFF.items():
            if data["teacher"][key] == off:
                del data["teacher"][key]
        if data["teacher"].get("candidates", 1) == 1:
            del data["teacher"]["candidate_temperature"]
        if data["student"] == _outputs_only(STUDENT_DEFAULTS):
            del data["student"]  # configs from before the student keep their hash (auto-resume)
        # settings added later leave a config's hash as it was while at their defaults
        if data["no_gold"] == dataclasses.asdict(NoGoldConfig()):
            del data["no_gold"]
        if data["gates"]["teacher_eval"]["agreement_rate"] == TeacherEvalGate.agreement_rate:
            del data["gates"]["teacher_eval"]["agreement_rate"]
        blob = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    @property
    def data_dir(self) -> Path:
        return Path(self.run.data_dir) if self.run.data_dir else user_data_dir()

    @property
    def runs_dir(self) -> Path:
        return self.data_dir / "runs"


#: The defaults of [student], which leave a config's hash as it was before the student.
STUDENT_DEFAULTS = dataclasses.asdict(StudentConfig())


def _outputs_only(student: dict[str, Any]) -> dict[str, Any]:
    data = dict(student)
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


REDACTED = "***"


def redact_url(url: str) -> str:
    """The URL with any user:password@ replaced by ***@ (never written to disk or events)."""
    if "@" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.username is None and parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{REDACTED}@{host}"))


def basic_auth(url: str) -> tuple[str, dict[str, str]]:
    """(the URL without user:password@, an Authorization header carrying them): the aiohttp
    transport refuses credentials inside a URL, and a URL is what ends up in messages."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, {}
    pair = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
    token = base64.b64encode(pair.encode()).decode()
    bare = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    return bare, {"Authorization": f"Basic {token}"}


def url_credentials(url: str) -> list[str]:
    """The user and password inside a URL, to scrub from messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    return [s for s in (parts.username, parts.password) if s]


def judge_teacher_config(config: Config) -> TeacherConfig:
    """The LLM judge's connection: its own spec, server and key; the teacher's timeouts and
    retries, but neither its server, its key, its prices nor its rate limits."""
    t = config.teacher
    return TeacherConfig(spec=config.eval.judge_spec, base_url=config.eval.judge_base_url,
                         api_key_env=config.eval.judge_api_key_env, concurrency=t.concurrency,
                         adaptive_concurrency=t.adaptive_concurrency, timeout_s=t.timeout_s,
                         max_retries=t.max_retries,
                         transport=t.transport)


def key_lines(text: str) -> dict[str, int]:
    """dotted key -> line number in a TOML text (tables and `key = ` lines), for messages."""
    lines: dict[str, int] = {}
    table = ""
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        header = re.match(r"^\[\s*([^\[\]]+?)\s*\]", line)
        if header:
            table = _plain_key(header.group(1))
            lines.setdefault(table, number)
            continue
        assignment = re.match(r"^([A-Za-z0-9_\-.\"' ]+?)\s*=", line)
        if assignment:
            key = _plain_key(assignment.group(1))
            lines.setdefault(f"{table}.{key}" if table else key, number)
    return lines


def _plain_key(key: str) -> str:
    return ".".join(part.strip().strip("\"'") for part in key.split("."))


def blame(config: Config, error: ConfigError) -> ConfigError:
    """An error about a setting (raised where only its key is known, e.g. making a provider),
    pointed at the file line, variable or option that set it."""
    origin = config.origins.get(error.field or "")
    if origin is None or error.path is not None:
        return error
    return _fail(error.message, origin, error.hint)


def _fail(message: str, origin: Origin, hint: str | None = None) -> ConfigError:
    return ConfigError(message, path=origin.path, line=origin.line, field=origin.field,
                       hint=hint)


def _coerce(value: Any, typ: Any, origin: Origin) -> Any:
    """Check/convert one value to the dataclass field type; errors name where it was set."""
    if typing.get_origin(typ) is list:
        if not isinstance(value, list):
            raise _fail(f"expected a list, got {type(value).__name__}", origin)
        (inner,) = typing.get_args(typ)
        return [_coerce(v, inner, origin) for v in value]
    if typ is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false",
                                                        "no", "off"):
            return value.lower() in ("1", "true", "yes", "on")
        raise _fail(f"expected true/false, got {value!r}", origin)
    if typ is int:
        if isinstance(value, bool):
            raise _fail(f"expected an integer, got {value!r}", origin)
        try:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        except (TypeError, ValueError, OverflowError):
            raise _fail(f"expected an integer, got {value!r}", origin) from None
    if typ is float:
        if isinstance(value, bool):
            raise _fail(f"expected a number, got {value!r}", origin)
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise _fail(f"expected a number, got {value!r}", origin) from None
        if not math.isfinite(number):
            raise _fail(f"expected a finite number, got {value!r}", origin)
        return number
    if typ is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise _fail(f"expected a string, got {value!r}", origin)
        return str(value)
    raise AssertionError(f"unsupported config type {typ}")  # programming error


def _apply(config: Config, obj: Any, data: dict[str, Any], prefix: str, path: str | None,
           lines: dict[str, int] | None = None) -> None:
    hints = typing.get_type_hints(type(obj))
    names = {f.name for f in dataclasses.fields(obj)}
    for key, value in data.items():
        where = f"{prefix}{key}"
        origin = Origin(path, (lines or {}).get(where), where)
        if key not in names:
            known = ", ".join(sorted(names))
            raise _fail(f"unknown key '{where}'", origin, hint=f"known keys here: {known}")
        typ = hints[key]
        if dataclasses.is_dataclass(typ):
            if not isinstance(value, dict):
                raise _fail(f"expected a table [{where}]", origin)
            _apply(config, getattr(obj, key), value, where + ".", path, lines)
        else:
            setattr(obj, key, _coerce(value, typ, origin))
            config.origins[where] = origin


def config_from_dict(data: dict[str, Any], source: str) -> Config:
    """A Config from a stored dict (e.g. the config a run was started with)."""
    config = Config()
    _apply(config, config, data, "", source)
    return config


def set_flag(config: Config, key: str, value: Any, flag: str) -> None:
    """Apply a command-line value to `section.name`, remembering the flag for messages."""
    section, name = key.split(".")
    setattr(getattr(config, section), name, value)
    config.origins[key] = Origin("command line", None, flag)


#: A missing setting is blamed on the line of the one that requires it.
SET_BY = {"eval.judge_spec": "eval.judge"}
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _url_ok(url: str) -> bool:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def validate(config: Config, path: str | None = None) -> Config:
    """Range checks that types alone cannot express; the error names where the value was set
    (file and line, environment variable or flag), else `path`."""
    t, e, s = config.teacher, config.eval, config.select
    checks = [
        (1 <= t.concurrency <= MAX_CONCURRENCY, "teacher.concurrency",
         f"must be between 1 and {MAX_CONCURRENCY}"),
        (0 <= t.max_retries <= 100, "teacher.max_retries", "must be between 0 and 100"),
        (0 < t.timeout_s <= MAX_TIMEOUT_S, "teacher.timeout_s",
         f"must be > 0 and ≤ {MAX_TIMEOUT_S:g} seconds"),
        (t.rpm >= 0, "teacher.rpm", "must be ≥ 0 (0 = no limit)"),
        (t.tpm >= 0, "teacher.tpm", "must be ≥ 0 (0 = no limit)"),
        (0.0 <= t.temperature <= 2.0, "teacher.temperature", "must be in [0, 2]"),
        (t.max_tokens >= 1, "teacher.max_tokens", "must be ≥ 1"),
        (1 <= t.candidates <= MAX_CANDIDATES, "teacher.candidates",
         f"must be between 1 and {MAX_CANDIDATES}"),
        (0.0 < t.candidate_temperature <= 2.0, "teacher.candidate_temperature",
         "must be in (0, 2]: candidates at temperature 0 would all be the same answer"),
        (t.price_in_per_m >= 0, "teacher.price_in_per_m", "must be ≥ 0"),
        (t.price_out_per_m >= 0, "teacher.price_out_per_m", "must be ≥ 0"),
        (t.transport in ("auto", "httpx", "aiohttp"), "teacher.transport",
         "must be auto, httpx or aiohttp"),
        (not t.base_url or _url_ok(t.base_url), "teacher.base_url",
         "must be an http:// or https:// URL, e.g. http://localhost:8000/v1"),
        (not t.api_key_env or _ENV_NAME.match(t.api_key_env), "teacher.api_key_env",
         "must be the NAME of an environment variable holding the key, never the key itself"),
        (0 < e.timeout_s <= MAX_TIMEOUT_S, "eval.timeout_s",
         f"must be > 0 and ≤ {MAX_TIMEOUT_S:g} seconds"),
        (e.row_cap >= 1, "eval.row_cap", "must be ≥ 1"),
        (e.float_tol >= 0, "eval.float_tol", "must be ≥ 0"),
        (e.max_cached_gold >= 0, "eval.max_cached_gold", "must be ≥ 0"),
        (e.column_order in ("strict", "ignore"), "eval.column_order",
         "must be strict or ignore"),
        (e.test_suite in ("auto", "on", "off"), "eval.test_suite", "must be auto, on or off"),
        (e.duplicates in ("bag", "set"), "eval.duplicates",
         "must be bag (duplicate rows count) or set (they do not)"),
        (e.judge in ("rule", "llm"), "eval.judge", "must be rule or llm"),
        (e.judge != "llm" or e.judge_spec.strip(), "eval.judge_spec",
         "must name the judge's provider when eval.judge = \"llm\" (e.g. openai:MODEL)"),
        (not e.judge_base_url or _url_ok(e.judge_base_url), "eval.judge_base_url",
         "must be an http:// or https:// URL"),
        (not e.judge_api_key_env or _ENV_NAME.match(e.judge_api_key_env),
         "eval.judge_api_key_env",
         "must be the NAME of an environment variable holding the key, never the key itself"),
        (1 <= e.workers <= 64, "eval.workers", "must be between 1 and 64"),
        (config.dataset.limit >= 0, "dataset.limit", "must be ≥ 0 (0 = all)"),
        (config.prompt.example_rows >= 0, "prompt.example_rows", "must be ≥ 0 (0 = none)"),
        (config.prompt.value_hints >= 0, "prompt.value_hints", "must be ≥ 0 (0 = none)"),
        (config.prompt.budget_tokens >= 0, "prompt.budget_tokens",
         "must be ≥ 0 (tokens the database content may add to a prompt)"),
        (0.0 <= s.min_score <= 1.0, "select.min_score", "must be in [0, 1]"),
        (2 <= config.no_gold.candidates <= MAX_CANDIDATES, "no_gold.candidates",
         f"must be between 2 and {MAX_CANDIDATES}: agreement needs more than one answer"),
        (2 <= config.no_gold.min_agree <= config.no_gold.candidates, "no_gold.min_agree",
         f"must be between 2 and no_gold.candidates ({config.no_gold.candidates})"),
        (0.0 <= s.valid_fraction < 1.0, "select.valid_fraction", "must be in [0, 1)"),
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
    in_process = t.spec.strip().partition(":")[0] in ("builtin", "mlx")
    checks.append((not (t.base_url and in_process), "teacher.base_url",
                   f"the {t.spec.partition(':')[0]} teacher runs in this process and has no "
                   f"server; drop it, or use an openai:MODEL or ollama:MODEL teacher"))
    unknown = [g for g in config.run.override_gates if g not in GATE_NAMES]
    checks.append((not unknown, "run.override_gates",
                   f"no gate named {', '.join(map(repr, unknown))}; gates: "
                   + ", ".join(GATE_NAMES)))
    gate = config.gates.teacher_eval
    for name in ("exec_pass_rate", "gold_match_rate", "judge_mean", "agreement_rate"):
        checks.append((0.0 <= getattr(gate, name) <= 1.0, f"gates.teacher_eval.{name}",
                       "must be in [0, 1]"))
    checks.append((gate.min_total >= 0, "gates.teacher_eval.min_total", "must be ≥ 0"))
    checks.append((_eval_split_ok(config.dataset.eval_split), "dataset.eval_split",
                   "must be a split name or by-database[:FRACTION[:SEED]] with 0 < FRACTION < 1"))
    for ok, where, what in checks:
        if not ok:
            origin = config.origins.get(where)
            required_by = config.origins.get(SET_BY.get(where, ""))
            if origin is None and required_by is not None and required_by.line is not None:
                origin = required_by._replace(field=where)  # the file line that needs it
            raise _fail(what, origin or Origin(path, None, where))
    return config


BY_DATABASE = "by-database"
DEFAULT_FRACTION = 0.2


def parse_eval_split(spec: str) -> tuple[float, int] | None:
    """(fraction, seed) for a `by-database[:FRACTION[:SEED]]` eval split, None for a plain
    split name; ValueError (with what is wrong) for a malformed one."""
    name, _, rest = spec.partition(":")
    if name != BY_DATABASE:
        return None
    fraction, _, seed = rest.partition(":")
    try:
        value = float(fraction) if fraction else DEFAULT_FRACTION
        number = int(seed) if seed else 0
    except ValueError:
        raise ValueError(f"{spec!r}: expected {BY_DATABASE}[:FRACTION[:SEED]], e.g. "
                         f"{BY_DATABASE}:0.2:0") from None
    if not 0 < value < 1:
        raise ValueError(f"{spec!r}: the fraction held out must be between 0 and 1")
    return value, number


def _eval_split_ok(spec: str) -> bool:
    try:
        parse_eval_split(spec)
    except ValueError:
        return False
    return True


def load_config(path: str | Path | None = None, *, env: typing.Mapping[str, str] | None = None,
                must_exist: bool = False) -> Config:
    """Defaults, then the TOML file (if present), then FASTDISTILL_* env overrides."""
    config = Config()
    named_by_env = not path and bool(os.environ.get("FASTDISTILL_CONFIG"))
    file = Path(path) if path else default_config_path()
    named = Origin(str(file), None, "FASTDISTILL_CONFIG" if named_by_env else "--config")
    if file.is_dir():
        raise _fail("is a directory, not a config file", named,
                    hint="point it at a TOML file, e.g. one written by `fastdistill init`")
    if file.exists():
        text = read_config_text(file, named)
        _apply(config, config, parse_toml(text, file), "", str(file), key_lines(text))
    elif must_exist or path or named_by_env:
        raise _fail("config file not found", named, hint="create one with `fastdistill init`")
    apply_env(config, os.environ if env is None else env)
    return validate(config, str(file) if file.exists() else None)


ENVIRONMENT = "environment"


def apply_env(config: Config, env: typing.Mapping[str, str]) -> None:
    """FASTDISTILL_<SECTION>_<KEY>=value, e.g. FASTDISTILL_TEACHER_CONCURRENCY=64 or
    FASTDISTILL_GATES_TEACHER_EVAL_MIN_TOTAL=20.

    FASTDISTILL_TEACHER_EVAL_GATE=0 overrides the teacher-eval gate (DESIGN §4); =1 keeps it.
    """
    gate_env = env.get("FASTDISTILL_TEACHER_EVAL_GATE")
    if gate_env is not None:
        value = gate_env.strip().lower()
        if value not in ("0", "false", "off", "no", "1", "true", "on", "yes", ""):
            raise _fail(f"expected 0 (override the gate) or 1 (keep it), got {gate_env!r}",
                        Origin(ENVIRONMENT, None, "FASTDISTILL_TEACHER_EVAL_GATE"))
        if value in ("0", "false", "off", "no") and "teacher_eval" not in config.run.override_gates:
            config.run.override_gates.append("teacher_eval")
    for key, value in env.items():
        if not key.startswith("FASTDISTILL_") or key in ("FASTDISTILL_CONFIG",
                                                         "FASTDISTILL_TEACHER_EVAL_GATE"):
            continue
        rest = key[len("FASTDISTILL_"):].lower()
        target, name, dotted = _env_target(config, rest)
        if target is None:
            continue  # other FASTDISTILL_* variables are not config (e.g. test hooks)
        origin = Origin(ENVIRONMENT, None, key)
        fields = {f.name for f in dataclasses.fields(target)
                  if not dataclasses.is_dataclass(f.type)}
        if name not in fields:
            raise _fail(f"unknown setting {key}", origin,
                        hint=f"unset it; keys here: {', '.join(sorted(fields))}")
        typ = typing.get_type_hints(type(target))[name]
        if typing.get_origin(typ) is list:
            value = [v for v in value.split(",") if v]
        setattr(target, name, _coerce(value, typ, origin))
        config.origins[f"{dotted}{name}"] = origin


def _env_target(config: Config, rest: str) -> tuple[Any, str, str]:
    """(the dataclass holding the setting, its name, the dotted prefix) for a lowercased
    variable name without FASTDISTILL_; (None, "", "") when it names no section."""
    obj: Any = config
    dotted = ""
    while True:
        sub = next((f.name for f in dataclasses.fields(obj)
                    if dataclasses.is_dataclass(getattr(obj, f.name))
                    and rest.startswith(f.name + "_")), None)
        if sub is None:
            return (obj, rest, dotted) if obj is not config else (None, "", "")
        obj, rest, dotted = getattr(obj, sub), rest[len(sub) + 1:], f"{dotted}{sub}."


def read_config_text(file: Path, named: Origin) -> str:
    """A config file's text; errors name the file (and the line of a bad byte)."""
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise _fail(f"cannot read: {exc.strerror}", named) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError("not valid UTF-8", path=str(file),
                          line=raw[: exc.start].count(b"\n") + 1,
                          hint="save the file as UTF-8") from None


def parse_toml(text: str, file: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        at = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        raise ConfigError(f"not valid TOML: {exc}", path=str(file),
                          line=int(at.group(1)) if at else None,
                          hint="fix the syntax or run `fastdistill init --force`") from None


def write_toml(path: Path, data: dict[str, Any]) -> None:
    """Write a config file atomically (a crash leaves the old file or the new, never half)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(tomli_w.dumps(data), encoding="utf-8")
    os.replace(tmp, path)


def write_default_config(path: Path, *, force: bool = False) -> Path:
    """Write the default config atomically; refuse to overwrite unless forced."""
    if path.exists() and not force:
        raise ConfigError("config file already exists", path=str(path),
                          hint="pass --force to overwrite it")
    write_toml(path, Config().to_dict())
    return path
