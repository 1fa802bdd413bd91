"""The same bytes on every x86-64 CPU kind: pin the kernels torch, MKL and oneDNN choose.

torch picks its vectorised ATen kernels by the CPU's instruction set (``DEFAULT``, ``AVX2``,
``AVX512``), and so do MKL (matrix products) and oneDNN; reductions and matrix products then add in
another order, float32 training differs in about the sixth digit between an AVX2 and an AVX-512
machine, and the active-learning loop amplifies that into other selected frames. Pinning the choice
makes a job's bytes independent of the node it lands on:

=========== ======================= ===================== ====================
level       ``ATEN_CPU_CAPABILITY`` ``MKL_CBWR``          ``ONEDNN_MAX_CPU_ISA``
=========== ======================= ===================== ====================
``avx2``    ``avx2``                ``AVX2,STRICT``       ``AVX2``
``default`` ``default``             ``COMPATIBLE``        ``SSE41``
``native``  (not set: each library takes the best the CPU offers, results depend on the CPU kind)
=========== ======================= ===================== ====================

``avx2`` (x86-64-v3: Intel since 2013, AMD since 2015) is the default; ``default`` runs on any
x86-64 CPU at some cost in speed (``benchmarks/bench_cpu_kernels.py`` measures both). ATen reads its
variable once, at its first kernel call, so the variables must be in the environment before torch
runs anything: the workflow sets them for every job (Snakefile, also passed to SLURM jobs), the
``nnpdistill`` command sets them before it imports torch, and from Python call
:func:`pin_environment` before importing torch. :func:`check_pinned` (called by every job's set-up)
fails with a clear error when the pin did not take, e.g. on a CPU without AVX2. On other
architectures (aarch64) the pin is not applied and a job says so in its log.
"""

from __future__ import annotations

import os
import platform

from .errors import ConfigError

LEVELS = ("avx2", "default", "native")
DEFAULT_LEVEL = "avx2"
LEVEL_VARIABLE = "NNPDISTILL_CPU_KERNELS"  # the level a job runs under, for its set-up check

_ENV = {
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2,STRICT", "ONEDNN_MAX_CPU_ISA": "AVX2"},
    # MKL's strict mode exists for the AVX2 branch and above only
    "default": {"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "COMPATIBLE", "ONEDNN_MAX_CPU_ISA": "SSE41"},
    "native": {},
}


def is_x86_64() -> bool:
    return platform.machine().lower() in ("x86_64", "amd64")


def kernel_env(level: str = DEFAULT_LEVEL) -> dict[str, str]:
    """The environment variables that pin ``level`` (plus :data:`LEVEL_VARIABLE`); none off x86-64."""
    if level not in LEVELS:
        raise ConfigError(f"unknown cpu_kernels level {level!r}: choose one of {', '.join(LEVELS)}")
    env = dict(_ENV[level]) if is_x86_64() else {}
    env[LEVEL_VARIABLE] = level
    return env


def pin_environment(level: str = DEFAULT_LEVEL, environ: dict | None = None) -> dict[str, str]:
    """Set the pin's variables in ``environ`` (``os.environ`` by default) and return them.

    Call before torch runs its first operation: ATen reads ``ATEN_CPU_CAPABILITY`` once.
    """
    environ = os.environ if environ is None else environ
    env = kernel_env(level)
    environ.update(env)
    return env


def check_pinned(level: str | None = None) -> str:
    """The ATen capability torch runs with; a :class:`ConfigError` if it differs from the pinned level.

    ``level`` defaults to the environment's :data:`LEVEL_VARIABLE` (unset: no pin, nothing to check).
    Returns a line for the job's log.
    """
    import torch

    capability = torch.backends.cpu.get_cpu_capability()
    level = os.environ.get(LEVEL_VARIABLE) if level is None else level
    if not level or level == "native":
        return f"CPU kernels: {capability} (not pinned: results depend on the CPU kind)"
    if not is_x86_64():
        return f"CPU kernels: {capability} (pin {level!r} is for x86-64; not applied on {platform.machine()})"
    want = _ENV[level]["ATEN_CPU_CAPABILITY"].upper()
    if capability != want:
        raise ConfigError(
            f"CPU kernels pinned to {level!r} but torch runs its {capability} kernels: either torch ran "
            f"before ATEN_CPU_CAPABILITY={_ENV[level]['ATEN_CPU_CAPABILITY']} was set (set the pin in the "
            "environment before Python starts, or call nnpdistill.cpu_kernels.pin_environment before "
            f"importing torch), or this CPU lacks {want} (set cpu_kernels: default in the config for every "
            "job of the campaign, or run nnpdistill --cpu-kernels default)")
    mkl = os.environ.get("MKL_CBWR", "unset")
    onednn = os.environ.get("ONEDNN_MAX_CPU_ISA", "unset")
    return (f"CPU kernels: {capability} (pinned: cpu_kernels {level}; MKL_CBWR={mkl}, "
            f"ONEDNN_MAX_CPU_ISA={onednn})")
