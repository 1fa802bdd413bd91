"""Reading frame stores: :class:`FrameStore`, validated on open, read by global frame index."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..errors import FrameStoreError
from ..io_utils import partial_path
from .container import Frames
from .format import (
    _GROUP_NAME,
    _LABELS,
    _RESERVED_ATTRS,
    FORMAT,
    FORMAT_VERSION,
    _contiguous_prefix,
    _decode_attrs,
    _group_schema,
    _h5_errors,
    _read_str,
)

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
