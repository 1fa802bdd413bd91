"""QUESTS minimum-set-cover compression for the ``quests`` selection strategy.

Built on the ``quests`` package (Schwalbe-Koda et al.): its per-atom descriptor, its per-frame
information entropy and its Gaussian kernel sums; the greedy order is that of the package's
``quests.compression.fps.msc_conditional`` (tests compare them frame for frame), with the per-frame
minimum vectorised. Re-exported by :mod:`nnpdistill.selection`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .defaults import default
from .errors import NNPDistillError

# the schema's defaults of the distill.quests_* settings (the CLI's too)
QUESTS_DEFAULTS = {key: default(f"distill.{key}") for key in ("quests_k", "quests_cutoff_A",
                                                               "quests_bandwidth_per_A")}


def quests_descriptors(positions: Sequence[np.ndarray], cells: Sequence[np.ndarray], k: int = 32,
                       cutoff_A: float = 5.0, threads: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """QUESTS descriptors of periodic frames: ((sum of atoms, 2k - 1) float64, frame offsets (F + 1,)).

    The ``quests`` package's own descriptor (``descriptor_pbc``: sorted inverse distances to the ``k``
    nearest neighbours and between them, weighted by a cutoff function of ``cutoff_A``)."""
    import numba
    from quests.descriptor import descriptor_pbc

    numba.set_num_threads(int(threads))
    parts, sizes = [], []
    for pos, cell in zip(positions, cells, strict=True):
        x1, x2 = descriptor_pbc(np.asarray(pos, dtype=float), cell=np.asarray(cell, dtype=float), k=k,
                                cutoff=cutoff_A)
        parts.append(np.concatenate([x1, x2], axis=1))
        sizes.append(len(pos))
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    return np.concatenate(parts, axis=0), offsets


def quests_entropies(desc: np.ndarray, offsets: np.ndarray, bandwidth: float = 0.015) -> np.ndarray:
    """Each frame's QUESTS information entropy (nats) over its own environments (``quests.entropy``)."""
    from quests.entropy import entropy

    return np.array([entropy(desc[a:b], h=bandwidth) for a, b in zip(offsets[:-1], offsets[1:], strict=True)])


def quests_rank(desc: np.ndarray, offsets: np.ndarray, entropies: np.ndarray, reference: Sequence[int],
                size: int, bandwidth: float = 0.015, progress=None) -> np.ndarray:
    """``size`` frames (not in ``reference``) in the order QUESTS's ``msc_conditional`` picks them.

    The same greedy rule as ``quests.compression.fps.msc_conditional``: a kernel sum accumulates, for
    every environment, its overlap with the environments of the reference and of the frames picked so
    far; a frame's novelty is −log of its least-covered environment's sum, and the next frame is the one
    whose novelty plus own entropy is largest. Here the per-frame minimum is one ``np.minimum.reduceat``
    over the environments instead of the package's loop over frames (which is quadratic in the pool),
    and picked frames stay in the arrays (their scores masked, their kernel sums unused), so indices never
    shift and no descriptor array is copied per pick. ``progress``: an object with ``update(n)``,
    advanced once per pick.
    """
    from quests.entropy import kernel_sum

    n = len(offsets) - 1
    if len(entropies) != n:
        raise NNPDistillError(f"{len(entropies)} entropies for {n} frames")
    taken = np.zeros(n, dtype=bool)
    reference = np.asarray(reference, dtype=np.int64)
    taken[reference] = True
    size = int(min(size, n - int(taken.sum())))
    kernels = np.zeros(desc.shape[0])
    if reference.size:
        ref = np.concatenate([desc[offsets[i]:offsets[i + 1]] for i in reference])
        kernels += kernel_sum(desc, ref, h=bandwidth)
    order = []
    for _ in range(size):
        if not taken.any():  # no reference: msc starts from the frame of highest entropy
            pick = int(np.argmax(entropies))
        else:
            per_frame = np.minimum.reduceat(kernels, offsets[:-1])
            with np.errstate(divide="ignore"):
                score = -np.log(per_frame) + entropies
            score[taken] = -np.inf
            pick = int(np.argmax(score))
        order.append(pick)
        taken[pick] = True
        kernels += kernel_sum(desc, desc[offsets[pick]:offsets[pick + 1]], h=bandwidth)
        if progress is not None:
            progress.update(1)
    return np.asarray(order, dtype=np.int64)
