"""Structure of periodic frames: minimum-image pair distances and the radial distribution function."""

from __future__ import annotations

import math

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
                        d_min: float = 0.7, min_bonds: int = 7, chunk_frames: int = 16) -> np.ndarray:
    """Fraction of solid-like atoms per frame ``(F,)``, by the orientation-independent bond-order criterion
    of ten Wolde, Ruiz-Montero and Frenkel (J. Chem. Phys. 104, 9932 (1996)).

    Each atom's ``n_neighbors`` nearest neighbours (minimum image) give q6m(i) = <Y6m(r̂_ij)>_j; atoms i and
    j are bonded when the normalised overlap Re Σ_m q̂6m(i) q̂6m(j)* exceeds ``d_min``, and an atom is
    solid-like with at least ``min_bonds`` such bonds. A crystal counts as solid in any orientation, also
    one the box-aligned order parameter (:mod:`.order`) does not see; a liquid has few solid-like atoms.
    Positions (F,N,3) Å, cells (F,3,3) rows; distances exact below half the smallest cell width.
    ``chunk_frames`` frames at a time: 16 keeps a 144-atom chunk's pair arrays in cache (4x faster than 64).
    """
    positions = np.asarray(positions, dtype=np.float64)
    cells = np.asarray(cells, dtype=np.float64)
    n_frames, n_atoms = positions.shape[:2]
    if n_atoms <= n_neighbors:
        raise ValueError(f"{n_atoms} atoms cannot have {n_neighbors} neighbours each")
    out = np.empty(n_frames)
    for s in range(0, n_frames, chunk_frames):
        pos, cell = positions[s:s + chunk_frames], cells[s:s + chunk_frames]
        frac = pos @ np.linalg.inv(cell)
        d = frac[:, :, None, :] - frac[:, None, :, :]
        d -= np.rint(d)
        vec = d @ cell[:, None]  # (c, N, N, 3) minimum-image vectors
        dist2 = np.einsum("...i,...i->...", vec, vec)
        dist2[:, np.arange(n_atoms), np.arange(n_atoms)] = np.inf
        idx = np.argpartition(dist2, n_neighbors, axis=-1)[..., :n_neighbors]  # (c, N, k)
        bonds = np.take_along_axis(vec, idx[..., None], axis=2)
        unit = bonds / np.linalg.norm(bonds, axis=-1, keepdims=True)
        q = _q6_positive_m(unit).mean(axis=-1)  # (7, c, N): m = 0..6
        # Y6,-m = (-1)^m conj(Y6m): the m < 0 half adds what m > 0 adds; |q|^2 and the overlap need m >= 0
        q /= np.sqrt(_m_weights(np.abs(q) ** 2).sum(axis=0, keepdims=True))
        qj = np.take_along_axis(q[:, :, :, None], idx[None], axis=2)  # (7, c, N, k): at the neighbours
        overlap = _m_weights(np.real(q[..., None] * np.conj(qj))).sum(axis=0)  # (c, N, k)
        solid = (overlap > d_min).sum(axis=-1) >= min_bonds
        out[s:s + chunk_frames] = solid.mean(axis=-1)
    return out


# Y6m(r̂) = c_m (d^m P6/dz^m)(z) (x + i y)^m for m >= 0 (z = cos θ, x + i y = sin θ e^{iφ}), c_m the
# spherical-harmonic normalisation: polynomials instead of scipy's general Legendre recursion (about 10x
# faster on the reweighting stage's tens of thousands of frames; tests check it against scipy's sph_harm_y)
_P6 = np.polynomial.Polynomial([-5.0, 0.0, 105.0, 0.0, -315.0, 0.0, 231.0]) / 16.0
_Y6_DERIV = [_P6.deriv(m).coef for m in range(7)]
_Y6_NORM = np.array([np.sqrt(13.0 / (4.0 * np.pi) * math.factorial(6 - m) / math.factorial(6 + m))
                     * (-1.0) ** m for m in range(7)])


def _q6_positive_m(unit: np.ndarray) -> np.ndarray:
    """Y6m of unit vectors (..., 3) for m = 0..6, stacked first: (7, ...), complex, equal to
    ``scipy.special.sph_harm_y(6, m, θ, φ)``."""
    x, y, z = unit[..., 0], unit[..., 1], unit[..., 2]
    xy = x + 1j * y
    power = np.ones_like(xy)
    out = np.empty((7,) + z.shape, dtype=np.complex128)
    for m in range(7):
        out[m] = _Y6_NORM[m] * np.polynomial.polynomial.polyval(z, _Y6_DERIV[m]) * power
        power = power * xy
    return out


def _m_weights(a: np.ndarray) -> np.ndarray:
    """Weights of the m = 0..6 terms of a sum over m = -6..6 whose ±m terms are equal: 1 for m = 0, 2 else."""
    w = np.full((7,) + (1,) * (a.ndim - 1), 2.0)
    w[0] = 1.0
    return a * w
