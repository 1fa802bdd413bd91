"""The distillation loop, one iteration at a time (the workflow turns iterations into DAG jobs).

Iteration 0 starts every strategy from the same seeded random subset of the pool. Iteration i > 0
adds ``k`` frames to the selection of iteration i − 1, chosen by the strategy:

- ``uncertainty`` (active learning): the frames with the largest frame score (max or mean over atoms
  of the ensemble's atomic uncertainty, i.e. the std across members of per-atom energies), with an
  optional per-(H, O)-cell cap against near-duplicate picks;
- ``random`` and ``grid`` (equal frames per energy × order-parameter cell): the baselines;
- ``fps``: farthest-point sampling on per-frame mean descriptors.

Once a convergence target is met (pool MAE or mean uncertainty), later iterations add nothing and
become cheap pass-throughs. A selection is a CSV (``frame_index``, ``iteration_added``) so that it
can be read, diffed and audited; the final selection is also written as its own frame store with a
JSON manifest (source pool, strategy, iteration, indices, seeds, potential checksum).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import selection as sel
from .errors import NNPDistillError
from .frames import FrameStore, write_frames
from .io_utils import atomic_path, sha256_file

SELECTION_COLUMNS = ("frame_index", "iteration_added")


@dataclass(frozen=True)
class Budget:
    """How many frames iteration 0 starts with and how many each later iteration adds."""

    n_initial: int
    n_per_iteration: int

    def size_at(self, iteration: int) -> int:
        return self.n_initial + iteration * self.n_per_iteration


def read_selection(path: str | os.PathLike) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise NNPDistillError(f"selection file {path} does not exist")
    df = pd.read_csv(path)
    missing = set(SELECTION_COLUMNS) - set(df.columns)
    if missing:
        raise NNPDistillError(f"selection file {path} lacks column(s) {sorted(missing)}")
    if df["frame_index"].duplicated().any():
        raise NNPDistillError(f"selection file {path} repeats a frame")
    return df


def write_selection(df: pd.DataFrame, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        df.loc[:, list(SELECTION_COLUMNS)].to_csv(tmp, index=False)


def initial_selection(n_pool: int, n_initial: int, seed: int) -> pd.DataFrame:
    idx = sel.initial_random(n_pool, n_initial, seed)
    return pd.DataFrame({"frame_index": idx, "iteration_added": 0})


def pool_cells(store: FrameStore, n_energy_bins: int, n_order_bins: int) -> np.ndarray:
    """Grid cell of every pool frame on (energy per atom × order parameter / N)."""
    energy = _energy_per_atom(store)
    order = store.meta("order_parameter") if "order_parameter" in store.meta_names else np.zeros(len(store))
    return sel.grid_cells(energy, order, n_energy_bins, n_order_bins)


def _energy_per_atom(store: FrameStore) -> np.ndarray:
    out = np.empty(len(store))
    for frames in store.groups(labels=True, meta=False):
        if frames.energy is None:
            raise NNPDistillError(f"pool {store.path} has no energies: label it first")
        out[frames.index] = frames.energy / frames.n_atoms
    return out


def next_selection(
    strategy: str,
    previous: pd.DataFrame,
    iteration: int,
    k: int,
    *,
    n_pool: int,
    seed: int,
    scores: np.ndarray | None = None,
    cells: np.ndarray | None = None,
    max_per_cell: int | None = None,
    features: np.ndarray | None = None,
    converged: bool = False,
) -> pd.DataFrame:
    """Selection of ``iteration`` = selection of ``iteration - 1`` plus ``k`` frames by ``strategy``."""
    if strategy not in sel.STRATEGIES:
        raise NNPDistillError(f"unknown strategy {strategy!r}; choose one of {', '.join(sel.STRATEGIES)}")
    chosen = previous["frame_index"].to_numpy(dtype=np.int64)
    if converged or k == 0:
        new = np.empty(0, dtype=np.int64)
    elif strategy == "random":
        new = sel.select_random(n_pool, chosen, k, seed)
    elif strategy == "grid":
        if cells is None:
            raise NNPDistillError("grid selection needs the pool's grid cells")
        new = sel.select_grid(cells, chosen, k, seed)
    elif strategy == "uncertainty":
        if scores is None:
            raise NNPDistillError("uncertainty selection needs frame scores of the previous ensemble")
        new = sel.select_uncertainty(scores, chosen, k, cells=cells, max_per_cell=max_per_cell)
    else:
        if features is None:
            raise NNPDistillError("fps selection needs per-frame descriptors")
        new = sel.select_fps(features, chosen, k, seed)
    added = pd.DataFrame({"frame_index": new, "iteration_added": iteration})
    return pd.concat([previous.loc[:, list(SELECTION_COLUMNS)], added], ignore_index=True)


def write_subset(pool_path: str | os.PathLike, indices: np.ndarray, out_path: str | os.PathLike,
                 extra_attrs: dict | None = None) -> None:
    """Write the frames ``indices`` of a pool (any atom counts) as a frame store of their own.

    The subset keeps the pool's attributes plus ``source_pool``, ``source_pool_sha256`` and the indices.
    """
    indices = np.sort(np.asarray(indices, dtype=np.int64))
    with FrameStore(pool_path) as store:
        attrs = store.user_attrs
        parts = list(store.iter_read(indices, batch_size=max(1, indices.size)))
    attrs.update(extra_attrs or {})
    attrs["source_pool"] = str(pool_path)
    attrs["source_pool_sha256"] = sha256_file(pool_path)
    attrs["source_indices"] = indices.tolist()
    write_frames(out_path, parts, attrs)
