"""Writing frame stores: :class:`FrameWriter` (append, resume, compact) and :func:`write_frames`."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from .. import __version__
from ..errors import DatasetError, FrameStoreError
from ..io_utils import partial_path
from .container import Frames
from .format import (
    _GROUP_NAME,
    _LABELS,
    _STR_DTYPE,
    FORMAT,
    FORMAT_VERSION,
    UNITS,
    _consistent_count,
    _contiguous_prefix,
    _decode_attrs,
    _encode_attrs,
    _group_name,
    _group_schema,
    _h5_errors,
)

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
