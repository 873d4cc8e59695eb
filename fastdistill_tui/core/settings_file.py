"""The config file edited as a form: every setting as text, saved back with tomlkit.

Saving changes only the values edited, in place: the user's comments, order and layout stay,
and so does what the form does not show (keys and tables it does not know). It writes only
values that pass the same checks as loading (config.py), so a saved file always loads; an error
names the key, as loading would.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from pathlib import Path
from typing import Any

import tomlkit

from . import config as cfg
from .errors import ConfigError


def as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def current_values(path: Path) -> dict[str, str]:
    """The file's settings (defaults where it says nothing) as the form shows them; the
    environment is left out, since saving writes the file."""
    values = cfg.config_from_dict(read_raw(path), str(path)).to_dict()
    return {name: as_text(get_dotted(values, name)) for name in setting_types()}


def read_raw(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    return cfg.parse_toml(cfg.read_config_text(path, cfg.Origin(str(path), None, "")), path)


def save_settings(path: Path, values: dict[str, str]) -> cfg.Config:
    """Write these settings (dotted name → text) into the file at path, keeping the rest of it.
    Raises ConfigError naming the key of the first bad value; the file is then untouched."""
    merged = read_raw(path)
    hints = setting_types()
    for name, text in values.items():
        if name not in hints:
            raise ConfigError(f"unknown key '{name}'", path=str(path), field=name)
        typ = hints[name]
        value: Any = ([v.strip() for v in text.split(",") if v.strip()]
                      if typing.get_origin(typ) is list else text.strip())
        set_dotted(merged, name, value)
    config = cfg.validate(cfg.config_from_dict(_known_only(merged), str(path)), str(path))
    typed = config.to_dict()
    document = tomlkit.parse(path.read_text(encoding="utf-8")) if path.exists() else \
        tomlkit.document()
    for name in values:  # the values as their types, not as the text typed
        set_dotted(document, name, get_dotted(typed, name), table=tomlkit.table)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".toml.tmp")  # atomic, as config.write_toml
    tmp.write_text(tomlkit.dumps(document), encoding="utf-8")
    os.replace(tmp, path)
    return config


def setting_types() -> dict[str, Any]:
    """Every scalar setting's dotted name ("teacher.spec", …, in the dataclasses' order) and
    its type."""
    types: dict[str, Any] = {}

    def walk(obj: Any, prefix: str) -> None:
        hints = typing.get_type_hints(type(obj))
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if dataclasses.is_dataclass(value):
                walk(value, f"{prefix}{f.name}.")
            else:
                types[f"{prefix}{f.name}"] = hints[f.name]

    walk(cfg.Config(), "")
    return types


def _known_only(raw: dict[str, Any], obj: Any = None) -> dict[str, Any]:
    """The part of a raw file that the Config knows (unknown keys are kept in the file, not
    checked: a newer version's keys survive a save by this one)."""
    obj = cfg.Config() if obj is None else obj
    known = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in known:
            continue
        if dataclasses.is_dataclass(known[key]) and isinstance(value, dict):
            out[key] = _known_only(value, known[key])
        else:
            out[key] = value
    return out


def get_dotted(data: dict[str, Any], name: str) -> Any:
    for part in name.split("."):
        data = data[part]
    return data


def set_dotted(data: Any, name: str, value: Any, table: Any = dict) -> None:
    """data[a][b][c] = value for "a.b.c", making the tables on the way with `table()`."""
    *parents, last = name.split(".")
    for part in parents:
        if part not in data:
            data[part] = table()
        data = data[part]
    data[last] = value
