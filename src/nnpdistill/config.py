"""Configuration helpers shared by the workflow and the CLI (no Snakemake here)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``base`` updated recursively by ``override`` (neither is modified)."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def overrides_for(overrides: Mapping[str, Any], symbol: str) -> dict[str, Any]:
    """The ``element_overrides`` that apply to ``symbol``: every key that is not an element symbol
    applies to all elements; a key that is a symbol (``Cu: {sample: {n_frames: 4000}}``) applies to
    that element only, laid over the shared ones."""
    shared = {k: v for k, v in overrides.items() if not _is_symbol(k)}
    own = overrides.get(symbol) or {}
    if not isinstance(own, Mapping):
        raise ConfigError(f"element_overrides.{symbol} must be a mapping, got {own!r}")
    return deep_merge(shared, own)


def _is_symbol(key: str) -> bool:
    """An element symbol: one capital letter (V, W), or one then a small one (Ni)."""
    return len(key) in (1, 2) and key[0].isupper() and (len(key) == 1 or key[1].islower())


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping with a clear error for a missing or malformed file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file {path} must hold a mapping at the top level, got {type(data).__name__}"
        )
    return data


def element_config_path(config_dir: str | Path, symbol: str) -> Path:
    """Where the settings of ``symbol`` live: ``<config_dir>/<symbol lower case>.yaml``."""
    return Path(config_dir) / f"{symbol.lower()}.yaml"


def stage_seed(master_seed: int, *parts: str | int) -> int:
    """A reproducible 63-bit seed for one stage/job, derived from the campaign's master seed.

    Different ``parts`` (e.g. ``("train", "Ni", "momt", 3)``) give independent streams.
    """
    import hashlib

    text = "/".join([str(master_seed), *map(str, parts)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1
