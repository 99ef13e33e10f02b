"""Typed configuration: dataclasses filled from YAML mappings, unknown keys refused."""
from __future__ import annotations

import dataclasses
from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml


def build_dataclass(cls, data: dict, where: str):
    """``cls(**data)`` with tuples for lists, refusing keys ``cls`` does not have."""
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a mapping, got {type(data).__name__}")
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; allowed: {sorted(names)}")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def read_yaml(path: Path | str) -> dict[str, Any]:
    """The mapping in a YAML file (empty file: {}); ``ValueError`` naming the file otherwise."""
    path = Path(path)
    try:
        with open(path) as handle:
            data = yaml.safe_load(handle) or {}
    except yaml.YAMLError as error:
        raise ValueError(f"{path}: not valid YAML ({error})") from error
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top, got {type(data).__name__}")
    return data


def load_sections(path: Path | str, sections: dict[str, type], overrides: dict[str, dict] | None = None
                  ) -> dict[str, Any]:
    """A YAML file of named sections, each built as its dataclass (``sections``: name ->
    class), with per-section ``overrides`` merged in; unknown sections or keys are refused,
    naming the file."""
    data = read_yaml(path)
    for section, values in (overrides or {}).items():
        data[section] = {**(data.get(section) or {}), **values}
    unknown = sorted(set(data) - set(sections))
    if unknown:
        raise ValueError(f"{path}: unknown sections {unknown}; allowed: {sorted(sections)}")
    return {name: build_dataclass(kind, data.get(name) or {}, f"{path}: {name}") for name, kind in sections.items()}


def plain(value: Any) -> Any:
    """Dataclasses, tuples and dicts as plain dicts and lists (for YAML and JSON)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value
