"""Selectors in descriptor space: DIRECT sampling and batch-diverse uncertainty, on a shared k-means.

Part of the :mod:`nnpdistill.selection` API (re-exported there); the shared checks come from it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .errors import NNPDistillError


def _checked(n_pool: int, selected: Sequence[int], k: int) -> tuple[np.ndarray, np.ndarray]:
    """(selected, available) after nnpdistill.selection's checks (imported here: that module imports
    this one)."""
    from .selection import _available, _check

    selected = _check(n_pool, selected, k)
    return selected, _available(n_pool, selected)


def direct_features(descriptors: np.ndarray) -> np.ndarray:
    """DIRECT's encoding (Qi et al., npj Comput. Mater. 10, 43 (2024)): the descriptors standardised,
    reduced by PCA to the components with eigenvalue > 1 (Kaiser's rule; at least one), each component
    weighted by its explained variance."""
    x = np.asarray(descriptors, dtype=float)
    if x.ndim != 2 or x.shape[0] < 2:
        raise NNPDistillError("DIRECT needs an (F, D) descriptor matrix with F >= 2")
    std = x.std(axis=0)
    x = (x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    eig = s**2 / (x.shape[0] - 1)
    keep = max(1, int((eig > 1.0).sum()))
    pcs = x @ vt[:keep].T
    return pcs * (eig[:keep] / eig.sum())


def kmeans(x: np.ndarray, n_clusters: int, seed: int, n_iter: int = 100,
            n_init: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Lloyd's k-means with k-means++ seeding, the best (lowest inertia) of ``n_init`` starts, all drawn
    from ``seed``: (labels (F,), centroids)."""
    rng = np.random.default_rng(seed)
    F = x.shape[0]
    sq = (x * x).sum(1)
    best = None
    for _ in range(n_init):
        centres = [int(rng.integers(F))]
        d2 = np.maximum(sq - 2 * x @ x[centres[0]] + sq[centres[0]], 0.0)
        for _ in range(1, n_clusters):
            total = d2.sum()
            nxt = int(rng.choice(F, p=d2 / total)) if total > 0 else int(rng.integers(F))
            centres.append(nxt)
            d2 = np.minimum(d2, np.maximum(sq - 2 * x @ x[nxt] + sq[nxt], 0.0))
        c = x[centres].copy()
        labels = np.full(F, -1)
        for _ in range(n_iter):
            dist = sq[:, None] - 2 * x @ c.T + (c * c).sum(1)[None, :]
            new = dist.argmin(1)
            if np.array_equal(new, labels):
                break
            labels = new
            for j in range(n_clusters):
                members = labels == j
                if members.any():
                    c[j] = x[members].mean(0)
        inertia = float(((x - c[labels]) ** 2).sum())
        if best is None or inertia < best[0]:
            best = (inertia, labels, c)
    return best[1], best[2]


def select_direct(features: np.ndarray, selected: Sequence[int], k: int, seed: int) -> np.ndarray:
    """DIRECT sampling (Qi et al. 2024) as a nested selection: cluster the pool (``features`` from
    :func:`direct_features`) into |selected| + k clusters and, from the clusters that hold no selected
    frame, take the frame nearest each centroid, the clusters farthest from the selected frames first
    (the largest first when nothing is selected yet); any budget left goes to the next-nearest unselected
    frames of the clusters, one per cluster in turn, in the same order.

    DIRECT's reference implementation (maml) clusters with scikit-learn's Birch; this uses k-means
    (neither scikit-learn nor maml is a dependency), which gives the same kind of compact, similarly
    populated clusters on PCA features."""
    x = np.asarray(features, dtype=float)
    if x.ndim != 2:
        raise NNPDistillError("features must be an (F, D) array")
    n_pool = x.shape[0]
    selected, _ = _checked(n_pool, selected, k)
    k = min(k, n_pool - selected.size)
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    labels, c = kmeans(x, min(n_pool, selected.size + k), seed)
    dist = np.linalg.norm(x - c[labels], axis=1)
    taken = np.zeros(n_pool, dtype=bool)
    taken[selected] = True
    sizes = np.bincount(labels, minlength=c.shape[0])
    if selected.size:  # centroids farthest from every selected frame first
        gap = np.min(np.linalg.norm(c[:, None, :] - x[selected][None, :, :], axis=2), axis=1)
        by_size = np.lexsort((np.arange(c.shape[0]), -sizes, -gap))
    else:
        by_size = np.lexsort((np.arange(c.shape[0]), -sizes))  # largest first, then cluster index
    # per cluster, its unselected frames nearest the centroid first
    order = np.lexsort((np.arange(n_pool), dist, labels))
    bounds = np.searchsorted(labels[order], np.arange(c.shape[0] + 1))
    queues = {j: order[bounds[j]:bounds[j + 1]] for j in range(c.shape[0])}
    picked: list[int] = []
    occupied = set(labels[selected].tolist())
    for j in by_size:  # first pass: one frame from each cluster without a selected frame
        if len(picked) == k:
            break
        if j in occupied or sizes[j] == 0:
            continue
        i = next(i for i in queues[j] if not taken[i])
        picked.append(int(i))
        taken[i] = True
    while len(picked) < k:  # budget left: round-robin over the largest clusters
        for j in by_size:
            if len(picked) == k:
                break
            free = [i for i in queues[j] if not taken[i]]
            if free:
                picked.append(int(free[0]))
                taken[free[0]] = True
    return np.sort(np.asarray(picked, dtype=np.int64))


def select_diverse_uncertainty(scores: np.ndarray, features: np.ndarray, selected: Sequence[int], k: int,
                               seed: int, candidates: float = 4.0) -> np.ndarray:
    """Batch-diverse uncertainty: the ``candidates`` × k unselected frames of highest score (ties: the
    lower index), clustered into k groups by k-means on ``features`` (F, D) (seeded), and from each
    group its highest-scoring frame; a group left empty by k-means gives its place to the next frames
    by score. ``candidates`` = 1 is plain top-k. Sorted indices."""
    scores = np.asarray(scores, dtype=float)
    x = np.asarray(features, dtype=float)
    if x.ndim != 2 or x.shape[0] != scores.size:
        raise NNPDistillError(f"features must be an (F, D) array over the {scores.size} frames")
    if not np.isfinite(scores).all():
        raise NNPDistillError("frame scores contain NaN or inf")
    if not candidates >= 1:
        raise NNPDistillError(f"diverse_candidates must be >= 1, got {candidates}")
    _, avail = _checked(scores.size, selected, k)
    k = min(k, avail.size)
    if k == 0:
        return np.empty(0, dtype=np.int64)
    order = avail[np.lexsort((avail, -scores[avail]))]
    pool = order[:min(avail.size, max(k, int(round(candidates * k))))]
    if pool.size == k:
        return np.sort(pool)
    labels, _ = kmeans(x[pool], k, seed)
    picks = []
    for j in range(k):  # pool is in score order: a group's first member is its most uncertain
        members = np.flatnonzero(labels == j)
        if members.size:
            picks.append(int(pool[members[0]]))
    chosen = set(picks)
    picks += [int(i) for i in pool if int(i) not in chosen][:k - len(picks)]
    return np.sort(np.asarray(picks, dtype=np.int64))
