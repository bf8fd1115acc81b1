"""Configuration as data: orgsync_dagster/config/orgsync.yaml, or the file named by ORGSYNC_CONFIG."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import yaml

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "orgsync.yaml"


class ConfigError(ValueError):
    pass


@functools.lru_cache(maxsize=8)
def _load(path: str) -> dict:
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"configuration file {p} does not exist (ORGSYNC_CONFIG)")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"configuration file {p} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"configuration file {p} must hold a mapping of sections")
    return data


def load_config(path: str | os.PathLike | None = None) -> dict:
    return _load(str(path or os.environ.get("ORGSYNC_CONFIG") or DEFAULT_CONFIG))


def section(name: str, path: str | os.PathLike | None = None) -> dict:
    value = load_config(path).get(name) or {}
    if not isinstance(value, dict):
        raise ConfigError(f"configuration section {name!r} must be a mapping")
    return value


def van_instances(path: str | os.PathLike | None = None) -> list[str]:
    instances = section("van", path).get("instances") or []
    if not isinstance(instances, list) or not all(isinstance(i, str) and i for i in instances):
        raise ConfigError("van.instances must be a list of instance names, e.g. [MI, WI]")
    return instances
