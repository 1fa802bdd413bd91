"""The frame-store format: names, units, attribute codec and low-level HDF5 group access."""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator
from typing import Any

import h5py
import numpy as np

from ..errors import FrameStoreError

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
