"""Labelled frames for training and prediction: validation against a model and flattening.

Accepts any ``Frames``-like object (attributes ``numbers (F,N)``, ``positions (F,N,3)``,
``cell (F,3,3)``, ``energy (F,)``, ``forces (F,N,3)``, ``energies (F,N)``, ``meta``), a list of them
(one per atom count, as ``FrameStore.groups()`` returns), or a path to a frame store.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DatasetError


@dataclass
class Group:
    """Frames with one atom count ``N``; ``index`` are global frame indices ``(F,)``."""

    index: np.ndarray
    numbers: np.ndarray
    positions: np.ndarray
    cell: np.ndarray
    energy: np.ndarray | None
    forces: np.ndarray | None
    energies: np.ndarray | None
    meta: dict = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return int(self.positions.shape[0])

    @property
    def n_atoms(self) -> int:
        return int(self.positions.shape[1])


def _get(obj, name):
    value = getattr(obj, name, None)
    if value is None and isinstance(obj, dict):
        value = obj.get(name)
    return None if value is None else np.asarray(value)


def load_groups(source, *, source_name: str | None = None) -> list[Group]:
    """Normalise ``source`` (path, Frames-like, dict of arrays, or a list of those) to groups."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        from ..frames import FrameStore  # the frame store module (HDF5)

        if not path.exists():
            raise DatasetError(f"frame store {path} does not exist")
        with FrameStore(path) as store:
            groups_raw = store.groups()
        name = str(path)
    else:
        groups_raw = list(source) if isinstance(source, (list, tuple)) else [source]
        name = source_name or "frames"
    groups: list[Group] = []
    start = 0
    for g_no, raw in enumerate(groups_raw):
        positions = _get(raw, "positions")
        if positions is None:
            raise DatasetError(f"{name}: group {g_no} has no positions")
        if positions.ndim != 3 or positions.shape[-1] != 3:
            raise DatasetError(f"{name}: positions must have shape (F, N, 3), got {positions.shape}")
        n_frames, n_atoms = positions.shape[:2]
        numbers = _get(raw, "numbers")
        cell = _get(raw, "cell")
        if numbers is None or numbers.shape != (n_frames, n_atoms):
            raise DatasetError(
                f"{name}: numbers shape {None if numbers is None else numbers.shape} does not match "
                f"positions {positions.shape}"
            )
        if cell is None or cell.shape != (n_frames, 3, 3):
            raise DatasetError(
                f"{name}: cell shape {None if cell is None else cell.shape} does not match "
                f"{n_frames} frames (want (F, 3, 3))"
            )
        energy = _get(raw, "energy")
        forces = _get(raw, "forces")
        energies = _get(raw, "energies")
        if energy is not None and energy.shape != (n_frames,):
            raise DatasetError(f"{name}: energy shape {energy.shape} does not match {n_frames} frames")
        if forces is not None and forces.shape != (n_frames, n_atoms, 3):
            raise DatasetError(
                f"{name}: forces shape {forces.shape} does not match positions {positions.shape}")
        if energies is not None and energies.shape != (n_frames, n_atoms):
            raise DatasetError(f"{name}: energies shape {energies.shape} does not match (F, N) = "
                               f"{(n_frames, n_atoms)}")
        meta_raw = getattr(raw, "meta", None) or (raw.get("meta") if isinstance(raw, dict) else None) or {}
        meta = {}
        for key, value in meta_raw.items():
            value = np.asarray(value)
            if value.shape[:1] != (n_frames,):
                raise DatasetError(f"{name}: meta {key!r} has shape {value.shape}, want ({n_frames},)")
            meta[key] = value
        index = _get(raw, "index")  # Frames read from a FrameStore carry global indices
        index = np.arange(start, start + n_frames) if index is None else index.astype(np.int64)
        start += n_frames
        groups.append(Group(index, numbers.astype(np.int64), positions.astype(np.float64),
                            cell.astype(np.float64), None if energy is None else energy.astype(np.float64),
                            None if forces is None else forces.astype(np.float64),
                            None if energies is None else energies.astype(np.float64), meta))
    if not groups or sum(g.n_frames for g in groups) == 0:
        raise DatasetError(f"{name}: no frames")
    return groups


def check_groups(
    groups: list[Group], atomic_number: int, element: str, *, need_energy: bool = True,
    need_forces: bool = False, name: str = "frames",
) -> None:
    """Raise DatasetError for another element, missing or non-finite labels."""
    for g_no, g in enumerate(groups):
        if not np.all(g.numbers == atomic_number):
            other = sorted(set(np.unique(g.numbers).tolist()) - {atomic_number})
            raise DatasetError(
                f"{name}: group {g_no} ({g.n_atoms} atoms) holds atomic numbers {other}; the model is for "
                f"{element} (Z={atomic_number})"
            )
        if need_energy:
            if g.energy is None:
                raise DatasetError(f"{name}: group {g_no} ({g.n_atoms} atoms) has no energy labels")
            if not np.all(np.isfinite(g.energy)):
                bad = int(np.sum(~np.isfinite(g.energy)))
                raise DatasetError(f"{name}: group {g_no} has {bad} frames with missing (NaN) energy labels")
        if need_forces:
            if g.forces is None:
                raise DatasetError(f"{name}: group {g_no} ({g.n_atoms} atoms) has no force labels "
                                   "but force training was requested")
            if not np.all(np.isfinite(g.forces)):
                raise DatasetError(f"{name}: group {g_no} has missing (NaN) force labels")
        if np.any(np.abs(np.linalg.det(g.cell)) < 1e-6):
            raise DatasetError(f"{name}: group {g_no} has a degenerate (zero-volume) cell")
