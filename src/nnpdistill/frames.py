"""HDF5 frame store: every stage reads and writes atomic configurations through this module.

A *frame* is one periodic configuration of N atoms with optional labels. :class:`Frames` holds F
frames of the same N atoms as NumPy arrays; :class:`FrameWriter` appends them (any atom counts) to
an HDF5 file written under ``path + ".partial"`` and renamed on success; :class:`FrameStore` reads
them back by global frame index; :func:`export_extxyz` writes extended XYZ that ``ase.io.read`` reads.

Units: positions and cells in Å (cell rows are the lattice vectors), energies in eV, forces in eV/Å,
stress in eV/Å³ with ASE's sign (``stress = (1/V) ∂E/∂ε``, pressure = -trace/3). All floats float64.

File layout (``format="nnpdistill-frames"``, ``format_version=1``)
-----------------------------------------------------------------
Root attributes::

    format            "nnpdistill-frames"
    format_version    1
    grouping          "by_num_atoms"      (lets torchani.datasets.ANIDataset open the file)
    element           chemical symbol of the frames (checked against the atomic numbers)
    potential         name/path of the labelling potential ("" if unlabelled)
    potential_sha256  its sha256 ("" if unlabelled)
    units             JSON {"energy": "eV", "length": "Angstrom", "stress": "eV/Angstrom^3", ...}
    created_by        "nnpdistill <version>" unless given
    json_attrs        JSON list of the user attributes stored as JSON strings (dicts, lists, None)
    <user attrs>      str, int, float, bool; dict/list/None are stored as JSON and decoded on read

One group per atom count N, named ``/n{N}`` (e.g. ``/n108``), holding F_N frames, all datasets
chunked and resizable along the first axis (gzip/lzf compression optional, off by default)::

    species          (F_N, N)    int64    atomic numbers
    coordinates      (F_N, N, 3) float64  positions, Å
    cell             (F_N, 3, 3) float64  rows = cell vectors, Å
    index            (F_N,)      int64    global frame index (write order, 0..F-1 over the file)
    energies         (F_N,)      float64  total energy, eV                  [label, optional]
    forces           (F_N, N, 3) float64  eV/Å                              [label, optional]
    atomic_energies  (F_N, N)    float64  per-atom energies, eV             [label, optional]
    stress           (F_N, 3, 3) float64  eV/Å³, ASE sign                   [label, optional]
    <meta name>      (F_N,)      float64 | int64 | bool | UTF-8 string  per-frame metadata

Every group holds the same datasets (the first append fixes the schema), so
``torchani.datasets.ANIDataset(path)`` opens the file directly; energies there are in eV, not
Hartree, and string metadata must be left out of ``get_conformers(..., properties=[...])``.
Global indices give the write order over all groups; within a group they increase.

Writing and restarting
----------------------
``FrameWriter`` buffers appends in memory (flushed at ``flush_bytes``, on :meth:`FrameWriter.flush`,
:meth:`FrameWriter.truncate` and on exit). On clean exit the ``.partial`` file is renamed to
``path``. On an exception nothing appears at ``path``; the ``.partial`` file is removed unless
``keep_partial_on_error=True`` (MD uses it). A killed run restarts with ``resume=True``: the
longest consistent prefix of frames (global indices 0..n-1 present in every dataset) is copied from
the ``.partial`` file into a fresh one (never written in place: a killed HDF5 writer can leave
metadata newer than its last flush), and the caller calls :meth:`FrameWriter.truncate` with its
checkpointed frame count before appending again. Only what was written before the last
:meth:`FrameWriter.flush` is guaranteed to survive a kill; ``resume=True`` without a ``.partial``
file starts a new store.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from . import __version__
from .errors import DatasetError, FrameStoreError
from .io_utils import atomic_path, partial_path

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "Frames",
    "FrameStore",
    "FrameWriter",
    "concatenate",
    "export_extxyz",
    "write_frames",
]

FORMAT = "nnpdistill-frames"
FORMAT_VERSION = 1
UNITS = {
    "energy": "eV",
    "length": "Angstrom",
    "forces": "eV/Angstrom",
    "stress": "eV/Angstrom^3 (ASE sign: pressure = -trace/3)",
    "cell": "Angstrom, rows = cell vectors",
}

# Frames attribute -> HDF5 dataset name (label fields are optional).
_LABELS = {"energy": "energies", "forces": "forces", "energies": "atomic_energies", "stress": "stress"}
_BASE = {"numbers": "species", "positions": "coordinates", "cell": "cell"}
_DATASETS = {**_BASE, **_LABELS, "index": "index"}
_RESERVED_META = {
    *_DATASETS,
    *_DATASETS.values(),
    "frame_index", "pbc", "lattice", "properties", "pos", "free_energy", "virial", "numbers",
    "positions", "species", "symbols", "masses", "momenta", "charges", "magmom", "magmoms", "dipole",
    "move_mask", "tags", "initial_charges", "initial_magmoms", "velocities", "uid", "grouping",
}
_RESERVED_ATTRS = {"format", "format_version", "grouping", "units", "json_attrs"}
_META_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_GROUP_NAME = re.compile(r"^n(\d+)$")
_STR_DTYPE = h5py.string_dtype("utf-8")


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


# ----------------------------------------------------------------------------------------------
# attributes
# ----------------------------------------------------------------------------------------------


def _encode_attrs(attrs: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    out: dict[str, Any] = {}
    json_names: list[str] = []
    for key, value in attrs.items():
        if not isinstance(key, str) or not key:
            raise FrameStoreError(f"attribute names must be non-empty strings, got {key!r}")
        if key in _RESERVED_ATTRS:
            raise FrameStoreError(f"attribute {key!r} is set by nnpdistill.frames and cannot be given")
        if isinstance(value, (bool, np.bool_)):
            out[key] = np.bool_(value)
        elif isinstance(value, (int, np.integer)):
            out[key] = np.int64(value)
        elif isinstance(value, (float, np.floating)):
            out[key] = np.float64(value)
        elif isinstance(value, (str, np.str_)):
            out[key] = str(value)
        elif isinstance(value, (os.PathLike,)):
            out[key] = os.fspath(value)
        elif value is None or isinstance(value, (dict, list, tuple)):
            try:
                out[key] = json.dumps(value, sort_keys=True, default=_json_default)
            except (TypeError, ValueError) as exc:
                raise FrameStoreError(f"attribute {key!r} is not JSON-serialisable: {exc}") from None
            json_names.append(key)
        else:
            raise FrameStoreError(f"attribute {key!r} has unsupported type {type(value).__name__} "
                                  "(use str, int, float, bool, dict or list)")
    return out, json_names


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")


def _decode_attrs(raw: h5py.AttributeManager) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, bytes):
            value = value.decode("utf-8")
        elif isinstance(value, np.generic):
            value = value.item()
        elif isinstance(value, np.ndarray):
            value = value.tolist()
        out[key] = value
    json_names = json.loads(out.pop("json_attrs", "[]"))
    for key in [*json_names, "units"]:
        if key in out and isinstance(out[key], str):
            out[key] = json.loads(out[key])
    return out


# ----------------------------------------------------------------------------------------------
# low-level group access
# ----------------------------------------------------------------------------------------------


def _group_name(n_atoms: int) -> str:
    return f"n{n_atoms}"


@contextlib.contextmanager
def _h5_errors(path: str | os.PathLike, what: str) -> Iterator[None]:
    """Turn HDF5 library errors into FrameStoreError naming the file."""
    try:
        yield
    except FrameStoreError:
        raise
    except (OSError, KeyError, RuntimeError, ValueError) as exc:
        raise FrameStoreError(f"{os.fspath(path)}: {what} failed: {exc} "
                              "(corrupted or truncated file?)") from exc


def _group_schema(group: h5py.Group) -> tuple[tuple[str, ...], dict[str, str]]:
    """(labels present, {meta name: dtype kind}) of one group."""
    labels = tuple(k for k, ds in _LABELS.items() if ds in group)
    known = set(_DATASETS.values())
    meta = {}
    for name, ds in group.items():
        if name in known:
            continue
        meta[name] = "U" if h5py.check_string_dtype(ds.dtype) is not None else ds.dtype.kind
    return labels, meta


def _consistent_count(group: h5py.Group) -> int:
    """Frames readable in every dataset of a group (datasets may differ after a kill)."""
    return min(ds.shape[0] for ds in group.values())


def _contiguous_prefix(per_group_index: dict[int, np.ndarray]) -> int:
    """Largest n such that global indices 0..n-1 are all present exactly once."""
    if not per_group_index:
        return 0
    allidx = np.sort(np.concatenate(list(per_group_index.values())))
    ok = allidx == np.arange(allidx.size)
    return int(allidx.size if ok.all() else np.argmin(ok))


def _read_str(ds: h5py.Dataset, sel: slice) -> np.ndarray:
    values = ds.asstr()[sel]
    return np.array(values.tolist(), dtype=str) if values.size else np.zeros(0, dtype="U1")


# ----------------------------------------------------------------------------------------------
# writer
# ----------------------------------------------------------------------------------------------


def _frame_groups(file: h5py.File, path: str | os.PathLike) -> dict[int, h5py.Group]:
    """The ``n<atoms>`` groups of an open store by atom count; any other item is an error."""
    groups = {}
    for name, g in file.items():
        m = _GROUP_NAME.match(name)
        if not m or not isinstance(g, h5py.Group) or "index" not in g:
            raise FrameStoreError(f"{path}: unexpected item {name!r}")
        groups[int(m.group(1))] = g
    return groups


def _copy_groups(groups: dict[int, h5py.Group], counts: dict[int, int], dst: h5py.File,
                 block: int = 4096) -> None:
    """Copy the first ``counts[n]`` rows of every dataset of each frame group into ``dst``, in a fixed
    order (groups by atom count, datasets by name) and block by block, so that the bytes written depend
    only on the data and the datasets' shapes, types and chunking."""
    for n, g in sorted(groups.items()):
        count = counts[n]
        if count == 0:
            continue
        dg = dst.create_group(g.name)
        for ds_name in sorted(g):
            ds = g[ds_name]
            dd = dg.create_dataset(ds_name, shape=(count, *ds.shape[1:]), maxshape=(None, *ds.shape[1:]),
                                   dtype=ds.dtype, chunks=ds.chunks, compression=ds.compression,
                                   compression_opts=ds.compression_opts)
            for a in range(0, count, block):
                b = min(count, a + block)
                dd[a:b] = ds[a:b]


