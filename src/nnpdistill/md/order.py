"""Crystalline order parameter of an FCC supercell and its analytic gradient.

O = 1/(N_g N) Σ_g |Σ_i exp(i g·r_i)|² over the four {111} reciprocal vectors of an L×L×L conventional
FCC supercell, g = 2π h⁻¹ (L·m) with m ∈ {(1,1,1), (1,1,−1), (1,−1,1), (−1,1,1)} and h the cell
(rows = cell vectors), so g follows the cell. Perfect FCC → O = N; random positions → O ≈ 1.
O depends on positions only through fractional coordinates: it is invariant under affine scaling of
positions with the cell and under lattice translations, so it adds no virial. It detects only crystals
aligned with the box.
"""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
import torch

from ..errors import ConfigError
from .models import cells_tuple

FCC111 = torch.tensor([[1, 1, 1], [1, 1, -1], [1, -1, 1], [-1, 1, 1]], dtype=torch.float64)


@functools.cache  # called per order-parameter evaluation when no shape is given
def fcc_cells(n_atoms: int) -> tuple[int, int, int]:
    """Conventional cells (nx, ny, nz), nx <= ny <= nz, of the FCC supercell of ``n_atoms`` atoms: L×L×L when
    N = 4 L³, else the most nearly cubic shape with nz/nx <= 2 (144 atoms: 3×3×4, 192: 3×4×4, 216: 3×3×6,
    which holds the same crystal orientations as 3×3×3: :func:`fitting_orientations`), for cell sizes
    between the cubic ones (finite-size studies); a ConfigError when there is none."""
    if n_atoms % 4 or n_atoms < 4:
        raise ConfigError(f"an FCC cell needs N = 4 L^3 atoms (32, 108, 256, ...) or a near-cubic "
                          f"multiple of 4 (144, 192, 216), got N = {n_atoms}")
    m = n_atoms // 4
    shapes = [(a, b, m // (a * b)) for a in range(1, round(m ** (1 / 3)) + 1)
              for b in range(a, math.isqrt(m // a) + 1) if m % (a * b) == 0]
    best = min(shapes, key=lambda s: (s[2] / s[0], s))
    if best[2] > 2 * best[0]:
        shape = "x".join(str(k) for k in best)
        raise ConfigError(f"an FCC cell of N = {n_atoms} atoms has no near-cubic shape (best {shape} "
                          "conventional cells); use N = 4 L^3 atoms (32, 108, 256, ...) or 144, 192, 216")
    return best


def g_vectors(cells: torch.Tensor, n_cells, wave_vectors=None) -> torch.Tensor:
    """(B, 4, 3) {111} reciprocal vectors (Å⁻¹) of an FCC supercell of ``n_cells`` conventional cells (L for
    L×L×L, or (nx, ny, nz)) with cells (B,3,3); ``wave_vectors`` (K, 3) integers in the cell's fractional
    coordinates instead of the box-aligned set (another orientation, :func:`fitting_orientations`)."""
    if wave_vectors is None:
        n = torch.tensor(cells_tuple(n_cells), dtype=cells.dtype, device=cells.device)
        m = FCC111.to(device=cells.device, dtype=cells.dtype) * n
    else:
        m = torch.as_tensor(wave_vectors, dtype=cells.dtype, device=cells.device)
    hinv = torch.linalg.inv(cells)  # (B,3,3)
    return 2.0 * math.pi * torch.einsum("bij,kj->bki", hinv, m)


def order_parameter(positions: torch.Tensor, cells: torch.Tensor, n_cells=None,
                    gradient: bool = True, wave_vectors=None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """O (B,) and ∂O/∂r (B,N,3) in Å⁻¹ (None if ``gradient`` is False) for positions (B,N,3);
    ``wave_vectors``: see :func:`g_vectors`."""
    N = positions.shape[1]
    g = g_vectors(cells, fcc_cells(N) if n_cells is None else n_cells, wave_vectors)  # (B,K,3)
    theta = torch.einsum("bnj,bkj->bkn", positions, g)
    cos, sin = torch.cos(theta), torch.sin(theta)
    C, S = cos.sum(-1), sin.sum(-1)  # (B,K)
    K = g.shape[1]
    O = (C.square() + S.square()).sum(-1) / (K * N)
    if not gradient:
        return O, None
    coef = cos * S[..., None] - sin * C[..., None]  # (B,K,N)
    grad = 2.0 * torch.einsum("bkn,bkj->bnj", coef, g) / (K * N)
    return O, grad


ORDER_KINDS = ("fcc_box", "q6_bonds", "q6_solid")


class BoxOrder:
    """:func:`order_parameter` as a bias coordinate: (O, dO/dr, None); it adds no stress (no dO/dε)."""

    def __init__(self, n_cells=None):
        self.n_cells = n_cells

    def __call__(self, positions: torch.Tensor, cells: torch.Tensor, gradient: bool = True):
        O, g = order_parameter(positions, cells, self.n_cells, gradient)
        return O, g, None


def make_order(kind: str, n_atoms: int, lattice_A: float, q6_switch_nn: tuple[float, float] | None = None,
               q6_solid: tuple[float, float] | None = None):
    """A fresh bias coordinate ``(positions, cells, gradient) -> (O, dO/dr, dO/dε or None)``: the
    box-aligned FCC order parameter (``fcc_box``, the paper's), the orientation-independent q6 bond-order
    correlation (``q6_bonds``, :mod:`.order_q6`, switch radii in nearest-neighbour distances of the FCC
    lattice ``lattice_A``; None: the schema's ``momt.q6_switch_nn``) or the smooth count of solid-like
    atoms by that correlation (``q6_solid``: each atom's score through a step at ``q6_solid`` = (centre,
    width); None: the schema's). All give O ≈ N for a perfect crystal (q6_solid: N F(1))."""
    from ..defaults import default
    from .order_q6 import Q6Order, switch_radii_A

    if q6_switch_nn is None:
        q6_switch_nn = default("sample.momt.q6_switch_nn")

    if kind == "fcc_box":
        return BoxOrder(fcc_cells(n_atoms))
    if kind == "q6_bonds":
        return Q6Order(*switch_radii_A(lattice_A, q6_switch_nn))
    if kind == "q6_solid":
        return Q6Order(*switch_radii_A(lattice_A, q6_switch_nn),
                       solid=default("sample.momt.q6_solid") if q6_solid is None else q6_solid)
    raise ConfigError(f"momt.order must be one of {ORDER_KINDS}, got {kind!r}")


@functools.cache
def fitting_orientations(n_cells) -> tuple[np.ndarray, ...]:
    """The orientations in which a perfect FCC crystal fits the supercell of ``n_cells`` conventional cells
    (L or (nx, ny, nz)) without a defect, each as its four {111} wave vectors in the cell's fractional
    coordinates ((4, 3) integers k, so that k·s is the phase 2π-periodic in the cell). An orientation fits
    when the cell's edges are orthogonal lattice vectors of the turned crystal, of lengths nx a, ny a, nz a.
    The box-aligned crystal is always one; a 3×3×3 cell (108 atoms) also holds the crystal turned so that
    its cube edges lie along <221> (turned about a shared <111> axis: the same energy, a box-aligned order
    parameter of N/4), while 2×2×2, 3×3×4 and 4×4×4 cells hold only the aligned one (tested)."""
    L = cells_tuple(n_cells)
    vectors = []
    for n in L:  # lattice vectors of length n a, in units of a/2: integers with an even sum
        r = range(-2 * n, 2 * n + 1)
        vectors.append([np.array(v) for v in itertools.product(r, r, r)
                        if sum(x * x for x in v) == 4 * n * n and sum(v) % 2 == 0])
    m = FCC111.numpy().astype(np.int64)
    found: dict[frozenset, np.ndarray] = {}
    for a in vectors[0]:
        for b in vectors[1]:
            if a @ b:
                continue
            for c in vectors[2]:
                if a @ c or b @ c or np.linalg.det(np.array([a, b, c])) < 0:
                    continue
                k = np.array([[a @ mm, b @ mm, c @ mm] for mm in m]) // 2  # (v·m)/2: integers
                key = frozenset(tuple(sorted((tuple(row), tuple(-row)))) for row in k)
                found.setdefault(key, k)
    return tuple(found[key] for key in sorted(found, key=lambda s: sorted(s)))


def fitted_order(positions: np.ndarray, cells: np.ndarray, n_cells) -> np.ndarray:
    """O/N (F,) of the best-fitting defect-free FCC orientation of the cell (:func:`fitting_orientations`):
    the box-aligned order parameter, or that of another orientation the cell holds when it is larger. A
    crystal the cell holds without a defect scores near its Debye–Waller factor (0.5-0.7 near melting); a
    liquid, or a crystal frozen in an orientation the cell cannot hold, near 0."""
    pos = torch.as_tensor(np.asarray(positions, dtype=np.float64))
    cell = torch.as_tensor(np.asarray(cells, dtype=np.float64))
    orders = [order_parameter(pos, cell, n_cells, gradient=False, wave_vectors=k)[0]
              for k in fitting_orientations(n_cells)]
    return (torch.stack(orders).amax(0) / pos.shape[1]).numpy()
