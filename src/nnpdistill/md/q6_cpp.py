"""The C++ q6 order parameter (``q6_kernel.cpp``): the q6 bond-order correlation of :mod:`.order_q6` with
its analytic derivatives in four loops over the half list, instead of torch's eager operations and
autograd (85 % of a q6 MOMT step with the C++ EAM kernel). Built at first use like the EAM kernel
(:mod:`nnpdistill.cpp_build`); float64 CPU tensors only. Which of the two codes runs follows the EAM
kernel choice (``eam_kernel`` in the config, ``$NNPDISTILL_EAM_KERNEL``): ``torch`` keeps both eager.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..cpp_build import CppKernel

SOURCE = Path(__file__).with_name("q6_kernel.cpp")
KERNEL = CppKernel("q6", SOURCE, "q6 order-parameter kernel", "Use eam_kernel: torch (the eager torch "
                   "code, same physics) to run without it")


def load_kernel():
    """The compiled q6 extension (built once per machine and source); KernelBuildError on failure."""
    return KERNEL.load()


def q6_cpp(positions: torch.Tensor, cells: torch.Tensor, pairs, shifts_t: torch.Tensor, r_on: float,
           r_off: float, coef: torch.Tensor, gradient: bool, solid: tuple[float, float] | None = None):
    """O (B,), dO/dr (B, N, 3) and the unsymmetrised dO/dε (B, 3, 3) (None, None without ``gradient``) over
    the half list ``pairs`` with image shifts ``shifts_t`` (B, 3, P). ``solid`` (centre, width): O counts
    solid-like atoms through a smooth step of each atom's score (order q6_solid), None: sums the scores."""
    B, N, _ = positions.shape
    O, g, e = load_kernel().q6_forward(
        positions.detach().reshape(B * N, 3).contiguous(), cells.detach().contiguous(), pairs.i.contiguous(),
        pairs.j.contiguous(), shifts_t.contiguous(), coef, N, float(r_on), float(r_off), bool(gradient),
        *((float(solid[0]), float(solid[1])) if solid is not None else (0.0, 0.0)))
    if not gradient:
        return O, None, None
    return O, g.reshape(B, N, 3), e
