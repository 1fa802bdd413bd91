"""Check that each workflow rule asks for at least the resources it needs (before any job starts).

A cluster kills a job that outgrows its request (``--mem``, ``--time``) only after it has waited in
the queue and run for a while; a request that is simply too small for a rule is better caught when
the workflow is parsed, with the rule and the resource named. Each rule declares ``threads``,
``resources: runtime=<minutes>, mem_mb=<MB>`` in its rule file; a profile or ``--set-resources`` may
change them. The campaign configuration holds the smallest values each rule is known to need::

    resource_minimums:
      default: {mem_mb: 600, runtime: 2}            # every rule that runs code
      compute_eam_crystals: {mem_mb: 800, runtime: 5}

and :func:`check_workflow_resources` compares the *effective* requests (after profile overrides)
with them. Units: ``mem_mb`` in MB (10⁶ bytes, Snakemake's convention), ``runtime`` in minutes,
``threads`` a count. Values may be numbers or human-readable strings ("4GB", "1h30m", "2:00:00").

No Snakemake import here: :func:`rule_resources` reads Snakemake's rule objects by duck typing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError

#: Resources that are checked, with their unit (for messages).
CHECKED: dict[str, str] = {"mem_mb": "MB", "runtime": "min", "threads": "threads"}
DEFAULT_KEY = "default"

_MEM_UNITS_MB = {
    "": 1.0, "b": 1e-6, "k": 1e-3, "kb": 1e-3, "m": 1.0, "mb": 1.0, "g": 1e3, "gb": 1e3, "t": 1e6, "tb": 1e6,
    "kib": 1024 / 1e6, "mib": 1024**2 / 1e6, "gib": 1024**3 / 1e6, "tib": 1024**4 / 1e6,
}
_TIME_UNITS_MIN = {"s": 1 / 60, "sec": 1 / 60, "m": 1.0, "min": 1.0, "h": 60.0, "hr": 60.0, "d": 1440.0}


def parse_mem_mb(value: Any, what: str = "mem_mb") -> float:
    """Memory in MB from a number (already MB) or a string such as "4GB", "500M", "2GiB"."""
    if isinstance(value, bool):
        raise ConfigError(f"{what}: expected a memory size, got {value!r}")
    if isinstance(value, int | float):
        number = float(value)
    else:
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?\d+)?)\s*([A-Za-z]*)\s*", str(value))
        unit = match.group(2).lower() if match else None
        if not match or unit not in _MEM_UNITS_MB:
            raise ConfigError(f"{what}: cannot read memory size {value!r} (use MB or e.g. '4GB')")
        number = float(match.group(1)) * _MEM_UNITS_MB[unit]
    if not math.isfinite(number) or number < 0:
        raise ConfigError(f"{what}: memory must be a non-negative number of MB, got {value!r}")
    return number


def parse_runtime_min(value: Any, what: str = "runtime") -> float:
    """Wall time in minutes from a number (already minutes), "90m", "1h30m", "2d", or "[D-]HH:MM[:SS]"."""
    if isinstance(value, bool):
        raise ConfigError(f"{what}: expected a wall time, got {value!r}")
    if isinstance(value, int | float):
        minutes = float(value)
    else:
        text = str(value).strip().lower()
        clock = re.fullmatch(r"(?:(\d+)-)?(\d+):(\d{1,2})(?::(\d{1,2}))?", text)
        if clock:  # SLURM style: D-HH:MM:SS or HH:MM[:SS]
            days, hours, mins, secs = (int(g) if g else 0 for g in clock.groups())
            minutes = days * 1440 + hours * 60 + mins + secs / 60
        else:
            parts = re.findall(r"([0-9]*\.?[0-9]+)\s*([a-z]*)", text)
            if not parts or re.sub(r"[0-9.\s]|[a-z]", "", text) or any(u not in _TIME_UNITS_MIN and u != ""
                                                                         for _, u in parts):
                raise ConfigError(f"{what}: cannot read wall time {value!r} (use minutes or e.g. '1h30m')")
            minutes = sum(float(n) * (_TIME_UNITS_MIN[u] if u else 1.0) for n, u in parts)
    if not math.isfinite(minutes) or minutes < 0:
        raise ConfigError(f"{what}: wall time must be a non-negative number of minutes, got {value!r}")
    return minutes


_PARSERS = {"mem_mb": parse_mem_mb, "runtime": parse_runtime_min}


def _parse(resource: str, value: Any, what: str) -> float:
    if resource in _PARSERS:
        return _PARSERS[resource](value, what)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(f"{what}: expected a non-negative number, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class ResourceShortfall:
    """One rule whose request for one resource is below its minimum (or missing)."""

    rule: str
    resource: str
    declared: float | None  # None: the rule requests nothing
    minimum: float

    def __str__(self) -> str:
        unit = CHECKED.get(self.resource, "")
        asked = "nothing" if self.declared is None else f"{self.declared:g} {unit}"
        return f"rule {self.rule}: {self.resource} = {asked}, needs at least {self.minimum:g} {unit}"


def validate_minimums(
    minimums: Mapping[str, Any], rules: Iterable[str] | None = None
) -> dict[str, dict[str, float]]:
    """Parse the ``resource_minimums`` mapping; unknown rules (typos) and resources are errors."""
    if not isinstance(minimums, Mapping):
        raise ConfigError(f"resource_minimums: expected a mapping of rule -> resources, got {minimums!r}")
    known = None if rules is None else set(rules)
    parsed: dict[str, dict[str, float]] = {}
    for rule, values in minimums.items():
        if known is not None and rule != DEFAULT_KEY and rule not in known:
            raise ConfigError(
                f"resource_minimums: no rule named {rule!r} in the workflow "
                f"(rules: {', '.join(sorted(known))})"
            )
        if not isinstance(values, Mapping):
            raise ConfigError(f"resource_minimums.{rule}: expected a mapping, got {values!r}")
        parsed[rule] = {}
        for resource, value in values.items():
            if resource not in CHECKED:
                raise ConfigError(
                    f"resource_minimums.{rule}.{resource}: unknown resource (checked: {', '.join(CHECKED)})"
                )
            parsed[rule][resource] = _parse(resource, value, f"resource_minimums.{rule}.{resource}")
    return parsed


def find_shortfalls(
    declared: Mapping[str, Mapping[str, Any]], minimums: Mapping[str, Any]
) -> list[ResourceShortfall]:
    """Compare each rule's requests with its minimums (its own entry over ``default``).

    ``declared``: rule -> {resource: value or None}; a value of None (or a missing key) means the rule
    requests nothing, which is a shortfall when a minimum applies. Requests that Snakemake computes
    per job (functions of the input) are not known here: leave them out of ``declared``.
    """
    parsed = validate_minimums(minimums, declared.keys())
    default = parsed.get(DEFAULT_KEY, {})
    shortfalls = []
    for rule in sorted(declared):
        wanted = {**default, **parsed.get(rule, {})}
        for resource, minimum in wanted.items():
            if resource not in declared[rule]:
                continue  # not known statically (computed per job)
            raw = declared[rule][resource]
            value = None if raw is None else _parse(resource, raw, f"rule {rule}: {resource}")
            if value is None or value < minimum:
                shortfalls.append(ResourceShortfall(rule, resource, value, minimum))
    return shortfalls


def check_resources(declared: Mapping[str, Mapping[str, Any]], minimums: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigError` naming every rule/resource below its minimum."""
    shortfalls = find_shortfalls(declared, minimums)
    if shortfalls:
        lines = "\n  ".join(str(s) for s in shortfalls)
        raise ConfigError(
            f"resource requests too small for {len(shortfalls)} rule resource(s):\n  {lines}\n"
            "Raise them in the profile (set-resources: <rule>: {mem_mb: ..., runtime: ...}), on the command "
            "line (--set-resources <rule>:mem_mb=...), or in the rule; the minimums are the config's "
            "resource_minimums."
        )


