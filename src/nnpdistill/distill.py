"""The distillation loop, one iteration at a time (the workflow turns iterations into DAG jobs).

Iteration 0 starts every strategy from the same seeded random subset of the pool. Iteration i > 0
adds ``k`` frames to the selection of iteration i − 1, chosen by the strategy:

- ``uncertainty`` (active learning): the frames with the largest frame score (max or mean over atoms
  of the ensemble's atomic uncertainty, i.e. the std across members of per-atom energies), with an
  optional per-(H, O)-cell cap against near-duplicate picks;
- ``random`` and ``grid`` (equal frames per energy × order-parameter cell): the baselines;
- ``fps``, ``fps_aev``, ``direct``: farthest-point sampling and DIRECT on per-frame descriptors;
- ``quests``: the next frames of a one-off QUESTS ranking of the pool (:func:`rank_frames`).

Once a convergence target is met (pool MAE or mean uncertainty), later iterations add nothing and
become cheap pass-throughs. A selection is a CSV (``frame_index``, ``iteration_added``) so that it
can be read, diffed and audited; the final selection is also written as its own frame store with a
JSON manifest (source pool, strategy, iteration, indices, seeds, potential checksum).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from . import selection as sel
from .defaults import default
from .errors import NNPDistillError
from .figure2 import plot_learning_curves  # noqa: F401  (re-exported: the distillation's Figure 2)
from .frames import FrameStore, write_frames
from .io_utils import atomic_path, sha256_file

SELECTION_COLUMNS = ("frame_index", "iteration_added")


def _read_frame_csv(path: str | os.PathLike, columns: tuple[str, ...], what: str) -> pd.DataFrame:
    """A CSV of frame indices with ``columns``, each frame at most once (else a clear error)."""
    path = Path(path)
    if not path.is_file():
        raise NNPDistillError(f"{what} file {path} does not exist")
    df = pd.read_csv(path)
    missing = set(columns) - set(df.columns)
    if missing:
        raise NNPDistillError(f"{what} file {path} lacks column(s) {sorted(missing)}")
    if df["frame_index"].duplicated().any():
        raise NNPDistillError(f"{what} file {path} repeats a frame")
    return df


def read_selection(path: str | os.PathLike) -> pd.DataFrame:
    return _read_frame_csv(path, SELECTION_COLUMNS, "selection")


def write_selection(df: pd.DataFrame, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        df.loc[:, list(SELECTION_COLUMNS)].to_csv(tmp, index=False)


def initial_selection(n_pool: int, n_initial: int, seed: int) -> pd.DataFrame:
    idx = sel.initial_random(n_pool, n_initial, seed)
    return pd.DataFrame({"frame_index": idx, "iteration_added": 0})


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
    acquisition: str = "top_k",
    power_beta: float = 1.0,
    features: np.ndarray | None = None,
    ranking: np.ndarray | None = None,
    converged: bool = False,
    candidates: float = 4.0,
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
        new = sel.select_uncertainty(scores, chosen, k, cells=cells, max_per_cell=max_per_cell,
                                     acquisition=acquisition, power_beta=power_beta, seed=seed)
    elif strategy in ("ceiling", "force_committee"):
        if scores is None:
            raise NNPDistillError(f"{strategy} selection needs the previous ensemble's "
                                  + ("true errors" if strategy == "ceiling" else "force deviations"))
        new = sel.select_ceiling(scores, chosen, k)  # the k largest scores
    elif strategy == "uncertainty_diverse":
        if scores is None or features is None:
            raise NNPDistillError("uncertainty_diverse needs the previous ensemble's frame scores and the "
                                  "pool's frame descriptors")
        new = sel.select_diverse_uncertainty(scores, features, chosen, k, seed, candidates)
    elif strategy in sel.RANKED_STRATEGIES:
        if ranking is None:
            raise NNPDistillError(f"{strategy} selection needs the pool's ranking (rank_frames)")
        new = sel.select_ranked(ranking, chosen, k)
    else:  # fps, fps_aev, direct
        if features is None:
            raise NNPDistillError(f"{strategy} selection needs per-frame descriptors")
        pick = sel.select_direct if strategy == "direct" else sel.select_fps
        new = pick(features, chosen, k, seed)
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
    # a name, not a path: the file must not depend on where results live
    attrs["source_pool"] = Path(pool_path).name
    attrs["source_pool_sha256"] = sha256_file(pool_path)
    attrs["source_indices"] = indices.tolist()
    write_frames(out_path, parts, attrs)


def subsample_pool(pool_path: str | os.PathLike, out_path: str | os.PathLike, count: int | None,
                   seed: int) -> np.ndarray:
    """Write ``count`` seeded random frames of a pool (``None``: all of them) as a training set."""
    with FrameStore(pool_path) as store:
        n_pool = len(store)
    if count is None:
        indices = np.arange(n_pool, dtype=np.int64)
    else:
        if count > n_pool:
            raise NNPDistillError(f"cannot draw {count} frames from {pool_path}: it holds {n_pool}")
        indices = sel.initial_random(n_pool, count, seed)
    write_subset(pool_path, indices, out_path, extra_attrs={"subset_seed": int(seed)})
    return indices


# ----------------------------------------------------------------------------------------------
# one iteration of the loop, from the previous iteration's pool predictions
# ----------------------------------------------------------------------------------------------

SCORE_COLUMN = {"max": "uq_max_eV", "mean": "uq_mean_eV"}


def _aligned(scores: pd.DataFrame, column: str, n_pool: int) -> np.ndarray:
    if column not in scores:
        raise NNPDistillError(f"pool predictions have no column {column!r}")
    idx = scores["frame_index"].to_numpy(dtype=np.int64)
    if idx.size != n_pool or np.unique(idx).size != n_pool or idx.min() != 0 or idx.max() != n_pool - 1:
        raise NNPDistillError(f"pool predictions do not cover the {n_pool} frames of the pool exactly once")
    out = np.empty(n_pool)
    out[idx] = scores[column].to_numpy(dtype=float)
    return out


def converged(scores: pd.DataFrame, cfg: dict) -> tuple[bool, str]:
    """Whether the previous ensemble already meets the configured MAE or uncertainty target."""
    cfg = {**default("distill"), **cfg}  # the schema's defaults under what is given
    mae = float(scores["abs_error_meV_per_atom"].mean())
    uq = float(scores[SCORE_COLUMN[cfg["score"]]].mean())
    target_mae, target_uq = cfg.get("target_mae_meV_per_atom"), cfg.get("target_uq_eV")
    if target_mae is not None and mae <= target_mae:
        return True, f"pool MAE {mae:.3f} meV/atom <= target {target_mae}"
    if target_uq is not None and uq <= target_uq:
        return True, f"mean frame uncertainty {uq:.4g} eV <= target {target_uq}"
    return False, f"pool MAE {mae:.3f} meV/atom, mean frame uncertainty {uq:.4g} eV"


def _standardised(feats: np.ndarray) -> np.ndarray:
    std = feats.std(axis=0)
    return (feats - feats.mean(axis=0)) / np.where(std > 0, std, 1.0)


def select_iteration(strategy: str, previous: pd.DataFrame, scores: pd.DataFrame, iteration: int,
                     cfg: dict, seed: int, n_pool: int, descriptors: np.ndarray | None = None,
                     ranking: np.ndarray | None = None) -> tuple[pd.DataFrame, str]:
    """The selection of ``iteration`` from the previous selection and the previous ensemble's scores
    over the whole pool of ``n_pool`` frames. ``descriptors`` (n_pool, D): the frames' pooled AEVs
    (:func:`nnpdistill.nnp.aev_cache.frame_descriptors`), needed by ``fps_aev`` and ``direct``;
    ``ranking``: the frame order of a ranked strategy (``quests``; :func:`read_ranking`).

    ``cfg`` is the element's ``distill`` settings (the schema's defaults fill what it lacks). Returns the
    selection and a one-line reason.
    """
    cfg = {**default("distill"), **cfg}
    done, reason = converged(scores, cfg)
    energy = _aligned(scores, "energy_true_eV_per_atom", n_pool)
    order = _aligned(scores, "order_parameter", n_pool) if "order_parameter" in scores else np.zeros(n_pool)
    kwargs: dict = {"n_pool": n_pool, "seed": seed, "converged": done}
    if strategy == "uncertainty":
        kwargs["scores"] = _aligned(scores, SCORE_COLUMN[cfg["score"]], n_pool)
        kwargs["acquisition"] = cfg["acquisition"]
        kwargs["power_beta"] = float(cfg["power_beta"])
        if cfg["guard_max_per_cell"]:
            kwargs["cells"] = sel.grid_cells(energy, order, *cfg["guard_bins"])
            kwargs["max_per_cell"] = int(cfg["guard_max_per_cell"])
    elif strategy == "grid":
        kwargs["cells"] = sel.grid_cells(energy, order, *cfg["grid_bins"])
    elif strategy == "ceiling":
        kwargs["scores"] = _aligned(scores, "abs_error_meV_per_atom", n_pool)
    elif strategy == "force_committee":
        kwargs["scores"] = _aligned(scores, "uq_force_max_eV_per_A", n_pool)
    elif strategy == "fps":
        volume = _aligned(scores, "volume_A3", n_pool) if "volume_A3" in scores else np.zeros(n_pool)
        kwargs["features"] = _standardised(np.stack([energy, order, volume], axis=1))
    elif strategy in sel.DESCRIPTOR_STRATEGIES:
        if descriptors is None or len(descriptors) != n_pool:
            raise NNPDistillError(f"{strategy} needs the pool's {n_pool} frame descriptors (its AEV cache)")
        d = np.asarray(descriptors, dtype=float)
        kwargs["features"] = sel.direct_features(d) if strategy == "direct" else _standardised(d)
        if strategy == "uncertainty_diverse":
            kwargs["scores"] = _aligned(scores, SCORE_COLUMN[cfg["score"]], n_pool)
            kwargs["candidates"] = float(cfg["diverse_candidates"])
    elif strategy in sel.RANKED_STRATEGIES and ranking is not None:  # next_selection says when it is missing
        kwargs["ranking"] = np.asarray(ranking, dtype=np.int64)
    out = next_selection(strategy, previous, iteration, int(cfg["n_per_iteration"]), **kwargs)
    return out, ("converged: " if done else "") + reason


# ----------------------------------------------------------------------------------------------
# ranked strategies: one ranking of the pool, each iteration takes its next frames
# ----------------------------------------------------------------------------------------------

RANKING_COLUMNS = ("rank", "frame_index", "entropy_nats")


def rank_frames(strategy: str, pool_path: str | os.PathLike, initial: pd.DataFrame, size: int,
                out_path: str | os.PathLike, cfg: dict | None = None, threads: int = 1,
                progress: bool = True) -> pd.DataFrame:
    """Rank ``size`` frames of the pool after the ``initial`` selection and write them as a CSV
    (``rank``, ``frame_index``, ``entropy_nats``). ``quests``: QUESTS descriptors of every frame (``cfg``:
    ``quests_k`` neighbours, ``quests_cutoff_A``), per-frame entropies and the minimum-set-cover order
    given the initial frames (:func:`nnpdistill.selection.quests_rank`, bandwidth
    ``quests_bandwidth_per_A`` in the descriptor's 1/Å)."""
    import logging

    from .runtime import Progress

    if strategy not in sel.RANKED_STRATEGIES:
        raise NNPDistillError(f"strategy {strategy!r} is not a ranked one "
                              f"({', '.join(sel.RANKED_STRATEGIES)})")
    cfg = {**sel.QUESTS_DEFAULTS, **(cfg or {})}
    log = logging.getLogger("nnpdistill.distill")
    positions, cells = [], []
    with FrameStore(pool_path) as store:
        n_pool = len(store)
        for part in store.iter_read(None, batch_size=2000, labels=False, meta=False):
            positions.extend(part.positions)
            cells.extend(part.cell)
    reference = initial["frame_index"].to_numpy(dtype=np.int64)
    if reference.size and (reference.min() < 0 or reference.max() >= n_pool):
        raise NNPDistillError(f"the initial selection indexes frames outside the pool's {n_pool}")
    desc, offsets = sel.quests_descriptors(positions, cells, k=int(cfg["quests_k"]),
                                           cutoff_A=float(cfg["quests_cutoff_A"]), threads=threads)
    log.info("QUESTS descriptors: %d environments x %d of %d frames", *desc.shape, n_pool)
    h = float(cfg["quests_bandwidth_per_A"])
    entropies = sel.quests_entropies(desc, offsets, bandwidth=h)
    size = int(min(size, n_pool - np.unique(reference).size))
    with Progress(size, "quests ranking", "frame", enabled=progress) as bar:
        order = sel.quests_rank(desc, offsets, entropies, reference, size, bandwidth=h, progress=bar)
    df = pd.DataFrame({"rank": np.arange(order.size), "frame_index": order, "entropy_nats": entropies[order]})
    with atomic_path(out_path) as tmp:
        df.to_csv(tmp, index=False)
    return df


def read_ranking(path: str | os.PathLike) -> np.ndarray:
    """The frame order of a ranking CSV (:func:`rank_frames`)."""
    df = _read_frame_csv(path, RANKING_COLUMNS, "ranking")
    return df.sort_values("rank")["frame_index"].to_numpy(dtype=np.int64)


# ----------------------------------------------------------------------------------------------
# learning curves (paper Figure 2) and the distilled dataset as a product
# ----------------------------------------------------------------------------------------------

CURVE_COLUMNS = ("strategy", "iteration", "n_frames", "fraction_of_pool", "pool", "mae_meV_per_atom",
                 "rmse_meV_per_atom", "uq_mean_eV", "spearman_uq_vs_atomic_error")


def learning_curve(entries: dict[str, str], n_pool: int) -> pd.DataFrame:
    """Collect per-iteration metrics. ``entries``: ``"{strategy}/{iteration}/selection"`` → selection
    CSV and ``"{strategy}/{iteration}/{pool}"`` → that pool's ``metrics.csv``."""
    sizes = {}
    rows = []
    for key, path in entries.items():
        strategy, iteration, what = key.split("/")
        if what == "selection":
            sizes[(strategy, int(iteration))] = len(read_selection(path))
    for key, path in entries.items():
        strategy, iteration, what = key.split("/")
        if what == "selection":
            continue
        m = pd.read_csv(path)
        whole = m.loc[m["subset"] == "all"].iloc[0]
        n = sizes[(strategy, int(iteration))]
        rows.append({
            "strategy": strategy, "iteration": int(iteration), "n_frames": n, "fraction_of_pool": n / n_pool,
            "pool": what, "mae_meV_per_atom": float(whole["mae_meV_per_atom"]),
            "rmse_meV_per_atom": float(whole["rmse_meV_per_atom"]), "uq_mean_eV": float(whole["uq_mean_eV"]),
            "spearman_uq_vs_atomic_error": float(m["spearman_uq_vs_atomic_error"].iloc[0])
            if "spearman_uq_vs_atomic_error" in m else np.nan,
        })
    df = pd.DataFrame(rows, columns=list(CURVE_COLUMNS))
    return df.sort_values(["pool", "strategy", "iteration"], ignore_index=True)


def export_distilled(selection_csv: str | os.PathLike, pool_path: str | os.PathLike,
                     h5_out: str | os.PathLike, extxyz_out: str | os.PathLike,
                     manifest_out: str | os.PathLike, *, strategy: str, iteration: int, seeds: dict) -> dict:
    """Write the final selection as a frame store, an extxyz file and a JSON manifest."""
    from .frames import export_extxyz

    selection = read_selection(selection_csv)
    indices = np.sort(selection["frame_index"].to_numpy(dtype=np.int64))
    write_subset(pool_path, indices, h5_out, extra_attrs={"strategy": strategy, "iteration": int(iteration)})
    export_extxyz(h5_out, extxyz_out)
    with FrameStore(pool_path) as store:
        n_pool, attrs = len(store), store.attrs
    manifest = {
        "source_pool": Path(pool_path).name,
        "source_pool_sha256": sha256_file(pool_path),
        "n_pool_frames": n_pool,
        "element": attrs.get("element"),
        "potential": attrs.get("potential"),
        "potential_sha256": attrs.get("potential_sha256"),
        "strategy": strategy,
        "iteration": int(iteration),
        "n_frames": int(indices.size),
        "fraction_of_pool": indices.size / n_pool,
        "indices": indices.tolist(),
        "iteration_added": selection.sort_values("frame_index")["iteration_added"].astype(int).tolist(),
        "seeds": seeds,
        "distilled_sha256": sha256_file(h5_out),
    }
    with atomic_path(manifest_out) as tmp:
        tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return manifest


def same_selection(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two selection files hold the same set of frames."""
    frames_a = set(read_selection(a)["frame_index"].tolist())
    return frames_a == set(read_selection(b)["frame_index"].tolist())


def select_step(strategy: str, previous_csv: str | os.PathLike, scores_csv: str | os.PathLike,
                pool_path: str | os.PathLike, iteration: int, cfg: dict, seed: int,
                out_csv: str | os.PathLike, *, aevs: str | os.PathLike | None = None,
                ranking: str | os.PathLike | None = None) -> tuple[pd.DataFrame, str]:
    """One selection step of the loop or a baseline, as rule ``select_frames`` and ``nnpdistill select``
    run it: the previous selection and the previous ensemble's scores of the pool in, the next selection
    out (``out_csv``). ``aevs``: the pool's AEV cache, whose pooled frame descriptors fps_aev, direct
    and uncertainty_diverse need; ``ranking``: the pool's ranking (quests). Returns the selection and
    the reason it stopped growing or grew."""
    with FrameStore(pool_path) as store:
        n_pool = len(store)
    descriptors = order = None
    if aevs:
        from .nnp.aev_cache import frame_descriptors

        descriptors = frame_descriptors(aevs)
    if ranking:
        order = read_ranking(ranking)
    selection, reason = select_iteration(strategy, read_selection(previous_csv), pd.read_csv(scores_csv),
                                         int(iteration), dict(cfg), int(seed), n_pool, descriptors, order)
    write_selection(selection, out_csv)
    return selection, reason
