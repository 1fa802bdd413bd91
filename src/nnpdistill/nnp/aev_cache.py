"""Pool descriptor (AEV) cache: compute every atom's AEV of a pool once, score it with many ensembles.

The AEVs of a pool depend only on its geometry and on the AEV settings (element, cutoffs, shifts, etas,
zeta, angle sections, cutoff function), not on the networks, which are all that change between
iterations of the distillation loop. The per-member standardisation ``(x - mean) * inv_std`` comes after
the AEV, so scoring from a cache evaluates only the member networks (+ self-energy) per atom.

File layout (HDF5, written under a ``.partial`` name and renamed on success):

- attributes: ``format = "nnpdistill-aev-cache"``, ``version``, ``settings_hash`` (see
  :func:`aev_settings_hash`), ``settings_json`` (the resolved AEV settings), ``pool_path`` (the pool
  file's name, not its folder, so that a run under another results folder writes the same bytes),
  ``pool_sha256`` (of the pool file's bytes; "" for an in-memory source), ``frames_digest`` (sha256 of
  the atom counts, global indices, atomic numbers, positions and cells, float64/int64 bytes),
  ``n_features``, ``compute_dtype``, ``store_dtype`` (no wall time: the file must be byte-reproducible);
- one HDF5 group ``group_{k}`` per atom-count group of the pool (the order of
  :func:`nnpdistill.nnp.data.load_groups`): attribute ``n_atoms``, datasets ``index (F,)`` (global
  frame indices) and ``aevs (F, N, D)``, chunked by frames.

AEVs are computed in float64 and stored as float32 by default (a 108-atom pool of 20,000 frames with
48 features: 415 MB). Storing float32 changes per-atom energies by ~1e-7 eV (see the tests and
benchmarks/bench_nnp.py), four orders of magnitude below the 0.5-5 meV/atom errors we report.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import torch

from ..errors import DatasetError, NNPDistillError
from ..io_utils import atomic_path, sha256_file
from .batch import compute_aevs, neighbor_pairs
from .builder import NNPSettings, build_model
from .data import Group, check_groups, load_groups

log = logging.getLogger("nnpdistill.nnp.aev_cache")

CACHE_FORMAT = "nnpdistill-aev-cache"
CACHE_VERSION = 1
# the NNPSettings fields that define the AEV computer (etas resolved: None means "from the spacing")
AEV_FIELDS = ("element", "radial_cutoff_A", "radial_start_A", "radial_shifts", "radial_eta_per_A2",
              "angular_cutoff_A", "angular_start_A", "angular_shifts", "angular_sections",
              "angular_eta_per_A2", "angular_zeta", "cutoff_fn")


class AEVCacheMismatchError(DatasetError):
    """The AEV cache was made for other AEV settings or for other frames than the ones to score."""


def _as_settings(settings: NNPSettings | dict, element: str | None = None) -> NNPSettings:
    if isinstance(settings, NNPSettings):
        if element is not None and element != settings.element:
            raise NNPDistillError(f"element {element!r} does not match the settings' {settings.element!r}")
        return settings
    d = dict(settings)
    if element is not None:
        if d.get("element", element) != element:
            raise NNPDistillError(f"element {element!r} does not match the settings' {d['element']!r}")
        d["element"] = element
    return NNPSettings.from_dict(d)


def aev_settings(settings: NNPSettings | dict, element: str | None = None) -> dict:
    """The resolved AEV-relevant settings (lengths in Å, etas in 1/Å²) of ``settings``.

    ``settings`` is an :class:`NNPSettings` or a config dict of its fields (``element`` may come
    separately, as in the element config, where it is the element's symbol). Etas left at None are
    replaced by their value from the shift spacing, so equal AEV computers give equal dicts.
    """
    s = _as_settings(settings, element)
    return {
        "element": str(s.element),
        "radial_cutoff_A": float(s.radial_cutoff_A),
        "radial_start_A": float(s.radial_start_A),
        "radial_shifts": int(s.radial_shifts),
        "radial_eta_per_A2": float(s.radial_eta()),
        "angular_cutoff_A": float(s.angular_cutoff_A),
        "angular_start_A": float(s.angular_start_A),
        "angular_shifts": int(s.angular_shifts),
        "angular_sections": int(s.angular_sections),
        "angular_eta_per_A2": float(s.angular_eta()),
        "angular_zeta": float(s.angular_zeta),
        "cutoff_fn": str(s.cutoff_fn),
    }


def aev_settings_hash(settings: NNPSettings | dict, element: str | None = None) -> str:
    """16 hex digits identifying the AEV computer that ``settings`` build (and the cache format).

    Equal for a config dict and for the settings of any model built from it; independent of the
    networks, the self-energy and the training settings.
    """
    payload = {"format": CACHE_FORMAT, "version": CACHE_VERSION, **aev_settings(settings, element)}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def frames_digest(groups: list[Group]) -> str:
    """sha256 over every group's atom count, global indices, atomic numbers, positions and cells."""
    h = hashlib.sha256()
    for g in groups:
        h.update(np.int64(g.n_atoms).tobytes())
        for arr, dtype in ((g.index, np.int64), (g.numbers, np.int64), (g.positions, np.float64),
                           (g.cell, np.float64)):
            h.update(np.ascontiguousarray(arr, dtype=dtype).tobytes())
    return h.hexdigest()


@dataclass
class AEVCacheInfo:
    """What :func:`compute_pool_aevs` wrote: ``n_atoms`` in all, ``seconds`` of compute."""

    path: Path
    settings_hash: str
    n_frames: int
    n_atoms: int
    n_features: int
    seconds: float

    @property
    def atoms_per_second(self) -> float:
        return float(self.n_atoms / max(self.seconds, 1e-12))


def compute_pool_aevs(
    source,
    settings: NNPSettings | dict,
    out_path: str | os.PathLike,
    *,
    element: str | None = None,
    batch_frames: int = 64,
    compute_dtype: torch.dtype = torch.float64,
    store_dtype: str = "float32",
    progress: bool = False,
) -> AEVCacheInfo:
    """Compute the AEVs of every atom of ``source`` (frame store path or Frames-like) and write them.

    AEVs are computed in ``compute_dtype`` and stored as ``store_dtype`` ("float32" or "float64"),
    streamed ``batch_frames`` frames at a time (memory: one batch, not the pool).
    """
    if store_dtype not in ("float32", "float64"):
        raise NNPDistillError(f"store_dtype must be float32 or float64, got {store_dtype!r}")
    if batch_frames < 1:
        raise NNPDistillError(f"batch_frames must be >= 1, got {batch_frames}")
    t0 = time.perf_counter()
    s = _as_settings(settings, element)
    groups = load_groups(source)
    model = build_model(s, n_members=1, seed=0, dtype=compute_dtype)
    check_groups(groups, model.atomic_number, s.element, need_energy=False, name=str(source))
    is_path = isinstance(source, (str, os.PathLike))
    n_features = int(model.aev_computer.out_dim)
    n_total = sum(g.n_frames for g in groups)
    from ..runtime import Progress

    bar = Progress(n_total, "AEVs", "frame", enabled=progress)
    with atomic_path(out_path) as tmp, h5py.File(tmp, "w") as fh:
        fh.attrs["format"] = CACHE_FORMAT
        fh.attrs["version"] = CACHE_VERSION
        fh.attrs["settings_hash"] = aev_settings_hash(s)
        fh.attrs["settings_json"] = json.dumps(aev_settings(s), sort_keys=True)
        fh.attrs["pool_path"] = Path(source).name if is_path else ""  # the bytes must not name the folder
        fh.attrs["pool_sha256"] = sha256_file(source) if is_path else ""
        fh.attrs["frames_digest"] = frames_digest(groups)
        fh.attrs["n_features"] = n_features
        fh.attrs["compute_dtype"] = str(compute_dtype).replace("torch.", "")
        fh.attrs["store_dtype"] = store_dtype
        with torch.no_grad():
            for k, g in enumerate(groups):
                grp = fh.create_group(f"group_{k}")
                grp.attrs["n_atoms"] = g.n_atoms
                grp.create_dataset("index", data=g.index.astype(np.int64))
                chunk_frames = max(1, min(g.n_frames, (1 << 20) // (g.n_atoms * n_features * 4)))
                ds = grp.create_dataset("aevs", shape=(g.n_frames, g.n_atoms, n_features), dtype=store_dtype,
                                        chunks=(chunk_frames, g.n_atoms, n_features))
                for a in range(0, g.n_frames, batch_frames):
                    b = min(a + batch_frames, g.n_frames)
                    pairs = neighbor_pairs(g.positions[a:b], g.cell[a:b], model.cutoff_A)
                    aevs = compute_aevs(model, torch.tensor(g.positions[a:b], dtype=compute_dtype),
                                        torch.tensor(g.cell[a:b], dtype=compute_dtype), pairs)
                    ds[a:b] = aevs.reshape(b - a, g.n_atoms, n_features).numpy().astype(store_dtype)
                    if bar is not None:
                        bar.update(b - a)
        seconds = time.perf_counter() - t0
    if bar is not None:
        bar.close()
    n_atoms = sum(g.n_frames * g.n_atoms for g in groups)
    info = AEVCacheInfo(Path(out_path), aev_settings_hash(s), n_total, n_atoms, n_features, seconds)
    log.info("AEVs of %d frames (%d atoms, %d features) written to %s in %.1f s: %.0f atoms/s", n_total,
             n_atoms, n_features, out_path, seconds, info.atoms_per_second)
    return info


class AEVCache:
    """Read-only view of an AEV cache file (validated on open). Use as a context manager."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise DatasetError(f"AEV cache {self.path} does not exist")
        try:
            self._file = h5py.File(self.path, "r", locking="best-effort")
        except OSError as exc:
            raise DatasetError(f"AEV cache {self.path} is not a readable HDF5 file: {exc}") from exc
        try:
            a = self._file.attrs
            if a.get("format") != CACHE_FORMAT:
                raise DatasetError(f"{self.path} is not an nnpdistill AEV cache (format {a.get('format')!r})")
            if int(a.get("version", -1)) != CACHE_VERSION:
                raise DatasetError(f"AEV cache {self.path} has version {a.get('version')}; this nnpdistill "
                                   f"reads version {CACHE_VERSION}: compute it again")
            self.settings_hash = str(a["settings_hash"])
            self.settings = json.loads(str(a["settings_json"]))
            self.pool_path = str(a["pool_path"])
            self.pool_sha256 = str(a["pool_sha256"])
            self.frames_digest = str(a["frames_digest"])
            self.n_features = int(a["n_features"])
            names = sorted((k for k in self._file if k.startswith("group_")), key=lambda k: int(k[6:]))
            self._groups = [self._file[k] for k in names]
        except BaseException:
            self._file.close()
            raise

    def __enter__(self) -> AEVCache:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()

    @property
    def n_groups(self) -> int:
        return len(self._groups)

    def group_n_atoms(self, k: int) -> int:
        return int(self._groups[k].attrs["n_atoms"])

    def group_index(self, k: int) -> np.ndarray:
        return self._groups[k]["index"][()]

    def read(self, k: int, start: int, stop: int) -> np.ndarray:
        """AEVs of frames ``start:stop`` of group ``k``: ``(stop - start, N, D)`` as stored."""
        return self._groups[k]["aevs"][start:stop]

    def check(self, settings: NNPSettings, groups: list[Group], pool_path: str | os.PathLike | None = None
              ) -> None:
        """Raise :class:`AEVCacheMismatchError` unless the cache fits ``settings`` and ``groups``.

        ``pool_path``: the pool file the groups came from; its sha256 must be the one stored.
        """
        want = aev_settings_hash(settings)
        if want != self.settings_hash:
            mine = aev_settings(settings)
            diff = [f"{k}: cache {self.settings.get(k)!r}, model {mine[k]!r}"
                    for k in sorted(mine) if self.settings.get(k) != mine[k]]
            raise AEVCacheMismatchError(
                f"AEV cache {self.path} was computed with other AEV settings (hash {self.settings_hash}) "
                f"than the model's (hash {want}): {'; '.join(diff) or 'cache format changed'}")
        if pool_path is not None and self.pool_sha256:
            sha = sha256_file(pool_path)
            if sha != self.pool_sha256:
                raise AEVCacheMismatchError(
                    f"AEV cache {self.path} was computed for pool file {self.pool_path!r} "
                    f"(sha256 {self.pool_sha256[:12]}...), not for {str(pool_path)!r} (sha256 {sha[:12]}...)")
        shapes = [(g.n_atoms, g.n_frames) for g in groups]
        mine = [(self.group_n_atoms(k), len(self._groups[k]["index"])) for k in range(self.n_groups)]
        if shapes != mine:
            raise AEVCacheMismatchError(
                f"AEV cache {self.path} holds groups (atoms, frames) {mine}, the pool {shapes}")
        if self.n_features != (want_d := _n_features(settings)):
            raise AEVCacheMismatchError(f"AEV cache {self.path} has {self.n_features} features, the model "
                                        f"{want_d}")
        digest = frames_digest(groups)
        if digest != self.frames_digest:
            raise AEVCacheMismatchError(
                f"AEV cache {self.path} was computed for other frames (geometry digest "
                f"{self.frames_digest[:12]}...) than the {sum(shapes_[1] for shapes_ in shapes)} frames to "
                f"score (digest {digest[:12]}...): the pool changed since; compute the cache again")


def frame_descriptors(path: str | os.PathLike, chunk_frames: int = 512) -> np.ndarray:
    """Per-frame descriptors of a pool from its AEV cache: the mean and the standard deviation over a
    frame's atoms of each AEV feature, ``(F, 2 D)`` in global frame order (float64). Pooled this way a
    frame's descriptor does not depend on the order or number of its atoms."""
    with AEVCache(path) as cache:
        parts, index = [], []
        for k in range(cache.n_groups):
            idx = cache.group_index(k)
            for start in range(0, len(idx), chunk_frames):
                a = cache.read(k, start, min(start + chunk_frames, len(idx))).astype(np.float64)
                parts.append(np.concatenate([a.mean(1), a.std(1)], axis=1))
            index.append(idx)
    if not parts:
        raise DatasetError(f"AEV cache {path} holds no frames")
    feats, index = np.concatenate(parts), np.concatenate(index)
    if not np.array_equal(np.sort(index), np.arange(len(index))):
        raise DatasetError(f"AEV cache {path} does not hold frames 0..{len(index) - 1} once each")
    out = np.empty_like(feats)
    out[index] = feats
    return out


def _n_features(s: NNPSettings) -> int:
    n_radial = int(s.radial_shifts)
    n_angular = int(s.angular_shifts) * int(s.angular_sections)
    return n_radial + n_angular  # one element: one radial block, one angular pair block