# Snakemake's names for the checked resources, in order of preference (threads are "_cores"; memory is
# normalised to "mem_mb" in Snakemake 9 and held as "mem" in MB by some other versions)
_SNAKEMAKE_NAMES = {"mem_mb": ("mem_mb", "mem"), "runtime": ("runtime",), "threads": ("_cores",)}


def rule_resources(rules: Iterable[Any]) -> dict[str, dict[str, Any]]:
    """Effective static requests of Snakemake rule objects (e.g. ``workflow.rules``), by duck typing.

    Rules without code (``rule all``) are skipped. A resource given as a function (evaluated per job) or
    as an expression Snakemake evaluates later is left out; one that is not set at all maps to None.
    """
    out: dict[str, dict[str, Any]] = {}
    for rule in rules:
        if getattr(rule, "norun", False):
            continue
        resources = rule.resources
        entry: dict[str, Any] = {}
        for name, internals in _SNAKEMAKE_NAMES.items():
            res = next((resources[key] for key in internals if key in resources), None)
            if res is None or getattr(res, "raw", 0) is None and not res.is_evaluable():
                entry[name] = None
                continue
            if hasattr(res, "is_evaluable") and res.is_evaluable():
                raw = getattr(res, "raw", None)
                try:  # a constant given on the command line / in a profile arrives as an expression string
                    value = float(raw) if _is_number(raw) else raw
                    entry[name] = _parse(name, value, f"rule {rule.name}: {name}")
                except (ConfigError, TypeError):
                    continue  # a real per-job function: not checked here
            else:
                entry[name] = getattr(res, "value", res)
        out[rule.name] = entry
    return out


def _is_number(text: Any) -> bool:
    try:
        float(text)
    except (TypeError, ValueError):
        return False
    return True


def check_workflow_resources(rules: Iterable[Any], minimums: Mapping[str, Any]) -> None:
    """:func:`check_resources` for Snakemake rule objects: call at the end of the Snakefile."""
    check_resources(rule_resources(rules), minimums)
