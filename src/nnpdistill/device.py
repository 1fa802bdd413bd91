"""Where a stage's tensors live: one ``device`` setting per stage, CPU by default.

``sample`` (EAM MD, plain NPT and MOMT), ``train`` (ensemble members), ``predict`` (pool scoring, the
force committee) and ``validate`` (the NNP's MD) each take ``cpu`` (the default), ``cuda``, ``cuda:K``
or ``auto`` (the first GPU where torch sees one, else the CPU, said in the log). Asking for a GPU on a
machine without one is an error that names the stage, never a silent fallback: a campaign that was
meant to run on a GPU and quietly ran on a CPU would look like a slow GPU.

On the CPU the results are the bytes of a run without the setting (nothing moves). On a GPU the same
seeds draw the same random numbers (every generator stays on the CPU and its draws are copied over),
so a GPU run differs from a CPU run only by floating-point summation order: float64 energies, forces
and stress agree to about 1e-10 (``tests/test_device.py``, skipped with its reason where no GPU is
present). The C++ EAM and q6 kernels are CPU code: on a GPU the eager torch kernels run.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re

import torch

from .errors import ConfigError

log = logging.getLogger("nnpdistill.device")

STAGES = ("sample", "train", "predict", "validate")
DEVICE_PATTERN = r"^(cpu|auto|cuda(:[0-9]+)?)$"


def resolve_device(spec: str | torch.device | None = "cpu", stage: str = "") -> torch.device:
    """The torch device for a ``device`` setting: ``cpu``, ``cuda``, ``cuda:K`` or ``auto``."""
    if isinstance(spec, torch.device):
        spec = str(spec)
    spec = "cpu" if spec is None else str(spec).strip().lower()
    where = f" for stage {stage!r}" if stage else ""
    if not re.match(DEVICE_PATTERN, spec):
        raise ConfigError(f"device {spec!r}{where} is not one of cpu, cuda, cuda:K (a GPU index) or auto")
    if spec == "cpu":
        return torch.device("cpu")
    available = torch.cuda.is_available()
    if spec == "auto":
        dev = torch.device("cuda:0" if available else "cpu")
        log.info("device auto%s: %s", where, _describe(dev))
        return dev
    if not available:
        raise ConfigError(
            f"device {spec!r}{where} asks for a GPU, but torch sees none (torch.cuda.is_available() is "
            f"False; torch {torch.__version__}, built for CUDA {torch.version.cuda}). Use device cpu or "
            f"auto, or run the job on a GPU node with a CUDA build of torch.")
    dev = torch.device(spec if ":" in spec else "cuda:0")
    if dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ConfigError(f"device {spec!r}{where}: torch sees {torch.cuda.device_count()} GPU(s), "
                          f"indices 0..{torch.cuda.device_count() - 1}")
    log.info("device%s: %s", where, _describe(dev))
    return dev


def _describe(dev: torch.device) -> str:
    if dev.type == "cuda":
        return f"{dev} ({torch.cuda.get_device_name(dev)})"
    return "cpu"


def model_device(module: torch.nn.Module) -> torch.device:
    """The device of a module's first parameter or buffer (the CPU for one that has none)."""
    for t in module.parameters():
        return t.device
    for t in module.buffers():
        return t.device
    return torch.device("cpu")


def environment_variable(stage: str) -> str:
    """The variable that carries a stage's setting into a workflow job (``NNPDISTILL_DEVICE_TRAIN``...)."""
    if stage not in STAGES:
        raise ConfigError(f"unknown device stage {stage!r}; stages: {', '.join(STAGES)}")
    return f"NNPDISTILL_DEVICE_{stage.upper()}"


def device_for(stage: str, device: str | torch.device | None = None) -> torch.device:
    """``device`` if given, else the stage's setting from the environment (the workflow's ``device``
    block, passed to every job as :func:`environment_variable`), else the CPU."""
    if device is None:
        device = os.environ.get(environment_variable(stage)) or "cpu"
    return resolve_device(device, stage)


def stage_device(devices: dict | str | None, stage: str) -> str:
    """A stage's setting from the config's ``device`` block (a mapping per stage, or one string)."""
    if stage not in STAGES:
        raise ConfigError(f"unknown device stage {stage!r}; stages: {', '.join(STAGES)}")
    if devices is None:
        return "cpu"
    if isinstance(devices, str):
        return devices
    return str(devices.get(stage, "cpu"))


def _to(value, dev: torch.device):
    if isinstance(value, torch.Tensor):
        return value.to(dev)
    if isinstance(value, tuple):
        return tuple(_to(v, dev) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(value, **{f.name: _to(getattr(value, f.name), dev)
                                             for f in dataclasses.fields(value) if f.init})
    return value


class OnDevice:
    """A force or order-parameter callable ``(positions, cells, ...) -> result`` evaluated on ``device``:
    positions and cells go there, and every tensor of the result (plain, in a tuple or in a dataclass such
    as :class:`~nnpdistill.potentials.eam.EAMResult`) comes back to the caller's device. The MD state,
    the integrator, its random numbers and the MOMT bias stay where they are (the CPU), so a run on a GPU
    draws the same numbers as on the CPU and only the expensive evaluation moves (16 walkers of 108
    atoms: 41 kB each way per step). Other attributes (``n_builds``, ``reset``...) are the wrapped
    object's."""

    def __init__(self, fn, device: torch.device | str):
        self.fn = fn
        self.device = torch.device(device)

    def __call__(self, positions: torch.Tensor, cells: torch.Tensor, *args, **kwargs):
        out = self.fn(positions.to(self.device), cells.to(self.device), *args, **kwargs)
        return _to(out, positions.device)

    def __getattr__(self, name):
        if "fn" not in self.__dict__:  # copying or unpickling, before __init__ ran
            raise AttributeError(name)
        return getattr(self.__dict__["fn"], name)


def on_device(fn, device: torch.device | str | None):
    """``fn`` itself on the CPU (or with no device): the bytes of a run without the setting; else
    :class:`OnDevice`."""
    if device is None or torch.device(device).type == "cpu":
        return fn
    return OnDevice(fn, device)
