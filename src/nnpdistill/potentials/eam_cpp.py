"""The fused C++ EAM kernel (``eam_kernel.cpp``): one loop over the half list per pass, as LAMMPS's
``pair_eam``, instead of some forty eager torch operations over the pair arrays.

It is compiled at first use (:mod:`nnpdistill.cpp_build`: a C++ compiler, the Python headers and ninja)
into ``TORCH_EXTENSIONS_DIR`` (default ``~/.cache/torch_extensions``); later processes load the built
library (about 0.1 s). The flags are fixed (``-O3``, baseline x86-64-v2 instructions, no fused
multiply-add contraction), so the same bytes come out on every x86-64 CPU kind. CPU tensors only; the
evaluator keeps its torch path for CUDA.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch

from ..cpp_build import CppKernel, KernelBuildError
from ..errors import NNPDistillError

log = logging.getLogger("nnpdistill.eam")

SOURCE = Path(__file__).with_name("eam_kernel.cpp")
KERNELS = ("auto", "torch", "cpp")
# The evaluators' kernel when none is asked for: this variable (the workflow sets it in every job from the
# config's eam_kernel), else auto.
KERNEL_VARIABLE = "NNPDISTILL_EAM_KERNEL"
# the extension, built at first use (KERNEL.load())
KERNEL = CppKernel("eam", SOURCE, "EAM kernel", "Use kernel='torch' (the eager torch evaluator, same "
                   "physics) to run without it")


def load_kernel():
    """The compiled extension module (built once per machine and source); KernelBuildError on failure."""
    return KERNEL.load()


def default_kernel() -> str:
    """The EAM kernel an evaluator takes when none is given: ``$NNPDISTILL_EAM_KERNEL`` or ``auto``."""
    return os.environ.get(KERNEL_VARIABLE) or "auto"


def resolve_kernel(kernel: str, device, loader=None, what: str = "EAM") -> str:
    """``torch`` or ``cpp`` for ``kernel`` in :data:`KERNELS` on ``device``: ``auto`` takes ``cpp`` on the
    CPU when it builds (else ``torch``, with a warning naming why) and ``torch`` on other devices.
    ``loader``: the C++ module's loader (default the EAM kernel's; the q6 order parameter passes its own,
    named ``what`` in the messages)."""
    loader = loader or load_kernel
    if kernel not in KERNELS:
        raise NNPDistillError(f"{what} kernel must be one of {KERNELS}, got {kernel!r}")
    if kernel == "torch":
        return "torch"
    cpu = str(device).startswith("cpu")
    if kernel == "cpp":
        if not cpu:
            raise NNPDistillError(f"the C++ {what} kernel runs on the CPU only, not on {device}; use "
                                  "kernel='torch'")
        loader()
        return "cpp"
    if not cpu:
        return "torch"
    try:
        loader()
    except KernelBuildError as exc:
        if what not in _WARNED:
            log.warning("%s: falling back to the torch code", exc)
            _WARNED.add(what)
        return "torch"
    return "cpp"


_WARNED: set[str] = set()


def kernel_tables(eam, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """CPU tables of the kernel for an :class:`~.eam.EAM`: the value coefficients c3..c6 of rho and z2
    ``(nr + 1, 4)`` and F ``(nrho + 1, 7)``, 1-based rows with row 0 zeros (the kernel applies LAMMPS's
    index clamps); cached on the EAM."""
    key = ("kernel", dtype)
    if key not in eam._tables:
        t = eam.tables("cpu", dtype)
        eam._tables[key] = (torch.stack([t[f"rho{k}"] for k in (3, 4, 5, 6)], 1).contiguous(),
                            torch.stack([t[f"z{k}"] for k in (3, 4, 5, 6)], 1).contiguous(),
                            t["F"].contiguous())
    return eam._tables[key]


def evaluate(eam, x: torch.Tensor, h: torch.Tensor, pairs, shifts_t: torch.Tensor, per_atom: bool):
    """Energy ``(B,)``, per-atom energies ``(B, N)`` (zeros unless ``per_atom``), forces ``(B, N, 3)`` and
    the pair sum of f_pair d (x) d ``(B, 3, 3)`` (stress times volume, ASE's sign) of ``x (B, N, 3)`` in
    cells ``h`` over the half list ``pairs`` with image shifts ``shifts_t (B, 3, P)``."""
    B, N, _ = x.shape
    if x.device.type != "cpu":
        raise NNPDistillError(f"the C++ EAM kernel runs on the CPU only, not on {x.device}")
    rt, zt, Ft = kernel_tables(eam, x.dtype)
    energy, ea, f, s = load_kernel().eam_forward(
        x.reshape(B * N, 3).contiguous(), h.contiguous(), pairs.i.contiguous(), pairs.j.contiguous(),
        shifts_t.contiguous(), [rt, zt, Ft], eam.nr, eam.nrho, eam.dr, eam.drho, eam.cutoff_A, eam.rhomax,
        per_atom)
    energies = ea.reshape(B, N) if per_atom else torch.zeros((B, N), dtype=x.dtype)
    return energy, energies, f.reshape(B, N, 3), s


def build_pairs_cpp(positions: torch.Tensor, cells: torch.Tensor, cutoff: float
                    ) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """:func:`nnpdistill.neighbors.build_pairs`'s contract by the C++ brute-force builder (CPU):
    one ``(i, j, shifts)`` per replica, sorted by ``i``."""
    x = positions.detach().to(torch.float64).cpu()
    h = cells.detach().to(torch.float64).cpu()
    i, j, s, counts = load_kernel().build_pairs(x, h, float(cutoff))
    c = counts.tolist()
    return list(zip(torch.split(i, c), torch.split(j, c), torch.split(s, c), strict=True))
