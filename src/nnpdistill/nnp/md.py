"""The NNP ensemble as a force provider of the project's batched MD (the integrators that run on EAM).

:class:`EnsembleEvaluator` is called like the EAM engine's evaluator, ``(positions (B,N,3), cells
(B,3,3)) -> result``, so :func:`nnpdistill.md.setup.run_plain`, :class:`~nnpdistill.md.integrators.
LangevinNPT` and :class:`~nnpdistill.md.momt.MOMTForce` run on it unchanged. Forces and stress are
those of the ensemble mean; ``uncertainty`` (B, N) is the per-atom spread across members (std, ddof 1),
recorded on every saved frame by :func:`nnpdistill.md.run.run_sampling`-style drivers.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .batch import evaluate
from .builder import NNPModel


@dataclass
class EnsembleResult:
    """energy (B,) eV, energies (B,N) eV, forces (B,N,3) eV/Å, stress (B,3,3) eV/Å³ (ASE sign), virial
    (B,3,3) eV (= −V·stress), uncertainty (B,N) eV (atomic, across members)."""

    energy: torch.Tensor
    energies: torch.Tensor
    forces: torch.Tensor
    stress: torch.Tensor
    virial: torch.Tensor
    uncertainty: torch.Tensor


class EnsembleEvaluator:
    """``(positions (B,N,3) Å, cells (B,3,3) Å) -> EnsembleResult`` for an NNP ensemble, in float64."""

    def __init__(self, model: NNPModel, device: str | torch.device = "cpu"):
        import copy

        # evaluate() runs where the model is; positions and results stay numpy/CPU tensors
        self.model = copy.deepcopy(model).to(torch.float64).to(device).eval()
        self.z = int(model.atomic_number)

    def __call__(self, positions: torch.Tensor, cells: torch.Tensor) -> EnsembleResult:
        pos = positions.detach().numpy()
        cel = cells.detach().numpy()
        numbers = torch.full(pos.shape[:2], self.z, dtype=torch.long).numpy()
        r = evaluate(self.model, numbers, pos, cel, forces=True, stress=True, batch_frames=pos.shape[0])
        stress = torch.from_numpy(r.stress)
        vol = torch.linalg.det(cells.detach()).abs()[:, None, None]
        return EnsembleResult(torch.from_numpy(r.energy), torch.from_numpy(r.energies),
                              torch.from_numpy(r.forces), stress, -vol * stress,
                              torch.from_numpy(r.atomic_uncertainty))


def potential_from_nnp(members: list, lattice_A: float, device: str | None = None):
    """A :class:`nnpdistill.md.run.Potential` for an ensemble's member files: the sampling driver (NPT,
    MOMT) then runs on the NNP. ``lattice_A``: the FCC lattice constant of the start. ``device``: where
    the networks run (the CPU by default; :mod:`nnpdistill.device`)."""
    import hashlib

    from ase.data import atomic_masses

    from ..device import resolve_device
    from ..io_utils import sha256_file
    from ..md.run import Potential
    from .predict import load_ensemble

    model = load_ensemble(list(members))
    z = int(model.atomic_number)
    digest = hashlib.sha256("".join(sha256_file(p) for p in members).encode()).hexdigest()
    dev = str(resolve_device(device or "cpu"))
    return Potential(lambda: EnsembleEvaluator(model, dev), model.settings.element, z,
                     float(atomic_masses[z]), float(lattice_A), f"nnp ensemble ({len(members)} files)",
                     digest)
