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


def solid_like_fraction(positions: np.ndarray, cells: np.ndarray, *, n_neighbors: int = 12,
                        d_min: float = 0.7, min_bonds: int = 7, chunk_frames: int = 64) -> np.ndarray:
    """Fraction of solid-like atoms per frame ``(F,)``, by the orientation-independent bond-order criterion
    of ten Wolde, Ruiz-Montero and Frenkel (J. Chem. Phys. 104, 9932 (1996)).

    Each atom's ``n_neighbors`` nearest neighbours (minimum image) give q6m(i) = <Y6m(r̂_ij)>_j; atoms i and
    j are bonded when the normalised overlap Re Σ_m q̂6m(i) q̂6m(j)* exceeds ``d_min``, and an atom is
    solid-like with at least ``min_bonds`` such bonds. A crystal counts as solid in any orientation, also
    one the box-aligned order parameter (:mod:`.order`) does not see; a liquid has few solid-like atoms.
    Positions (F,N,3) Å, cells (F,3,3) rows; distances exact below half the smallest cell width.
    """
    from scipy.special import sph_harm_y

    positions = np.asarray(positions, dtype=np.float64)
    cells = np.asarray(cells, dtype=np.float64)
    n_frames, n_atoms = positions.shape[:2]
    if n_atoms <= n_neighbors:
        raise ValueError(f"{n_atoms} atoms cannot have {n_neighbors} neighbours each")
    out = np.empty(n_frames)
    m = np.arange(-6, 7)[:, None, None, None]
    for s in range(0, n_frames, chunk_frames):
        pos, cell = positions[s:s + chunk_frames], cells[s:s + chunk_frames]
        frac = np.einsum("fni,fij->fnj", pos, np.linalg.inv(cell))
        d = frac[:, :, None, :] - frac[:, None, :, :]
        d -= np.round(d)
        vec = np.einsum("fabi,fij->fabj", d, cell)
        dist = np.linalg.norm(vec, axis=-1)
        dist[:, np.arange(n_atoms), np.arange(n_atoms)] = np.inf
        idx = np.argpartition(dist, n_neighbors, axis=-1)[..., :n_neighbors]  # (c, N, k)
        bonds = np.take_along_axis(vec, idx[..., None], axis=2)
        unit = bonds / np.linalg.norm(bonds, axis=-1, keepdims=True)
        theta = np.arccos(np.clip(unit[..., 2], -1.0, 1.0))
        phi = np.arctan2(unit[..., 1], unit[..., 0])
        q = sph_harm_y(6, m, theta[None], phi[None]).mean(axis=-1)  # (13, c, N)
        q /= np.sqrt((np.abs(q) ** 2).sum(axis=0, keepdims=True))
        qj = np.take_along_axis(q[:, :, :, None], idx[None], axis=2)  # (13, c, N, k): at the neighbours
        overlap = np.real((q[..., None] * np.conj(qj)).sum(axis=0))  # (c, N, k)
        solid = (overlap > d_min).sum(axis=-1) >= min_bonds
        out[s:s + chunk_frames] = solid.mean(axis=-1)
    return out
