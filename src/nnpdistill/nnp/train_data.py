"""The training set of one member in torch: every frame flattened (per-frame labels and weights, a flat
atom axis, on the training device), the descriptors computed once for the cached energy path, and the
energy and force evaluations of a batch (:func:`nnpdistill.nnp.train.train_member` uses them)."""

from __future__ import annotations

import numpy as np
import torch

from ..errors import DatasetError
from ..units import HARTREE_EV
from .batch import compute_aevs, neighbor_pairs
from .builder import NNPModel
from .data import Group


class _Flat:
    """All frames flattened: per-frame arrays plus a flat atom axis, in torch."""

    def __init__(self, groups: list[Group], dtype: torch.dtype, need_forces: bool,
                 self_energy_eV: float = 0.0, device: torch.device | str = "cpu"):
        self.groups = groups
        self.device = device = torch.device(device)
        self.index = np.concatenate([g.index for g in groups])
        self.group_of = np.concatenate([np.full(g.n_frames, k) for k, g in enumerate(groups)])
        self.local = np.concatenate([np.arange(g.n_frames) for g in groups])
        self.n_atoms = torch.tensor(np.concatenate([np.full(g.n_frames, g.n_atoms) for g in groups]),
                                    dtype=dtype, device=device)
        # Energies minus the fitted self-energies, in float64 before the cast: DFT totals carry offsets of
        # tens of eV per atom that float32 would round to ~1e-5 eV/atom; the networks learn the residual.
        n_atoms = np.concatenate([np.full(g.n_frames, g.n_atoms, dtype=np.float64) for g in groups])
        energy = np.concatenate([g.energy for g in groups]).astype(np.float64)
        residual = energy - n_atoms * float(self_energy_eV)
        self.energy = torch.tensor(residual, dtype=dtype, device=device)
        counts = self.n_atoms.long()
        self.atom_start = torch.cat([torch.zeros(1, dtype=torch.long, device=device),
                                     torch.cumsum(counts, 0)[:-1]])
        self.dtype = dtype
        self.need_forces = need_forces
        weight = np.concatenate([np.asarray(g.meta.get("loss_weight", np.ones(g.n_frames)), dtype=np.float64)
                                 for g in groups])
        if not (np.all(np.isfinite(weight)) and np.all(weight > 0)):
            raise DatasetError("frame meta loss_weight must be positive and finite for every frame")
        # None when every frame weighs alike: the plain mean, the same numbers as without weights
        self.weight = None if np.all(weight == 1.0) else torch.tensor(weight, dtype=dtype, device=device)

    def mean_sq(self, err: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        """Mean squared ``err`` of ``frames``, weighted by their ``loss_weight`` where the set has one."""
        if self.weight is None:
            return (err**2).mean()
        w = self.weight[frames]
        return (w * err**2).sum() / w.sum()

    def __len__(self) -> int:
        return len(self.index)

    def rows(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Flat atom rows of ``frames`` and, per row, its position in ``frames``."""
        counts = self.n_atoms[frames].long()
        owner = torch.repeat_interleave(torch.arange(len(frames), device=self.device), counts)
        starts = torch.repeat_interleave(self.atom_start[frames], counts)
        within = torch.arange(int(counts.sum()), device=self.device) - torch.repeat_interleave(
            torch.cumsum(counts, 0) - counts, counts)
        return starts + within, owner


def _compute_all_aevs(model: NNPModel, flat: _Flat, chunk_frames: int = 256) -> torch.Tensor:
    """AEVs of every atom ``(A_total, D)``, in the flat order, without gradients."""
    out = []
    with torch.no_grad():
        for g in flat.groups:
            for s in range(0, g.n_frames, chunk_frames):
                e = min(s + chunk_frames, g.n_frames)
                pairs = neighbor_pairs(g.positions[s:e], g.cell[s:e], model.cutoff_A)
                pos = torch.tensor(g.positions[s:e], dtype=flat.dtype, device=flat.device)
                cel = torch.tensor(g.cell[s:e], dtype=flat.dtype, device=flat.device)
                out.append(compute_aevs(model, pos, cel, pairs))
    return torch.cat(out)


def _frame_energy_per_atom(net, aevs_rows, owner, n_frames, n_atoms, self_e_hartree) -> torch.Tensor:
    atomic = net(aevs_rows)
    total = torch.zeros(n_frames, dtype=atomic.dtype, device=atomic.device).index_add(0, owner, atomic)
    return (total / n_atoms + self_e_hartree) * HARTREE_EV


def _force_batch(model, net, flat: _Flat, frames: np.ndarray, create_graph: bool):
    """Per-atom energies and forces of ``frames`` (must share one group) with a live graph."""
    g = flat.groups[int(flat.group_of[frames[0]])]
    loc = flat.local[frames]
    pairs = neighbor_pairs(g.positions[loc], g.cell[loc], model.cutoff_A)
    pos = torch.tensor(g.positions[loc], dtype=flat.dtype, device=flat.device, requires_grad=True)
    cel = torch.tensor(g.cell[loc], dtype=flat.dtype, device=flat.device)
    aevs = compute_aevs(model, pos, cel, pairs)
    atomic = net(aevs).reshape(len(loc), g.n_atoms)
    e_per_atom = atomic.sum(1) / g.n_atoms * HARTREE_EV  # residual: the self-energy is out of the labels
    forces = -torch.autograd.grad(atomic.sum() * HARTREE_EV, pos, create_graph=create_graph)[0]
    f_true = torch.tensor(g.forces[loc], dtype=flat.dtype, device=flat.device)
    return e_per_atom, forces, f_true


def _uncached_energy(model, net, flat: _Flat, positions: np.ndarray, grad: bool = False) -> torch.Tensor:
    out = []
    with torch.set_grad_enabled(grad):
        for k in np.unique(flat.group_of[positions]):
            sel = positions[flat.group_of[positions] == k]
            g = flat.groups[int(k)]
            loc = flat.local[sel]
            pairs = neighbor_pairs(g.positions[loc], g.cell[loc], model.cutoff_A)
            aev = compute_aevs(model, torch.tensor(g.positions[loc], dtype=flat.dtype, device=flat.device),
                               torch.tensor(g.cell[loc], dtype=flat.dtype, device=flat.device), pairs)
            atomic = net(aev).reshape(len(loc), g.n_atoms)
            out.append(atomic.sum(1) / g.n_atoms * HARTREE_EV)  # residual energy per atom
    if len(out) > 1:  # restore the order of ``positions``
        order = np.concatenate([np.flatnonzero(flat.group_of[positions] == k)
                                for k in np.unique(flat.group_of[positions])])
        pred = torch.cat(out)
        return pred[torch.as_tensor(np.argsort(order), device=pred.device)]
    return out[0]


def _force_valid_mse(model, net, flat: _Flat, positions: np.ndarray, batch: int) -> float:
    sq, n = 0.0, 0
    for k in np.unique(flat.group_of[positions]):
        sel = positions[flat.group_of[positions] == k]
        for s in range(0, len(sel), batch):
            _, f_pred, f_true = _force_batch(model, net, flat, sel[s:s + batch], create_graph=False)
            sq += float(((f_pred.detach() - f_true) ** 2).sum())
            n += f_true.numel()
    return sq / max(n, 1)
