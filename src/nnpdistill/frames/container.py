"""The :class:`Frames` container: F frames of N atoms as NumPy arrays, checked once."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import DatasetError
from .format import _LABELS, _META_NAME, _RESERVED_META

# ----------------------------------------------------------------------------------------------
# Frames
# ----------------------------------------------------------------------------------------------


def _as_meta_array(name: str, value: Any, n_frames: int) -> np.ndarray:
    if not isinstance(name, str) or not _META_NAME.match(name):
        raise DatasetError(f"metadata name {name!r} must match {_META_NAME.pattern}")
    if name.lower() in _RESERVED_META:
        raise DatasetError(f"metadata name {name!r} is reserved (a dataset or extxyz key); rename it")
    arr = np.asarray(value)
    if arr.dtype.kind == "O":
        if all(isinstance(v, str) for v in arr.ravel()):
            arr = arr.astype(str)
        else:
            raise DatasetError(f"metadata {name!r}: object values must all be str, got {arr.dtype}")
    if arr.dtype.kind == "S":
        arr = np.char.decode(arr, "utf-8")
    if arr.shape != (n_frames,):
        raise DatasetError(f"metadata {name!r} has shape {arr.shape}, expected ({n_frames},) (one per frame)")
    kind = arr.dtype.kind
    if kind == "f":
        return arr.astype(np.float64, copy=False)
    if kind in "iu":
        if kind == "u" and arr.size and arr.max() > np.iinfo(np.int64).max:
            raise DatasetError(f"metadata {name!r}: unsigned values overflow int64")
        return arr.astype(np.int64, copy=False)
    if kind in "bU":
        return arr
    raise DatasetError(f"metadata {name!r}: dtype {arr.dtype} is not float, int, bool or str")


def _float_array(name: str, value: Any, shape: tuple[int, ...]) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiu":
        raise DatasetError(f"Frames.{name}: dtype {arr.dtype} is not numeric")
    arr = arr.astype(np.float64, copy=False)
    if arr.shape != shape:
        raise DatasetError(f"Frames.{name} has shape {arr.shape}, expected {shape}")
    return arr


@dataclass
class Frames:
    """F frames of the same N atoms (periodic in all three directions).

    numbers (F, N) int64; positions (F, N, 3) Å; cell (F, 3, 3) Å, rows = cell vectors;
    energy (F,) eV; forces (F, N, 3) eV/Å; energies (F, N) per-atom eV; stress (F, 3, 3) eV/Å³
    (ASE sign). Labels (energy, forces, energies, stress) may each be ``None`` (unlabelled frames).
    meta: {name: (F,) float64 | int64 | bool | str array}. index: (F,) global frame indices when the
    frames were read from a :class:`FrameStore`, else ``None`` (writers assign new indices).
    """

    numbers: np.ndarray
    positions: np.ndarray
    cell: np.ndarray
    energy: np.ndarray | None = None
    forces: np.ndarray | None = None
    energies: np.ndarray | None = None
    stress: np.ndarray | None = None
    meta: dict[str, np.ndarray] = field(default_factory=dict)
    index: np.ndarray | None = None

    def __post_init__(self) -> None:
        numbers = np.asarray(self.numbers)
        if numbers.ndim != 2:
            raise DatasetError(f"Frames.numbers must have shape (F, N), got {numbers.shape}")
        if numbers.dtype.kind not in "iu":
            raise DatasetError(f"Frames.numbers must be integer atomic numbers, got dtype {numbers.dtype}")
        if numbers.size and (numbers.min() < 1 or numbers.max() > 118):
            raise DatasetError(f"Frames.numbers: atomic numbers must lie in 1..118, got "
                               f"{numbers.min()}..{numbers.max()}")
        self.numbers = numbers.astype(np.int64, copy=False)
        f, n = numbers.shape
        self.positions = _float_array("positions", self.positions, (f, n, 3))
        self.cell = _float_array("cell", self.cell, (f, 3, 3))
        if not (np.isfinite(self.positions).all() and np.isfinite(self.cell).all()):
            bad = np.flatnonzero(~(np.isfinite(self.positions).all(axis=(1, 2))
                                   & np.isfinite(self.cell).all(axis=(1, 2))))
            raise DatasetError(f"Frames: non-finite positions or cell in frame(s) {bad[:10].tolist()}")
        shapes = {"energy": (f,), "forces": (f, n, 3), "energies": (f, n), "stress": (f, 3, 3)}
        for name, shape in shapes.items():
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, _float_array(name, value, shape))
        if not isinstance(self.meta, dict):
            raise DatasetError(f"Frames.meta must be a dict of (F,) arrays, got {type(self.meta).__name__}")
        self.meta = {k: _as_meta_array(k, v, f) for k, v in self.meta.items()}
        if self.index is not None:
            index = np.asarray(self.index)
            if index.shape != (f,) or index.dtype.kind not in "iu":
                raise DatasetError(f"Frames.index must be ({f},) integers, got {index.shape} {index.dtype}")
            self.index = index.astype(np.int64, copy=False)

    # -- basic properties ------------------------------------------------------------------
    def __len__(self) -> int:
        return self.numbers.shape[0]

    @property
    def n_frames(self) -> int:
        return self.numbers.shape[0]

    @property
    def n_atoms(self) -> int:
        return self.numbers.shape[1]

    @property
    def labels(self) -> tuple[str, ...]:
        """Names of the label fields present (subset of energy, forces, energies, stress)."""
        return tuple(k for k in _LABELS if getattr(self, k) is not None)

    @property
    def volume_A3(self) -> np.ndarray:  # noqa: N802 - unit in name
        """(F,) cell volumes in Å³."""
        return np.abs(np.linalg.det(self.cell))

    # -- selection / combination -----------------------------------------------------------
    def select(self, idx: int | slice | Sequence[int] | np.ndarray) -> Frames:
        """Frames ``idx`` (int, slice, integer array or boolean mask of length F), order as given."""
        if isinstance(idx, (int, np.integer)):
            idx = [int(idx)]
        if not isinstance(idx, slice):
            idx = np.asarray(idx)
            if idx.dtype.kind == "b":
                if idx.shape != (len(self),):
                    raise DatasetError(f"Frames.select: boolean mask of shape {idx.shape}, expected "
                                       f"({len(self)},)")
            elif idx.size == 0:
                idx = idx.astype(np.int64)
            elif idx.dtype.kind not in "iu" or idx.ndim != 1:
                raise DatasetError(f"Frames.select: indices must be 1-D integers, got {idx.dtype} "
                                   f"{idx.shape}")
            elif idx.size and (idx.max() >= len(self) or idx.min() < -len(self)):
                raise DatasetError(f"Frames.select: index out of range for {len(self)} frames")

        def take(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[idx]

        return Frames(
            numbers=self.numbers[idx], positions=self.positions[idx], cell=self.cell[idx],
            energy=take(self.energy), forces=take(self.forces), energies=take(self.energies),
            stress=take(self.stress), meta={k: v[idx] for k, v in self.meta.items()},
            index=take(self.index),
        )

    @staticmethod
    def concatenate(parts: Sequence[Frames]) -> Frames:
        """Concatenate frames of one atom count, labels and metadata names (index kept if all have it)."""
        parts = list(parts)
        if not parts:
            raise DatasetError("Frames.concatenate: nothing to concatenate")
        first = parts[0]
        for i, p in enumerate(parts[1:], start=1):
            if p.n_atoms != first.n_atoms:
                raise DatasetError(f"Frames.concatenate: part {i} has {p.n_atoms} atoms, part 0 has "
                                   f"{first.n_atoms}; different atom counts live in separate Frames")
            if p.labels != first.labels:
                raise DatasetError(f"Frames.concatenate: part {i} has labels {p.labels}, part 0 has "
                                   f"{first.labels}")
            if set(p.meta) != set(first.meta):
                raise DatasetError(f"Frames.concatenate: part {i} has metadata {sorted(p.meta)}, part 0 has "
                                   f"{sorted(first.meta)}")

        def cat(name: str) -> np.ndarray | None:
            values = [getattr(p, name) for p in parts]
            return None if any(v is None for v in values) else np.concatenate(values)

        meta = {}
        for k in first.meta:
            kinds = {p.meta[k].dtype.kind for p in parts}
            if len(kinds) > 1 and not kinds <= {"f", "i", "b"}:
                raise DatasetError(f"Frames.concatenate: metadata {k!r} mixes strings and numbers")
            meta[k] = np.concatenate([p.meta[k] for p in parts])
        return Frames(numbers=cat("numbers"), positions=cat("positions"), cell=cat("cell"),
                      energy=cat("energy"), forces=cat("forces"), energies=cat("energies"),
                      stress=cat("stress"), meta=meta, index=cat("index"))

    # -- ASE -------------------------------------------------------------------------------
    @classmethod
    def from_atoms(cls, images: Iterable[Any], meta_keys: Sequence[str] | None = None) -> Frames:
        """Frames from ASE Atoms of one atom count.

        Labels are taken from ``atoms.calc.results`` when present (never computed here; stale results
        raise). ``meta_keys=None`` takes every ``atoms.info`` scalar (float, int, bool, str) present in
        all images; ``info["frame_index"]`` becomes :attr:`index`.
        """
        from ase.stress import voigt_6_to_full_3x3_stress

        images = list(images)
        if not images:
            raise DatasetError("Frames.from_atoms: no atoms given")
        n = len(images[0])
        for i, a in enumerate(images):
            if len(a) != n:
                raise DatasetError(f"Frames.from_atoms: image {i} has {len(a)} atoms, image 0 has {n}; "
                                   "split images by atom count")
            if not np.all(a.pbc):
                raise DatasetError(f"Frames.from_atoms: image {i} is not periodic in all directions "
                                   f"(pbc={a.pbc})")
        labels: dict[str, list] = {k: [] for k in _LABELS}
        for i, a in enumerate(images):
            calc = a.calc
            results = {} if calc is None else dict(getattr(calc, "results", {}) or {})
            if results and getattr(calc, "atoms", None) is not None and calc.check_state(a):
                raise DatasetError(f"Frames.from_atoms: image {i} has stale calculator results "
                                   f"(changed: {calc.check_state(a)})")
            for k in _LABELS:
                v = results.get(k)
                if k == "stress" and v is not None:
                    v = np.asarray(v, dtype=np.float64)
                    v = voigt_6_to_full_3x3_stress(v) if v.shape == (6,) else v
                labels[k].append(v)
        label_arrays: dict[str, np.ndarray | None] = {}
        for k, values in labels.items():
            present = [v is not None for v in values]
            if all(present):
                label_arrays[k] = np.stack([np.asarray(v, dtype=np.float64) for v in values])
            elif any(present):
                missing = present.index(False)
                raise DatasetError(f"Frames.from_atoms: label {k!r} present in some images but missing in "
                                   f"image {missing}")
            else:
                label_arrays[k] = None
        scalar = (str, bool, int, float, np.integer, np.floating, np.bool_, np.str_)
        if meta_keys is None:
            common = [k for k, v in images[0].info.items() if isinstance(v, scalar)]
            meta_keys = [k for k in common if k != "frame_index" and k.lower() not in _RESERVED_META
                         and all(k in a.info and isinstance(a.info[k], scalar) for a in images)]
        meta = {}
        for k in meta_keys:
            missing = [i for i, a in enumerate(images) if k not in a.info]
            if missing:
                raise DatasetError(f"Frames.from_atoms: info[{k!r}] missing in image {missing[0]}")
            meta[k] = np.array([a.info[k] for a in images])
        index = None
        if all("frame_index" in a.info for a in images):
            index = np.array([a.info["frame_index"] for a in images], dtype=np.int64)
        return cls(
            numbers=np.stack([a.numbers for a in images]),
            positions=np.stack([a.positions for a in images]),
            cell=np.stack([np.asarray(a.cell[:]) for a in images]),
            meta=meta, index=index, **label_arrays,
        )

    def to_atoms(self) -> list[Any]:
        """A list of periodic ``ase.Atoms`` with a SinglePointCalculator holding the labels
        (stress as Voigt 6-vector) and ``info`` holding the metadata (and ``frame_index``)."""
        from ase import Atoms
        from ase.calculators.singlepoint import SinglePointCalculator
        from ase.stress import full_3x3_to_voigt_6_stress

        meta_lists = {k: v.tolist() for k, v in self.meta.items()}
        out = []
        for i in range(len(self)):
            atoms = Atoms(numbers=self.numbers[i], positions=self.positions[i], cell=self.cell[i], pbc=True)
            results: dict[str, Any] = {}
            if self.energy is not None:
                results["energy"] = float(self.energy[i])
            if self.forces is not None:
                results["forces"] = self.forces[i].copy()
            if self.energies is not None:
                results["energies"] = self.energies[i].copy()
            if self.stress is not None:
                results["stress"] = full_3x3_to_voigt_6_stress(self.stress[i])
            if results:
                atoms.calc = SinglePointCalculator(atoms, **results)
            atoms.info.update({k: v[i] for k, v in meta_lists.items()})
            if self.index is not None:
                atoms.info["frame_index"] = int(self.index[i])
            out.append(atoms)
        return out


def concatenate(parts: Sequence[Frames]) -> Frames:
    """Module-level alias of :meth:`Frames.concatenate`."""
    return Frames.concatenate(parts)
