"""Correct batched evaluation of periodic frames with a torchani model.

torchani's own neighbour list takes one (3, 3) cell per call, so a batch of periodic frames with
different cells is silently wrong (torchani issues #605, #613). Here every frame gets its own
half neighbour list (vesin, all periodic images, so a cutoff larger than half the cell is fine),
the pairs are concatenated with atom-index offsets, and the AEVs of the whole batch come from one
``AEVComputer.compute_from_neighbors`` call on a flat "one big molecule" of all atoms.

Pair vectors are built in torch from positions and cells, ``d = (r_i - r_j - S·h) (1 + ε)``, so that
forces (−∂E/∂r) and stress ((1/V) ∂E/∂ε, ASE sign) come from autograd.

Shapes: ``numbers (F, N)``, ``positions (F, N, 3)`` Å, ``cells (F, 3, 3)`` Å (rows = cell
vectors). Outputs in eV, eV/Å, eV/Å³.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torchani.neighbors import Neighbors

from ..device import model_device
from ..errors import DatasetError
from .builder import NNPModel


@dataclass
class PairList:
    """Concatenated half neighbour lists of a batch of frames.

    ``i``, ``j``: flat atom indices ``(P,)`` (frame offset included); ``shifts``: integer cell shifts
    ``(P, 3)``; ``frame``: the frame of each pair ``(P,)``.
    """

    i: torch.Tensor
    j: torch.Tensor
    shifts: torch.Tensor
    frame: torch.Tensor


def neighbor_pairs(
    positions: np.ndarray, cells: np.ndarray, cutoff_A: float
) -> PairList:
    """Half neighbour lists of ``F`` periodic frames ``(F, N, 3)``, ``(F, 3, 3)``, concatenated."""
    from vesin import NeighborList

    positions = np.asarray(positions, dtype=np.float64)
    cells = np.asarray(cells, dtype=np.float64)
    n_frames, n_atoms = positions.shape[:2]
    nl = NeighborList(cutoff=float(cutoff_A), full_list=False)
    ii, jj, ss, ff = [], [], [], []
    for f in range(n_frames):
        i, j, s = nl.compute(points=positions[f], box=cells[f], periodic=True, quantities="ijS")
        off = f * n_atoms
        ii.append(i.astype(np.int64) + off)
        jj.append(j.astype(np.int64) + off)
        ss.append(s.astype(np.int64))
        ff.append(np.full(len(i), f, dtype=np.int64))
    cat = (lambda xs: np.concatenate(xs)) if n_frames else (lambda xs: np.zeros(0, dtype=np.int64))
    return PairList(
        i=torch.from_numpy(cat(ii)),
        j=torch.from_numpy(cat(jj)),
        shifts=torch.from_numpy(np.concatenate(ss) if n_frames else np.zeros((0, 3), np.int64)),
        frame=torch.from_numpy(cat(ff)),
    )


def compute_aevs(
    model: NNPModel,
    positions: torch.Tensor,
    cells: torch.Tensor,
    pairs: PairList,
    strain: torch.Tensor | None = None,
) -> torch.Tensor:
    """AEVs ``(F*N, D)`` of a batch, differentiable w.r.t. ``positions``, ``cells`` and ``strain (F,3,3)``."""
    n_frames, n_atoms = positions.shape[:2]
    dev = positions.device
    pi, pj, pf = pairs.i.to(dev), pairs.j.to(dev), pairs.frame.to(dev)  # no copy on the CPU
    flat = positions.reshape(-1, 3)
    # image of atom j sits at r_j + S·h; torchani wants diff = r_idx0 - r_idx1 + shift
    cell_shift = torch.einsum("pk,pkl->pl", pairs.shifts.to(device=dev, dtype=positions.dtype), cells[pf])
    diff = flat.index_select(0, pi) - flat.index_select(0, pj) - cell_shift
    if strain is not None:
        eye = torch.eye(3, dtype=positions.dtype, device=dev)
        diff = torch.einsum("pk,pkl->pl", diff, (eye + strain)[pf])
    neighbors = Neighbors(torch.stack([pi, pj]), diff.norm(dim=-1), diff)
    elem = torch.zeros((1, n_frames * n_atoms), dtype=torch.long, device=dev)
    aevs = model.aev_computer.compute_from_neighbors(elem, flat.unsqueeze(0), neighbors)
    return aevs.reshape(n_frames * n_atoms, -1)


@dataclass
class BatchResult:
    """Ensemble results in eV. ``member_energies (M, F, N)`` per atom, ``energies (F, N)`` their mean,
    ``energy (F,)``, ``forces (F, N, 3)`` and ``stress (F, 3, 3)`` of the ensemble mean (or None)."""

    energy: np.ndarray
    energies: np.ndarray
    member_energies: np.ndarray
    forces: np.ndarray | None = None
    stress: np.ndarray | None = None

    @property
    def atomic_uncertainty(self) -> np.ndarray:
        """Std across members of per-atom energies ``(F, N)`` eV (ddof=1; zeros for one member)."""
        if self.member_energies.shape[0] < 2:
            return np.zeros_like(self.energies)
        return self.member_energies.std(axis=0, ddof=1)


def check_frames(model: NNPModel, numbers: np.ndarray, positions: np.ndarray, cells: np.ndarray) -> None:
    """Raise DatasetError if the arrays do not fit each other or the model's element."""
    numbers = np.asarray(numbers)
    positions = np.asarray(positions)
    cells = np.asarray(cells)
    if positions.ndim != 3 or positions.shape[-1] != 3:
        raise DatasetError(f"positions must have shape (F, N, 3), got {positions.shape}")
    n_frames, n_atoms = positions.shape[:2]
    if numbers.shape != (n_frames, n_atoms):
        raise DatasetError(f"numbers shape {numbers.shape} does not match positions {positions.shape}")
    if cells.shape != (n_frames, 3, 3):
        raise DatasetError(f"cell shape {cells.shape} does not match {n_frames} frames (want (F, 3, 3))")
    if numbers.size and not np.all(numbers == model.atomic_number):
        other = sorted(set(np.unique(numbers).tolist()) - {model.atomic_number})
        raise DatasetError(
            f"frames contain atomic numbers {other} but the model is for {model.settings.element} "
            f"(Z={model.atomic_number})"
        )
    if n_frames and np.any(np.abs(np.linalg.det(cells)) < 1e-6):
        raise DatasetError("a frame has a degenerate (zero-volume) cell")


