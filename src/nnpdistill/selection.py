"""Frame-selection strategies for data distillation.

Every strategy answers the same question: given a pool of F frames, the indices already selected and
a budget k, which k new frames to add. All are deterministic under their seed, never return a frame
twice, and never return one that is already selected.

- ``uncertainty``: the k highest frame scores (atomic uncertainty, max or mean over atoms), with an
  optional guard against near-duplicate picks: at most ``max_per_bin`` new frames per cell of an
  (enthalpy × order-parameter) grid in one round, spreading the picks over the phase map.
- ``random``: k frames drawn uniformly from the unselected ones.
- ``grid``: equal frames per occupied cell of an energy × order-parameter grid (the paper's
  "grid-based distillation"), drawn at random within each cell, round-robin over the cells.
- ``fps``: farthest-point sampling in a descriptor space (any (F, D) feature matrix); the workflow's
  ``fps`` uses (energy, order parameter, volume), ``fps_aev`` the frames' pooled ANI descriptors
  (mean and spread over atoms of each AEV feature, standardised).
- ``direct``: DIRECT sampling (Qi et al. 2024) on the frames' pooled ANI descriptors: PCA (Kaiser's
  rule, components weighted by explained variance), clustering into as many clusters as frames wanted,
  the frame nearest each centroid of a cluster not yet represented (:func:`select_direct`).
- ``quests``: QUESTS minimum-set-cover compression (Schwalbe-Koda et al.; the ``quests`` package's
  descriptors, kernel and per-frame entropies): frames in the order of ``msc_conditional`` given the
  initial subset, i.e. each next frame the one whose least-covered atomic environment is most novel
  (−log of its kernel sum over the environments picked so far) plus its own entropy
  (:func:`quests_rank`; the whole order is computed once, and each iteration takes its next k frames).
- ``uncertainty_diverse``: batch-diverse acquisition (cluster-margin style): the ``diverse_candidates``
  × k most uncertain frames, clustered into k groups on the frames' pooled ANI descriptors, and the most
  uncertain frame of each group (:func:`select_diverse_uncertainty`): uncertain, but not k near-copies
  of one configuration.
- ``force_committee``: the k frames with the largest force deviation of the previous ensemble, DP-GEN's
  ``max_devi_f`` (the members' force spread on the frame's worst atom,
  :mod:`nnpdistill.nnp.force_committee`): the acquisition DP-GEN and ALF use, beside the paper's per-atom
  energy spread.
- ``ceiling``: the k frames with the largest true error under the current ensemble. Not a selector a
  user can run (it needs the labels of the whole pool): the ceiling any acquisition by uncertainty
  approaches, so the gap to it measures how far the uncertainty is from an ideal one (DP-GEN's
  ``simplify`` picks the same way).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .errors import NNPDistillError


@dataclass(frozen=True)
class Strategy:
    """What the workflow and the loop need to know about a selection strategy.

    ``needs_model``: it reads the previous iteration's ensemble (its scores or errors);
    ``needs_descriptors``: it reads the pool's pooled AEVs (the AEV cache);
    ``ranked``: it takes its frames in the order of a one-off ranking of the pool (``rank_frames``);
    ``needs_forces``: its pool predictions carry the force committee's scores (member forces);
    ``config_keys``: the ``distill`` settings its selection depends on (their change re-runs only it);
    ``style``: colour and marker in the learning-curve plots."""

    name: str
    needs_model: bool = False
    needs_descriptors: bool = False
    ranked: bool = False
    needs_forces: bool = False
    config_keys: tuple[str, ...] = ()
    style: tuple[str, str] = ("k", "x")


# the one list of strategies: the schema's enum, the CLI's choices, the workflow's wildcards and the
# loop's dispatch all follow it (tests check the schema against it)
REGISTRY: dict[str, Strategy] = {s.name: s for s in (
    Strategy("uncertainty", needs_model=True,
             config_keys=("score", "acquisition", "power_beta", "guard_max_per_cell", "guard_bins"),
             style=("C3", "o")),
    Strategy("random", style=("C0", "s")),
    Strategy("grid", config_keys=("grid_bins",), style=("C2", "^")),
    Strategy("fps", style=("C4", "D")),
    Strategy("fps_aev", needs_descriptors=True, style=("C5", "v")),
    Strategy("direct", needs_descriptors=True, style=("C6", "P")),
    Strategy("quests", ranked=True, style=("C8", "X"),
             config_keys=("quests_k", "quests_cutoff_A", "quests_bandwidth_per_A", "quests_ranked_frames")),
    Strategy("ceiling", needs_model=True, style=("k", "*")),
    Strategy("uncertainty_diverse", needs_model=True, needs_descriptors=True,
             config_keys=("score", "diverse_candidates"), style=("C1", "h")),
    Strategy("force_committee", needs_model=True, needs_forces=True, style=("C9", "<")),
)}
STRATEGIES: tuple[str, ...] = tuple(REGISTRY)
# strategies whose selection needs the previous iteration's ensemble
MODEL_STRATEGIES: tuple[str, ...] = tuple(n for n, s in REGISTRY.items() if s.needs_model)
# strategies that read the pool's pooled AEVs
DESCRIPTOR_STRATEGIES: tuple[str, ...] = tuple(n for n, s in REGISTRY.items() if s.needs_descriptors)
# strategies that take their frames in the order of a one-off ranking of the pool
RANKED_STRATEGIES: tuple[str, ...] = tuple(n for n, s in REGISTRY.items() if s.ranked)
# strategies whose pool predictions carry the force committee's scores
FORCE_STRATEGIES: tuple[str, ...] = tuple(n for n, s in REGISTRY.items() if s.needs_forces)


def _check(n_pool: int, selected: np.ndarray, k: int) -> np.ndarray:
    selected = np.asarray(selected, dtype=np.int64)
    if k < 0:
        raise NNPDistillError(f"budget k must be >= 0, got {k}")
    if selected.size and (selected.min() < 0 or selected.max() >= n_pool):
        raise NNPDistillError(f"selected indices out of range for a pool of {n_pool} frames")
    if np.unique(selected).size != selected.size:
        raise NNPDistillError("selected indices repeat a frame")
    return selected


def _available(n_pool: int, selected: np.ndarray) -> np.ndarray:
    mask = np.ones(n_pool, dtype=bool)
    mask[selected] = False
    return np.flatnonzero(mask)


def initial_random(n_pool: int, k: int, seed: int) -> np.ndarray:
    """The seeded random subset that starts every strategy (iteration 0), sorted."""
    if not 0 < k <= n_pool:
        raise NNPDistillError(f"initial size must be in 1..{n_pool} (pool size), got {k}")
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_pool, size=k, replace=False)).astype(np.int64)


def select_random(n_pool: int, selected: Sequence[int], k: int, seed: int) -> np.ndarray:
    selected = _check(n_pool, selected, k)
    available = _available(n_pool, selected)
    k = min(k, available.size)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(available, size=k, replace=False)).astype(np.int64)


def grid_cells(energy: np.ndarray, order: np.ndarray, n_energy_bins: int, n_order_bins: int) -> np.ndarray:
    """Cell id of every frame on a regular (energy × order parameter) grid spanning the data."""
    if n_energy_bins < 1 or n_order_bins < 1:
        raise NNPDistillError("grid needs at least one bin in each direction")
    energy = np.asarray(energy, dtype=float)
    order = np.asarray(order, dtype=float)
    if energy.shape != order.shape or energy.ndim != 1:
        raise NNPDistillError("energy and order parameter must be 1-D arrays of equal length")

    def _bin(x: np.ndarray, n: int) -> np.ndarray:
        lo, hi = float(np.min(x)), float(np.max(x))
        if hi <= lo:
            return np.zeros(x.size, dtype=np.int64)
        return np.minimum(((x - lo) / (hi - lo) * n).astype(np.int64), n - 1)

    return _bin(energy, n_energy_bins) * n_order_bins + _bin(order, n_order_bins)


def select_grid(
    cells: np.ndarray, selected: Sequence[int], k: int, seed: int
) -> np.ndarray:
    """Round-robin over occupied cells, the cells with the fewest selected frames first.

    This gives equal frames per cell until a cell runs out, then spreads the rest over the others.
    """
    cells = np.asarray(cells, dtype=np.int64)
    selected = _check(cells.size, selected, k)
    rng = np.random.default_rng(seed)
    available = _available(cells.size, selected)
    # a seeded random order of the available frames within each cell
    by_cell: dict[int, list[int]] = {}
    for idx in rng.permutation(available):
        by_cell.setdefault(int(cells[idx]), []).append(int(idx))
    counts = {c: 0 for c in by_cell}
    for idx in selected:
        c = int(cells[idx])
        if c in counts:
            counts[c] += 1
    picks: list[int] = []
    while len(picks) < k and by_cell:
        # the cell holding the fewest selected frames, ties by cell id (deterministic)
        c = min(by_cell, key=lambda c: (counts[c], c))
        picks.append(by_cell[c].pop())
        counts[c] += 1
        if not by_cell[c]:
            del by_cell[c]
    return np.sort(np.asarray(picks, dtype=np.int64))


ACQUISITIONS: tuple[str, ...] = ("top_k", "power")


def select_uncertainty(
    scores: np.ndarray,
    selected: Sequence[int],
    k: int,
    *,
    cells: np.ndarray | None = None,
    max_per_cell: int | None = None,
    acquisition: str = "top_k",
    power_beta: float = 1.0,
    seed: int | None = None,
) -> np.ndarray:
    """k unselected frames by their uncertainty scores.

    ``acquisition="top_k"``: the k highest-scoring frames; ties broken by the lower index.
    ``acquisition="power"``: k frames drawn without replacement with probability proportional to
    ``score ** power_beta`` (stochastic batch acquisition, Kirsch et al., TMLR 2023): uncertain frames
    are favoured, but the batch keeps the pool's spread instead of piling onto its single most
    uncertain corner; seeded, so deterministic. ``power_beta`` → ∞ approaches top-k, 0 is random.

    With ``cells`` and ``max_per_cell``, at most ``max_per_cell`` picks come from one cell in this round
    (the guard against near-duplicates); if that leaves the budget unspent, the rest is filled by score.
    """
    scores = np.asarray(scores, dtype=float)
    selected = _check(scores.size, selected, k)
    if not np.all(np.isfinite(scores)):
        raise NNPDistillError("frame scores contain NaN or inf")
    if acquisition not in ACQUISITIONS:
        raise NNPDistillError(f"unknown acquisition {acquisition!r}; choose one of {', '.join(ACQUISITIONS)}")
    available = _available(scores.size, selected)
    if acquisition == "power":
        if seed is None:
            raise NNPDistillError("power acquisition needs a seed")
        if not power_beta >= 0:
            raise NNPDistillError(f"power_beta must be >= 0, got {power_beta}")
        if np.any(scores[available] < 0):
            raise NNPDistillError("power acquisition needs non-negative frame scores")
        # draw the whole available pool in a seeded weighted order (Efraimidis-Spirakis keys
        # u ** (1 / w)), so the guard below can walk it like the top-k order
        # (scaled by the largest weight, which keeps the order and guards against underflow at large beta)
        weights = scores[available] ** power_beta
        weights = weights / weights.max() if weights.max() > 0 else np.ones_like(weights)
        u = np.random.default_rng(seed).random(available.size)
        keys = np.full(available.size, -np.inf)
        drawable = weights > 0
        with np.errstate(divide="ignore"):
            keys[drawable] = np.log(u[drawable]) / weights[drawable]
        order = available[np.lexsort((available, -keys))]
    else:
        order = available[np.lexsort((available, -scores[available]))]
    if cells is None or max_per_cell is None:
        return np.sort(order[:k])
    if max_per_cell < 1:
        raise NNPDistillError("max_per_cell must be >= 1")
    cells = np.asarray(cells, dtype=np.int64)
    picks: list[int] = []
    per_cell: dict[int, int] = {}
    skipped: list[int] = []
    for idx in order:
        if len(picks) >= k:
            break
        c = int(cells[idx])
        if per_cell.get(c, 0) < max_per_cell:
            picks.append(int(idx))
            per_cell[c] = per_cell.get(c, 0) + 1
        else:
            skipped.append(int(idx))
    picks.extend(skipped[: k - len(picks)])
    return np.sort(np.asarray(picks, dtype=np.int64))


def select_ceiling(errors: np.ndarray, selected: Sequence[int], k: int) -> np.ndarray:
    """The k unselected frames with the largest ``errors`` (F,) (ties: the lower index first), sorted."""
    errors = np.asarray(errors, dtype=float)
    selected = _check(errors.size, selected, k)
    if not np.isfinite(errors).all():
        raise NNPDistillError("top-k selection (ceiling, force_committee) needs a finite score for every "
                              "frame of the pool")
    avail = _available(errors.size, selected)
    order = np.lexsort((avail, -errors[avail]))  # largest error first, then index
    return np.sort(avail[order[:k]])


def select_fps(features: np.ndarray, selected: Sequence[int], k: int, seed: int) -> np.ndarray:
    """Farthest-point sampling: each pick maximises its distance to everything already chosen."""
    features = np.asarray(features, dtype=float)
    if features.ndim != 2:
        raise NNPDistillError("features must be an (F, D) array")
    n_pool = features.shape[0]
    selected = _check(n_pool, selected, k)
    if selected.size == 0:
        start = int(np.random.default_rng(seed).integers(n_pool))
        chosen = [start]
        k -= 1
    else:
        chosen = []
    anchors = np.concatenate([selected, np.asarray(chosen, dtype=np.int64)])
    min_dist = np.full(n_pool, np.inf)
    for a in anchors:
        min_dist = np.minimum(min_dist, np.linalg.norm(features - features[a], axis=1))
    min_dist[anchors] = -1.0
    for _ in range(min(k, n_pool - anchors.size)):
        nxt = int(np.argmax(min_dist))
        chosen.append(nxt)
        min_dist = np.minimum(min_dist, np.linalg.norm(features - features[nxt], axis=1))
        min_dist[nxt] = -1.0
    return np.sort(np.asarray(chosen, dtype=np.int64))


def select_ranked(order: np.ndarray, selected: Sequence[int], k: int) -> np.ndarray:
    """The next ``k`` frames of a ranking that are not selected yet (sorted)."""
    selected_set = set(np.asarray(selected, dtype=np.int64).tolist())
    nxt = [int(i) for i in order if int(i) not in selected_set][:k]
    if len(nxt) < k:
        raise NNPDistillError(f"the ranking holds {len(nxt)} unselected frames, {k} wanted: rank more frames "
                              "(distill.quests_ranked_frames)")
    return np.sort(np.asarray(nxt, dtype=np.int64))


# the descriptor-space selectors (DIRECT, diverse uncertainty) and QUESTS (the ``quests`` strategy's
# ranking) live in their own modules; their functions are part of this API
from .descriptor_select import (  # noqa: E402, F401
    direct_features,
    kmeans,
    select_direct,
    select_diverse_uncertainty,
)
from .quests_select import (  # noqa: E402, F401
    QUESTS_DEFAULTS,
    quests_descriptors,
    quests_entropies,
    quests_rank,
)
