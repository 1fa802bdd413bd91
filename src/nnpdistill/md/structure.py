"""Structure of periodic frames: minimum-image pair distances and the radial distribution function."""

from __future__ import annotations

import numpy as np


def pair_distances(positions: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """(N(N−1)/2,) minimum-image pair distances of one frame (exact below half the smallest cell width)."""
    frac = positions @ np.linalg.inv(cell)
    i, j = np.triu_indices(len(positions), 1)
    d = frac[i] - frac[j]
    d -= np.round(d)
    return np.linalg.norm(d @ cell, axis=1)


def half_width_A(cell: np.ndarray) -> float:
    """Half the smallest perpendicular width of a cell: the range of minimum-image distances."""
    vol = abs(np.linalg.det(cell))
    return 0.5 * min(vol / np.linalg.norm(np.cross(cell[(k + 1) % 3], cell[(k + 2) % 3])) for k in range(3))


def rdf(positions: np.ndarray, cells: np.ndarray, r_max_A: float,
        n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """g(r) averaged over frames (F,N,3)/(F,3,3): bin centres (Å) and g, ideal-gas normalised per frame."""
    edges = np.linspace(0.0, r_max_A, n_bins + 1)
    shell = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    g = np.zeros(n_bins)
    n = positions.shape[1]
    for pos, cell in zip(positions, cells, strict=True):
        hist, _ = np.histogram(pair_distances(pos, cell), edges)
        rho = n / abs(np.linalg.det(cell))
        g += 2.0 * hist / (n * rho * shell)
    return 0.5 * (edges[1:] + edges[:-1]), g / len(positions)


def rdf_overlap(r: np.ndarray, g: np.ndarray, g_ref: np.ndarray, r_cut_A: float) -> float:
    """1 − ½∫|g − g_ref| dr / ∫g_ref dr over r ≤ r_cut_A (1 = identical)."""
    m = r <= r_cut_A
    return float(1.0 - 0.5 * np.abs(g[m] - g_ref[m]).sum() / g_ref[m].sum())