def evaluate(
    model: NNPModel,
    numbers: np.ndarray,
    positions: np.ndarray,
    cells: np.ndarray,
    *,
    forces: bool = False,
    stress: bool = False,
    batch_frames: int = 64,
) -> BatchResult:
    """Evaluate ``F`` periodic frames of ``N`` atoms in batches of ``batch_frames``."""
    check_frames(model, numbers, positions, cells)
    positions = np.asarray(positions, dtype=np.float64)
    cells = np.asarray(cells, dtype=np.float64)
    n_frames, n_atoms = positions.shape[:2]
    dtype = model.self_energy_hartree().dtype
    dev = model_device(model)  # the model's device: the caller moves the model (nnpdistill.device)
    out_m, out_f, out_s = [], [], []
    for start in range(0, n_frames, batch_frames):
        stop = min(start + batch_frames, n_frames)
        pl = neighbor_pairs(positions[start:stop], cells[start:stop], model.cutoff_A)
        pos = torch.tensor(positions[start:stop], dtype=dtype, device=dev, requires_grad=forces)
        cel = torch.tensor(cells[start:stop], dtype=dtype, device=dev)
        eps = (torch.zeros((stop - start, 3, 3), dtype=dtype, device=dev, requires_grad=stress) if stress
               else None)
        with torch.set_grad_enabled(forces or stress):
            aevs = compute_aevs(model, pos, cel, pl, strain=eps)
            member = model.atomic_energies_from_aevs(aevs).reshape(-1, stop - start, n_atoms)
            if forces or stress:
                total = member.mean(0).sum()
                wrt = ([pos] if forces else []) + ([eps] if stress else [])
                grads = torch.autograd.grad(total, wrt)
                if forces:
                    out_f.append(-grads[0].detach().cpu().numpy().astype(np.float64))
                if stress:
                    de = grads[-1].detach().cpu().numpy().astype(np.float64)
                    vol = np.abs(np.linalg.det(cells[start:stop]))[:, None, None]
                    out_s.append(0.5 * (de + de.transpose(0, 2, 1)) / vol)
        out_m.append(member.detach().cpu().numpy().astype(np.float64))
    member_energies = np.concatenate(out_m, axis=1) if out_m else np.zeros((model.n_members, 0, n_atoms))
    energies = member_energies.mean(0)
    return BatchResult(
        energy=energies.sum(-1),
        energies=energies,
        member_energies=member_energies,
        forces=np.concatenate(out_f) if forces else None,
        stress=np.concatenate(out_s) if stress else None,
    )
