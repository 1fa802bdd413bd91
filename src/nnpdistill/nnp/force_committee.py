"""Force committee: the spread of the members' forces, the uncertainty that DP-GEN and ALF select by.

Member ``k`` predicts the forces ``F_i^k = -∂E^k/∂r_i`` (eV/Å). The force deviation of atom ``i`` is
DP-GEN's model deviation, ``σ_i = sqrt(<|F_i^k - <F_i>|²>_k)`` (mean over the ``M`` members, population
form: ``1/M``, as ``dp model-devi`` writes it), and a frame's score is its largest atom
(``uq_force_max_eV_per_A``, DP-GEN's ``max_devi_f``) or the mean over atoms (``uq_force_mean_eV_per_A``).
Unlike the per-atom energy spread, it needs a backward pass per member, so it is computed only where a
strategy asks for it (``force_committee``).
"""

from __future__ import annotations

import numpy as np
import torch

from ..device import model_device
from .batch import compute_aevs, neighbor_pairs
from .builder import NNPModel

FORCE_SCORE_COLUMNS = ("uq_force_max_eV_per_A", "uq_force_mean_eV_per_A")


def member_forces(model: NNPModel, positions: np.ndarray, cells: np.ndarray, *, batch_frames: int = 32,
                  bar=None) -> np.ndarray:
    """Forces of every member ``(M, F, N, 3)`` eV/Å (float64) of ``F`` periodic frames of ``N`` atoms."""
    positions = np.asarray(positions, dtype=np.float64)
    cells = np.asarray(cells, dtype=np.float64)
    n_frames, n_atoms = positions.shape[:2]
    dtype = model.self_energy_hartree().dtype
    dev = model_device(model)
    out = np.empty((model.n_members, n_frames, n_atoms, 3))
    with torch.enable_grad():
        for s in range(0, n_frames, batch_frames):
            e = min(s + batch_frames, n_frames)
            pairs = neighbor_pairs(positions[s:e], cells[s:e], model.cutoff_A)
            pos = torch.tensor(positions[s:e], dtype=dtype, device=dev, requires_grad=True)
            aevs = compute_aevs(model, pos, torch.tensor(cells[s:e], dtype=dtype, device=dev), pairs)
            member = model.atomic_energies_from_aevs(aevs)  # (M, B*N) eV
            for k in range(model.n_members):
                (grad,) = torch.autograd.grad(member[k].sum(), pos, retain_graph=k < model.n_members - 1)
                out[k, s:e] = -grad.detach().cpu().numpy().astype(np.float64)
            if bar is not None:
                bar.update(e - s)
    return out


def force_deviation(forces: np.ndarray) -> np.ndarray:
    """Per-atom force deviation ``(F, N)`` eV/Å from member forces ``(M, F, N, 3)``:
    ``sqrt(mean_k |F^k - mean_k F^k|²)`` (zeros for one member)."""
    forces = np.asarray(forces, dtype=np.float64)
    dev = forces - forces.mean(axis=0, keepdims=True)
    return np.sqrt((dev * dev).sum(axis=-1).mean(axis=0))


def frame_force_scores(model: NNPModel, positions: np.ndarray, cells: np.ndarray, *, batch_frames: int = 32,
                       bar=None) -> dict[str, np.ndarray]:
    """The two frame scores of :data:`FORCE_SCORE_COLUMNS`, each ``(F,)`` eV/Å."""
    sigma = force_deviation(member_forces(model, positions, cells, batch_frames=batch_frames, bar=bar))
    return {FORCE_SCORE_COLUMNS[0]: sigma.max(axis=1), FORCE_SCORE_COLUMNS[1]: sigma.mean(axis=1)}