def compact_store(path: str | os.PathLike) -> Path:
    """Rewrite a finished frame store in its canonical layout (in place, through a temporary file).

    HDF5 places chunks and metadata in the order they were written, so a store written in one go, one
    flushed in many steps and one resumed after a kill hold the same frames in different bytes. The
    canonical copy depends only on the content: a killed and resumed sampling run ends with the same
    file (and checksum) as an uninterrupted one. About a second per 150 MB. FrameWriter does this on
    close; call it on a store written by an older nnpdistill (only the file's bytes change).
    """
    path = Path(path)
    fresh = path.with_name(path.name + ".compact")
    try:
        with _h5_errors(path, "compacting"), h5py.File(path, "r", locking="best-effort") as src, \
                h5py.File(fresh, "w", locking="best-effort") as dst:
            for key in sorted(src.attrs):
                dst.attrs.create(key, src.attrs[key], dtype=src.attrs.get_id(key).dtype)
            groups = _frame_groups(src, path)
            _copy_groups(groups, {n: int(g["index"].shape[0]) for n, g in groups.items()}, dst)
        os.replace(fresh, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            fresh.unlink()
    return path


class FrameWriter:
    """Append frames to ``path + ".partial"``; rename it to ``path`` on clean exit.

    Parameters
    ----------
    path: final file name (``.h5``).
    attrs: root attributes; ``element`` is required (chemical symbol; frames are checked against it).
        ``potential``, ``potential_sha256`` default to "" and ``created_by`` to "nnpdistill <version>".
    resume: reopen an existing ``.partial`` (cut back to its consistent prefix) instead of starting anew;
        the given attrs are written over the old ones (the element must agree).
    keep_partial_on_error: keep (and flush) the ``.partial`` file when the ``with`` block raises.
    compression: None (default), "gzip" or "lzf".
    flush_bytes: buffer appends in memory up to about this many bytes before writing them.
    """

    def __init__(self, path: str | os.PathLike, attrs: dict[str, Any], resume: bool = False,
                 keep_partial_on_error: bool = False, compression: str | None = None,
                 flush_bytes: int = 32 << 20) -> None:
        self.path = Path(path)
        self.partial = partial_path(self.path)
        self.keep_partial_on_error = keep_partial_on_error
        if compression not in (None, "gzip", "lzf"):
            raise FrameStoreError(f"compression must be None, 'gzip' or 'lzf', got {compression!r}")
        self.compression = compression
        self.flush_bytes = int(flush_bytes)
        attrs = dict(attrs)
        element = attrs.get("element")
        if not isinstance(element, str) or not element:
            raise FrameStoreError(f"{self.path}: attrs['element'] (chemical symbol) is required")
        from ase.data import atomic_numbers

        self.element = element
        self._z = atomic_numbers.get(element)  # None for multi-element labels: not checked
        attrs.setdefault("potential", "")
        attrs.setdefault("potential_sha256", "")
        attrs.setdefault("created_by", f"nnpdistill {__version__}")
        encoded, json_names = _encode_attrs(attrs)

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._buffer: list[tuple[np.ndarray, Frames]] = []
        self._buffer_bytes = 0
        self._n_buffered = 0
        self._closed = False
        self._schema: tuple[tuple[str, ...], dict[str, str]] | None = None
        self._n_written = 0
        if resume and self.partial.exists():
            self._resume(encoded, json_names)
        else:
            if self.partial.exists():
                self.partial.unlink()
            with _h5_errors(self.partial, "creating"):
                self._file = h5py.File(self.partial, "w", locking="best-effort")
                self._write_attrs(self._file, encoded, json_names)
                self._file.flush()  # a valid (empty) store from the start

    # -- setup -----------------------------------------------------------------------------
    @staticmethod
    def _write_attrs(file: h5py.File, encoded: dict[str, Any], json_names: list[str]) -> None:
        a = file.attrs
        a["format"] = FORMAT
        a["format_version"] = np.int64(FORMAT_VERSION)
        a["grouping"] = "by_num_atoms"
        a["units"] = json.dumps(UNITS, sort_keys=True)
        a["json_attrs"] = json.dumps(json_names)
        for k, v in encoded.items():
            a[k] = v

    def _groups(self) -> dict[int, h5py.Group]:
        out = {}
        for name, g in self._file.items():
            m = _GROUP_NAME.match(name)
            if m and isinstance(g, h5py.Group):
                out[int(m.group(1))] = g
        return out

    def _resume(self, encoded: dict[str, Any], json_names: list[str]) -> None:
        """Copy the longest consistent prefix of the partial file into a fresh file and reopen it.

        A killed writer can leave HDF5 metadata (chunk indices, heaps) newer than the last flush;
        writing into such a file in place can corrupt it, so the frames are copied instead (about a
        second per 150 MB).
        """
        fresh = self.partial.with_name(self.partial.name + ".resume")
        try:
            with _h5_errors(self.partial, "reading the partial file to resume"), \
                    h5py.File(self.partial, "r", locking="best-effort") as src:
                old = _decode_attrs(src.attrs)
                if old.get("format") != FORMAT or old.get("format_version") != FORMAT_VERSION:
                    raise FrameStoreError(f"{self.partial}: cannot resume, not a {FORMAT} "
                                          f"v{FORMAT_VERSION} file")
                if old.get("element") != self.element:
                    raise FrameStoreError(f"{self.partial}: cannot resume, it holds element "
                                          f"{old.get('element')!r}, not {self.element!r}")
                groups = _frame_groups(src, self.partial)
                index = {n: g["index"][: _consistent_count(g)] for n, g in groups.items()}
                for n, idx in index.items():
                    if idx.size > 1 and np.any(np.diff(idx) <= 0):
                        raise FrameStoreError(f"{self.partial}: group n{n} has non-increasing indices")
                keep = _contiguous_prefix(index)
                with h5py.File(fresh, "w", locking="best-effort") as dst:
                    self._write_attrs(dst, encoded, json_names)
                    _copy_groups(groups, {n: int(np.count_nonzero(idx < keep)) for n, idx in index.items()},
                                 dst)
            os.replace(fresh, self.partial)
        finally:
            with contextlib.suppress(FileNotFoundError):
                fresh.unlink()
        with _h5_errors(self.partial, "reopening the partial file to resume"):
            self._file = h5py.File(self.partial, "r+", locking="best-effort")
        self._n_written = keep
        groups = self._groups()
        if groups:
            self._schema = _group_schema(next(iter(groups.values())))

    @staticmethod
    def _resize_group(g: h5py.Group, count: int) -> None:
        for ds in g.values():
            if ds.shape[0] != count:
                ds.resize(count, axis=0)

    # -- public ----------------------------------------------------------------------------
    @property
    def n_frames(self) -> int:
        """Frames appended so far (written + buffered)."""
        return self._n_written + self._n_buffered

    def append(self, frames: Frames | Sequence[Frames]) -> None:
        """Append frames (a Frames or a list of them, any atom counts); they get the next global indices."""
        self._check_open()
        parts = [frames] if isinstance(frames, Frames) else list(frames)
        for part in parts:
            if not isinstance(part, Frames):
                raise DatasetError(f"FrameWriter.append expects Frames, got {type(part).__name__}")
            if len(part) == 0:
                continue
            self._check_schema(part)
            if self._z is not None and not np.all(part.numbers == self._z):
                bad = int(np.argmax(~np.all(part.numbers == self._z, axis=1)))
                raise DatasetError(f"{self.path}: frame {bad} of the appended batch holds atomic numbers "
                                   f"{sorted(set(part.numbers[bad].tolist()))}, but the store is for "
                                   f"{self.element} (Z={self._z})")
            start = self.n_frames
            self._buffer.append((np.arange(start, start + len(part), dtype=np.int64), part))
            self._n_buffered += len(part)
            self._buffer_bytes += part.positions.nbytes * (2 + (part.forces is not None))
        if self._buffer_bytes >= self.flush_bytes:
            self._write_buffer()

    def _check_schema(self, part: Frames) -> None:
        meta = {k: v.dtype.kind for k, v in part.meta.items()}
        if self._schema is None:
            self._schema = (part.labels, meta)
            return
        labels, kinds = self._schema
        if part.labels != labels:
            raise DatasetError(f"{self.path}: appended frames have labels {part.labels}, "
                               f"the store has {labels}")
        if set(meta) != set(kinds):
            raise DatasetError(f"{self.path}: appended frames have metadata {sorted(meta)}, the store has "
                               f"{sorted(kinds)}")
        for k, kind in meta.items():
            ok = kind == kinds[k] or (kinds[k] == "f" and kind in "ib") or (kinds[k] == "i" and kind == "b")
            if not ok:
                raise DatasetError(f"{self.path}: metadata {k!r} has kind {kind!r} but the store holds "
                                   f"{kinds[k]!r} (f=float, i=int, b=bool, U=str)")

    def _create_group(self, n: int, part: Frames) -> h5py.Group:
        g = self._file.create_group(_group_name(n))
        frame_bytes = max(1, n * 3 * 8)
        rows = int(np.clip((1 << 20) // frame_bytes, 1, 4096))
        opts = {"compression": self.compression} if self.compression else {}

        def make(name: str, tail: tuple[int, ...], dtype: Any) -> None:
            g.create_dataset(name, shape=(0, *tail), maxshape=(None, *tail), dtype=dtype,
                             chunks=(rows if tail else 4096, *tail), **opts)

        make("species", (n,), np.int64)
        make("coordinates", (n, 3), np.float64)
        make("cell", (3, 3), np.float64)
        make("index", (), np.int64)
        for label in part.labels:
            tail = {"energy": (), "forces": (n, 3), "energies": (n,), "stress": (3, 3)}[label]
            make(_LABELS[label], tail, np.float64)
        kinds = self._schema[1] if self._schema else {}
        for k, v in part.meta.items():
            kind = kinds.get(k, v.dtype.kind)
            make(k, (), {"f": np.float64, "i": np.int64, "b": np.bool_, "U": _STR_DTYPE}[kind])
        return g

    def _write_buffer(self) -> None:
        if not self._buffer:
            return
        by_n: dict[int, list[tuple[np.ndarray, Frames]]] = {}
        for idx, part in self._buffer:
            by_n.setdefault(part.n_atoms, []).append((idx, part))
        groups = self._groups()
        with _h5_errors(self.partial, "writing frames"):
            for n, items in sorted(by_n.items()):
                frames = Frames.concatenate([p for _, p in items]) if len(items) > 1 else items[0][1]
                index = np.concatenate([i for i, _ in items])
                g = groups.get(n) or self._create_group(n, frames)
                old = g["index"].shape[0]
                new = old + len(frames)
                data = {"species": frames.numbers, "coordinates": frames.positions, "cell": frames.cell,
                        "index": index}
                for label in frames.labels:
                    data[_LABELS[label]] = getattr(frames, label)
                for k, v in frames.meta.items():
                    data[k] = v.astype(object) if v.dtype.kind == "U" else v
                if set(data) != set(g.keys()):
                    raise FrameStoreError(f"{self.partial}: group {g.name} holds {sorted(g.keys())}, "
                                          f"frames bring {sorted(data)}")
                # write everything but the index first: a kill midway leaves the index short, and the
                # resume repair drops the incomplete rows.
                for name in [*(k for k in data if k != "index"), "index"]:
                    ds = g[name]
                    ds.resize(new, axis=0)
                    ds[old:new] = data[name]
        self._n_written += self._n_buffered
        self._n_buffered = 0
        self._buffer.clear()
        self._buffer_bytes = 0

    def set_attrs(self, attrs: dict[str, Any]) -> None:
        """Add or replace user attributes (e.g. a result only known at the end of a run)."""
        self._check_open()
        encoded, json_names = _encode_attrs(attrs)
        previous = set(json.loads(self._file.attrs.get("json_attrs", "[]")))
        for key, value in encoded.items():
            self._file.attrs[key] = value
        names = (previous - set(encoded)) | set(json_names)
        self._file.attrs["json_attrs"] = json.dumps(sorted(names))

    def flush(self) -> None:
        """Write buffered frames and flush the HDF5 file to disk."""
        self._check_open()
        self._write_buffer()
        with _h5_errors(self.partial, "flushing"):
            self._file.flush()

    def truncate(self, n: int) -> None:
        """Drop every frame with global index >= n (n <= n_frames)."""
        self._check_open()
        n = int(n)
        if not 0 <= n <= self.n_frames:
            raise FrameStoreError(f"{self.partial}: cannot truncate to {n} frames, it holds {self.n_frames}")
        self._write_buffer()
        with _h5_errors(self.partial, "truncating"):
            for g in self._groups().values():
                index = g["index"][:]
                self._resize_group(g, int(np.count_nonzero(index < n)))
            self._file.flush()
        self._n_written = n

    def _check_open(self) -> None:
        if self._closed:
            raise FrameStoreError(f"{self.path}: writer is closed")

    def close(self) -> Path:
        """Write what is buffered, close, and rename the partial file to ``path``."""
        self._check_open()
        try:
            self._write_buffer()
        finally:
            self._file.close()
            self._closed = True
        compact_store(self.partial)
        os.replace(self.partial, self.path)
        return self.path

    def abort(self) -> None:
        """Close without renaming; remove the partial file unless ``keep_partial_on_error``."""
        if self._closed:
            return
        self._closed = True
        if self.keep_partial_on_error:
            with contextlib.suppress(Exception):
                self._write_buffer()
        with contextlib.suppress(Exception):
            self._file.close()
        if not self.keep_partial_on_error:
            with contextlib.suppress(FileNotFoundError):
                self.partial.unlink()

    def __enter__(self) -> FrameWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_frames(path: str | os.PathLike, frames: Frames | Sequence[Frames], attrs: dict[str, Any],
                 **kwargs: Any) -> Path:
    """Write frames (one Frames or a list, any atom counts) to a new store at ``path``."""
    with FrameWriter(path, attrs, **kwargs) as w:
        w.append(frames)
    return Path(path)


# ----------------------------------------------------------------------------------------------
# reader
# ----------------------------------------------------------------------------------------------


class FrameStore:
    """Read-only view of a frame store, validated on open.

    ``len(store)`` frames with global indices 0..len-1; ``store.sizes`` = {N: frames};
    ``store.read(indices)`` returns one :class:`Frames` (one atom count) in the order given.
    Keeps the file open; use as a context manager or call :meth:`close`.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if not self.path.exists():
            extra = ""
            if partial_path(self.path).exists():
                extra = f" (only {partial_path(self.path).name} exists: an unfinished or killed run)"
            raise FrameStoreError(f"{self.path}: frame store not found{extra}")
        with _h5_errors(self.path, "opening"):
            self._file = h5py.File(self.path, "r", locking="best-effort")
        try:
            self._validate()
        except BaseException:
            self._file.close()
            raise

    def _validate(self) -> None:
        with _h5_errors(self.path, "reading attributes"):
            self._attrs = _decode_attrs(self._file.attrs)
        fmt = self._attrs.get("format")
        if fmt != FORMAT:
            found = f"format attribute {fmt!r}" if fmt is not None else "no 'format' attribute"
            raise FrameStoreError(f"{self.path}: not an nnpdistill frame store ({found}; "
                                  f"expected {FORMAT!r}; "
                                  f"top-level items: {sorted(self._file.keys())[:8]})")
        version = self._attrs.get("format_version")
        if version != FORMAT_VERSION:
            raise FrameStoreError(f"{self.path}: format_version {version} but this nnpdistill reads "
                                  f"format_version {FORMAT_VERSION}")
        self._groups: dict[int, h5py.Group] = {}
        index: dict[int, np.ndarray] = {}
        schema = None
        with _h5_errors(self.path, "reading the group structure"):
            for name, g in self._file.items():
                m = _GROUP_NAME.match(name)
                if not m or not isinstance(g, h5py.Group):
                    raise FrameStoreError(f"{self.path}: unexpected item {name!r} "
                                          "(groups are named n<atoms>)")
                n = int(m.group(1))
                required = ["species", "coordinates", "cell", "index"]
                missing = [k for k in required if k not in g]
                if missing:
                    raise FrameStoreError(f"{self.path}: group {name} lacks dataset(s) {missing}")
                count = g["index"].shape[0]
                for ds_name, ds in g.items():
                    if ds.shape[0] != count:
                        raise FrameStoreError(f"{self.path}: group {name}: dataset {ds_name!r} holds "
                                              f"{ds.shape[0]} frames, 'index' holds {count} "
                                              "(interrupted write?)")
                if g["species"].shape[1:] != (n,) or g["coordinates"].shape[1:] != (n, 3):
                    raise FrameStoreError(f"{self.path}: group {name}: species/coordinates shapes "
                                          f"{g['species'].shape}/{g['coordinates'].shape} "
                                          f"do not hold {n} atoms")
                s = _group_schema(g)
                if schema is None:
                    schema = s
                elif s != schema:
                    raise FrameStoreError(f"{self.path}: group {name} has labels/metadata {s}, "
                                          f"others {schema}")
                self._groups[n] = g
                index[n] = g["index"][:]
        self._labels, self._meta_kinds = schema if schema else ((), {})
        total = sum(v.size for v in index.values())
        if _contiguous_prefix(index) != total:
            raise FrameStoreError(f"{self.path}: global frame indices are not 0..{total - 1} exactly once")
        self._n = total
        self._sizes = {n: int(index[n].size) for n in sorted(index)}
        self._group_of = np.empty(total, dtype=np.int64)
        self._row_of = np.empty(total, dtype=np.int64)
        for n, idx in index.items():
            self._group_of[idx] = n
            self._row_of[idx] = np.arange(idx.size)
        self._index = index

    # -- metadata --------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._n

    def __enter__(self) -> FrameStore:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()

    @property
    def attrs(self) -> dict[str, Any]:
        """Root attributes, decoded (JSON attributes as dicts/lists, numbers as Python scalars)."""
        return dict(self._attrs)

    @property
    def user_attrs(self) -> dict[str, Any]:
        """The attributes a caller gave (element, potential, config, ...): pass them to a new FrameWriter."""
        return {k: v for k, v in self._attrs.items() if k not in _RESERVED_ATTRS}

    @property
    def sizes(self) -> dict[int, int]:
        """{atom count: number of frames}."""
        return dict(self._sizes)

    @property
    def element(self) -> str:
        return self._attrs.get("element", "")

    @property
    def labels(self) -> tuple[str, ...]:
        """Label fields present in every frame (subset of energy, forces, energies, stress)."""
        return self._labels

    @property
    def meta_names(self) -> list[str]:
        return sorted(self._meta_kinds)

    # -- reading ---------------------------------------------------------------------------
    def _normalise(self, indices: Any) -> np.ndarray:
        idx = np.asarray(indices)
        if idx.ndim == 0:
            idx = idx.reshape(1)
        if idx.size == 0:
            return np.zeros(0, dtype=np.int64)
        if idx.dtype.kind == "b":
            if idx.shape != (self._n,):
                raise FrameStoreError(f"{self.path}: boolean mask of shape {idx.shape}, "
                                      f"expected ({self._n},)")
            return np.flatnonzero(idx)
        if idx.dtype.kind not in "iu" or idx.ndim != 1:
            raise FrameStoreError(f"{self.path}: frame indices must be 1-D integers, "
                                  f"got {idx.dtype} {idx.shape}")
        idx = idx.astype(np.int64)
        bad = (idx >= self._n) | (idx < -self._n)
        if bad.any():
            raise FrameStoreError(f"{self.path}: frame index {int(idx[bad][0])} out of range "
                                  f"for {self._n} frames")
        return np.where(idx < 0, idx + self._n, idx)

    def _read_group(self, n: int, rows: np.ndarray | None, labels: bool, meta: bool) -> Frames:
        """Frames at ``rows`` (any order, duplicates allowed; None = all) of group n."""
        g = self._groups[n]
        names = ["species", "coordinates", "cell", "index"]
        if labels:
            names += [_LABELS[k] for k in self._labels]
        if meta:
            names += sorted(self._meta_kinds)
        data: dict[str, np.ndarray] = {}
        with _h5_errors(self.path, f"reading group {g.name}"):
            if rows is None:
                for name in names:
                    ds = g[name]
                    data[name] = _read_str(ds, slice(None)) if self._meta_kinds.get(name) == "U" else ds[:]
            else:
                uniq, inverse = np.unique(rows, return_inverse=True)
                identity = uniq.size == rows.size and bool(np.all(inverse == np.arange(rows.size)))
                # read contiguous runs of the sorted rows (gaps up to `gap` rows are read and dropped)
                gap = max(16, g["coordinates"].chunks[0] // 4)
                breaks = np.flatnonzero(np.diff(uniq) > gap) + 1
                starts = np.concatenate([[0], breaks])
                stops = np.concatenate([breaks, [uniq.size]])
                for name in names:
                    ds = g[name]
                    is_str = self._meta_kinds.get(name) == "U"
                    pieces = []
                    for a, b in zip(starts, stops, strict=True):
                        lo, hi = int(uniq[a]), int(uniq[b - 1]) + 1
                        block = _read_str(ds, slice(lo, hi)) if is_str else ds[lo:hi]
                        pieces.append(block if hi - lo == b - a else block[uniq[a:b] - lo])
                    arr = pieces[0] if len(pieces) == 1 else np.concatenate(pieces)
                    data[name] = arr if identity else arr[inverse]
        kwargs = {k: data.get(_LABELS[k]) for k in _LABELS}
        return Frames(numbers=data["species"], positions=data["coordinates"], cell=data["cell"],
                      meta={k: data[k] for k in sorted(self._meta_kinds) if k in data},
                      index=data["index"], **kwargs)

    def read(self, indices: Any = None, *, labels: bool = True, meta: bool = True) -> Frames:
        """Frames at global ``indices`` (order kept, duplicates and negatives allowed; None = all).

        All requested frames must have the same atom count. ``labels=False`` / ``meta=False`` skip
        reading those datasets.
        """
        if indices is None:
            if len(self._sizes) > 1:
                raise FrameStoreError(f"{self.path}: holds several atom counts {self._sizes}; "
                                      "use groups() or pass indices of one atom count")
            if not self._sizes:
                raise FrameStoreError(f"{self.path}: holds no frames")
            return self._read_group(next(iter(self._sizes)), None, labels, meta)
        idx = self._normalise(indices)
        if idx.size == 0:
            raise FrameStoreError(f"{self.path}: no frame indices given")
        ns = np.unique(self._group_of[idx])
        if ns.size > 1:
            counts = {int(n): int(np.count_nonzero(self._group_of[idx] == n)) for n in ns}
            raise FrameStoreError(f"{self.path}: requested frames span several atom counts "
                                  f"(atoms: frames requested = {counts}); read them separately")
        return self._read_group(int(ns[0]), self._row_of[idx], labels, meta)

    def groups(self, *, labels: bool = True, meta: bool = True) -> list[Frames]:
        """All frames, one Frames per atom count (ascending N), each in global order."""
        return [self._read_group(n, None, labels, meta) for n in self._sizes]

    def iter_read(self, indices: Any = None, batch_size: int = 1000, *, labels: bool = True,
                  meta: bool = True) -> Iterator[Frames]:
        """Yield Frames covering ``indices`` (None = all) in the order given, in batches of at most
        ``batch_size`` frames, each batch of one atom count (mixed counts are split)."""
        idx = np.arange(self._n) if indices is None else self._normalise(indices)
        for a in range(0, idx.size, batch_size):
            chunk = idx[a:a + batch_size]
            groups = self._group_of[chunk]
            cut = np.flatnonzero(np.diff(groups)) + 1
            for part in np.split(chunk, cut):
                if part.size:
                    yield self._read_group(int(self._group_of[part[0]]), self._row_of[part], labels, meta)

    def meta(self, name: str) -> np.ndarray:
        """(F,) metadata ``name`` over all frames in global order (reads nothing else).

        ``index`` gives the global indices themselves and ``n_atoms`` the atom count of each frame.
        """
        if name == "n_atoms":
            return self._group_of.copy()
        if name == "index":
            return np.arange(self._n)
        if name not in self._meta_kinds:
            raise FrameStoreError(f"{self.path}: no metadata {name!r}; present: {sorted(self._meta_kinds)}")
        kind = self._meta_kinds[name]
        dtype = {"f": np.float64, "i": np.int64, "b": np.bool_}.get(kind)
        parts = {}
        with _h5_errors(self.path, f"reading metadata {name!r}"):
            for n, g in self._groups.items():
                ds = g[name]
                parts[n] = _read_str(ds, slice(None)) if kind == "U" else ds[:]
        if kind == "U":
            width = max([p.dtype.itemsize // 4 for p in parts.values()] + [1])
            dtype = f"U{width}"
        out = np.empty(self._n, dtype=dtype)
        for n, values in parts.items():
            out[self._index[n]] = values
        return out

    def to_atoms(self, indices: Any = None) -> list[Any]:
        """ASE Atoms for ``indices`` (None = all; atom counts may be mixed), order kept."""
        out = []
        for frames in self.iter_read(indices):
            out.extend(frames.to_atoms())
        return out


# ----------------------------------------------------------------------------------------------
# extended XYZ
# ----------------------------------------------------------------------------------------------


def _fmt_float(x: float) -> str:
    """Shortest exact repr, always with a '.' so ASE's key=value parser keeps it a float."""
    r = repr(float(x))
    if "." in r or not any(c.isdigit() for c in r):
        return r
    if "e" in r:
        mantissa, exp = r.split("e")
        return f"{mantissa}.0e{exp}"
    return r + ".0"


def _fmt_info_value(name: str, value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "T" if value else "F"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return _fmt_float(value)
    s = str(value)
    if any(c in s for c in '"{}\n\r'):
        raise DatasetError(f"metadata {name!r} value {s!r} contains a quote, brace or newline, "
                           "which extended XYZ cannot hold")
    return f'"{s}"'


def _extxyz_frames(frames: Frames) -> Iterator[str]:
    from ase.data import chemical_symbols

    symbols = np.array(chemical_symbols, dtype=object)
    props = "species:S:1:pos:R:3"
    cols = [frames.positions]
    if frames.forces is not None:
        props += ":forces:R:3"
        cols.append(frames.forces)
    if frames.energies is not None:
        props += ":energies:R:1"
        cols.append(frames.energies[:, :, None])
    table = np.concatenate(cols, axis=2)
    ncol = table.shape[2]
    row_fmt = "%s" + " %r" * ncol + "\n"
    meta = {k: v.tolist() for k, v in frames.meta.items()}
    for i in range(len(frames)):
        header = ['Lattice="' + " ".join(_fmt_float(x) for x in frames.cell[i].ravel()) + '"',
                  f"Properties={props}"]
        if frames.energy is not None:
            header.append(f"energy={_fmt_float(frames.energy[i])}")
        if frames.stress is not None:
            stress = " ".join(_fmt_float(x) for x in frames.stress[i].ravel(order="F"))
            header.append(f'stress="{stress}"')
        header.append('pbc="T T T"')
        if frames.index is not None:
            header.append(f"frame_index={int(frames.index[i])}")
        header.extend(f"{k}={_fmt_info_value(k, v[i])}" for k, v in meta.items())
        syms = symbols[frames.numbers[i]]
        body = "".join(row_fmt % (s, *row) for s, row in zip(syms, table[i].tolist(), strict=True))
        yield f"{frames.n_atoms}\n{' '.join(header)}\n{body}"


def write_extxyz(out_path: str | os.PathLike, frames: Frames | Sequence[Frames]) -> Path:
    """Write frames to extended XYZ atomically, with exact (shortest round-trip) floats."""
    parts = [frames] if isinstance(frames, Frames) else list(frames)
    with atomic_path(out_path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for part in parts:
            fh.writelines(_extxyz_frames(part))
    return Path(out_path)


def export_extxyz(h5_path: str | os.PathLike, out_path: str | os.PathLike, indices: Any = None,
                  batch_size: int = 1000) -> int:
    """Export frames of a store (None = all, in global order) to extended XYZ; returns frames written.

    Each frame's comment line holds Lattice, Properties (species, pos, forces, energies), energy,
    stress (eV/Å³, ASE sign), pbc, frame_index and the metadata, all readable by ``ase.io.read``.
    Floats are written as their shortest exact repr, so values read back are bitwise equal (except
    NaN metadata, which ASE reads as the string "nan"). The file appears only when complete.
    """
    count = 0
    with FrameStore(h5_path) as store, atomic_path(out_path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for frames in store.iter_read(indices, batch_size=batch_size):
            fh.writelines(_extxyz_frames(frames))
            count += len(frames)
    return count
