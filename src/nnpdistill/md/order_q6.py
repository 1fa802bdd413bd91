"""An orientation-independent, differentiable crystalline order parameter: the q6 bond-order correlation.

For every atom i, q6m(i) = Σ_j w(r_ij) Y6m(r̂_ij) over its neighbours, with a smooth switch w = 1 below
r_on, ½(1 + cos π(r − r_on)/(r_off − r_on)) between, 0 beyond r_off (C¹: forces stay continuous). Atom i's
score is the w-weighted mean over its neighbours of the normalised overlap Re Σ_m q̂6m(i) q̂6m(j)* — the
quantity whose threshold defines ten Wolde's solid-like bonds (:func:`.structure.solid_like_fraction`) —
and O = Σ_i score_i. A perfect crystal gives O = N in any orientation (every overlap is 1); a liquid's
neighbours share little orientation (O ≈ 0.2–0.4 N for EAM nickel). Unlike the box-aligned FCC order
parameter (:mod:`.order`), a crystal that grew misaligned with the box counts as solid, so a bias on O
drives melting and freezing instead of realignment.

Y6m for m = 0..6 is N_6m (x + iy)^m P6^(m)(z) on the unit vector, P6^(m) the m-th derivative of the
Legendre polynomial: the polar form sinᵐθ e^{imφ} is (x + iy)^m, so there is no singularity at the poles.
Negative m enter through Σ_{m=−6}^{6} a_m b_m* = a_0 b_0* + 2 Re Σ_{m>0} a_m b_m* (their phases cancel in
every product used here).

O depends on the cell through the periodic images: :class:`Q6Order` returns dO/dr and dO/dε (the
derivative under a homogeneous strain of positions and cell), which the MOMT force turns into forces and
stress.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..errors import ConfigError
from ..neighbors import PairList, VerletList

L = 6


def _coefficients() -> torch.Tensor:
    """(7, 7) matrix C with N_6m P6^(m)(z) = Σ_k z^k C[k, m] for m = 0..6."""
    p = np.polynomial.legendre.leg2poly([0] * L + [1])
    out = np.zeros((L + 1, L + 1))
    for m in range(L + 1):
        norm = math.sqrt((2 * L + 1) / (4 * math.pi) * math.factorial(L - m) / math.factorial(L + m))
        c = np.polynomial.polynomial.polyder(p, m) if m else p
        out[: len(c), m] = norm * c
    return torch.from_numpy(out)


_COEF = _coefficients()
WEIGHT_M = torch.tensor([1.0] + [2.0] * L, dtype=torch.float64)  # m = 0 once, ±m twice


def y6(unit: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Real and imaginary parts (…, 7) of Y6m(û), m = 0..6, for unit vectors ``unit`` (…, 3)."""
    x, y, z = unit[..., 0], unit[..., 1], unit[..., 2]
    ones = torch.ones_like(z)
    zp = torch.stack([ones, z, z * z], -1)
    z3 = zp[..., 2] * z
    zp = torch.cat([zp, torch.stack([z3, z3 * z, z3 * z * z, z3 * z3], -1)], -1)  # z^0..z^6
    poly = zp @ _COEF.to(unit)
    pr, pi = [ones, x], [torch.zeros_like(x), y]  # (x + iy)^m
    for _ in range(2, L + 1):
        pr.append(pr[-1] * x - pi[-1] * y)
        pi.append(pr[-2] * y + pi[-1] * x)
    return poly * torch.stack(pr, -1), poly * torch.stack(pi, -1)


def switch(r: torch.Tensor, r_on: float, r_off: float) -> torch.Tensor:
    """Smooth neighbour weight: 1 below ``r_on``, 0 beyond ``r_off``, a half cosine between."""
    x = ((r - r_on) / (r_off - r_on)).clamp(0.0, 1.0)
    return 0.5 * (1.0 + torch.cos(math.pi * x))


def check_solid(solid) -> tuple[float, float]:
    """``momt.q6_solid`` (centre, width) of the solid-like step, checked: 0 < centre < 1, width > 0."""
    c, w = (float(x) for x in solid)
    if not (0 < c < 1 and w > 0):
        raise ConfigError(f"momt.q6_solid must be [centre, width] with 0 < centre < 1 and width > 0, got "
                          f"{list(solid)}")
    return c, w


def switch_radii_A(lattice_A: float, switch_nn: tuple[float, float]) -> tuple[float, float]:
    """(r_on, r_off) in Å from an FCC lattice constant and radii in units of its nearest-neighbour distance
    a/√2 (the second shell sits at √2 ≈ 1.41)."""
    lo, hi = float(switch_nn[0]), float(switch_nn[1])
    if not 0 < lo < hi:
        raise ConfigError(f"momt.q6_switch_nn must satisfy 0 < r_on < r_off, got {list(switch_nn)}")
    d_nn = float(lattice_A) / math.sqrt(2.0)
    return lo * d_nn, hi * d_nn


def solid_step(score: torch.Tensor, solid: tuple[float, float]) -> torch.Tensor:
    """The smooth count of a solid-like atom, (1 + tanh((s − centre)/width))/2 of its score s (q6_solid)."""
    return 0.5 * (1.0 + torch.tanh((score - float(solid[0])) / float(solid[1])))


def _order(positions: torch.Tensor, cells: torch.Tensor, pairs: PairList, r_on: float,
           r_off: float, solid: tuple[float, float] | None = None) -> torch.Tensor:
    """O (B,) over a half pair list (padding has w = 0); differentiable. Y6m(−û) = Y6m(û) (l even), so each
    entry adds the same w Y6m to both atoms' q6m, and its overlap to both atoms' scores. ``solid``
    (centre, width): the sum of :func:`solid_step` of the scores instead of the scores."""
    B, N = positions.shape[:2]
    i, j = pairs.i.reshape(-1), pairs.j.reshape(-1)
    b = i // N
    x = positions.reshape(B * N, 3)
    vec = x[j] - x[i] + torch.einsum("pk,pkl->pl", pairs.shifts.reshape(-1, 3).to(x.dtype), cells[b])
    r = vec.norm(dim=-1)
    w = switch(r, r_on, r_off)
    re, im = y6(vec / r[:, None])
    both = torch.cat([i, j])
    wre, wim = w[:, None] * re, w[:, None] * im
    qr = torch.zeros(B * N, L + 1, dtype=x.dtype, device=x.device).index_add(0, both, torch.cat([wre, wre]))
    qi = torch.zeros(B * N, L + 1, dtype=x.dtype, device=x.device).index_add(0, both, torch.cat([wim, wim]))
    wm = WEIGHT_M.to(x)
    norm = torch.sqrt((wm * (qr * qr + qi * qi)).sum(-1) + 1e-30)
    qr, qi = qr / norm[:, None], qi / norm[:, None]
    wo = w * (wm * (qr[i] * qr[j] + qi[i] * qi[j])).sum(-1)
    w_sum = torch.zeros(B * N, dtype=x.dtype, device=x.device).index_add(0, both, torch.cat([w, w]))
    score = torch.zeros(B * N, dtype=x.dtype, device=x.device).index_add(0, both, torch.cat([wo, wo]))
    # an atom's weights sum to ~12 in a dense metal; the floor of 1 keeps an atom whose last neighbours
    # are leaving the switch (a void, a surface) from turning 0/0 into a force spike
    score = (score / w_sum.clamp(min=1.0)).reshape(B, N)
    return (score if solid is None else solid_step(score, solid)).sum(-1)


class Q6Order:
    """The q6 bond-order correlation O of walkers (B,N,3)/(B,3,3) with its derivatives. Neighbours come
    from a Verlet list with a ``skin_A`` (:class:`nnpdistill.neighbors.VerletList`: exact for any motion of
    atoms and cell); entries between r_off and r_off + skin weigh 0. Any cell size works (images
    included). Keep one instance per trajectory segment: its list carries state between calls.

    ``kernel``: ``torch`` (eager operations, autograd derivatives), ``cpp`` (:mod:`.q6_cpp`: the same
    function with analytic derivatives, float64 on the CPU) or ``auto`` (cpp where it applies and builds);
    None: the EAM kernel choice (:func:`nnpdistill.potentials.eam_cpp.default_kernel`)."""

    def __init__(self, r_on_A: float, r_off_A: float, skin_A: float = 0.5, kernel: str | None = None,
                 solid: tuple[float, float] | None = None):
        from ..potentials.eam_cpp import KERNELS, default_kernel

        if not 0 < r_on_A < r_off_A:
            raise ConfigError(f"q6 switch radii must satisfy 0 < r_on < r_off, got {r_on_A}, {r_off_A} Å")
        self.kernel = default_kernel() if kernel is None else kernel
        if self.kernel not in KERNELS:
            raise ConfigError(f"q6 kernel must be one of {KERNELS}, got {self.kernel!r}")
        self.r_on, self.r_off, self.skin_A = float(r_on_A), float(r_off_A), float(skin_A)
        self.solid = None if solid is None else check_solid(solid)
        self.verlet = VerletList(self.r_off, skin_A)

    def _resolve(self, positions: torch.Tensor) -> str:
        """The kernel for these inputs, chosen at the first call (the C++ one also builds the list)."""
        if self.kernel in ("torch", "cpp") and self.verlet.n_updates > 0:
            return self.kernel
        from ..potentials.eam_cpp import resolve_kernel
        from .q6_cpp import load_kernel

        if self.kernel == "auto" and positions.dtype != torch.float64:
            self.kernel = "torch"
        self.kernel = resolve_kernel(self.kernel, positions.device, loader=load_kernel, what="q6")
        if self.kernel == "cpp":
            if positions.dtype != torch.float64:
                raise ConfigError(f"the C++ q6 kernel runs in float64, got {positions.dtype}")
            if self.verlet.n_updates == 0:
                self.verlet = VerletList(self.r_off, self.skin_A, builder="cpp")
        return self.kernel

    def __call__(self, positions: torch.Tensor, cells: torch.Tensor, gradient: bool = True
                 ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """O (B,), dO/dr (B,N,3) in Å⁻¹ and dO/dε (B,3,3), the derivative under r → r(I + ε),
        h → h(I + ε) at ε = 0 (symmetric; None, None without ``gradient``). Positions Å, cells rows Å."""
        kernel = self._resolve(positions)
        pairs = self.verlet.update(positions, cells)
        if kernel == "cpp":
            from .q6_cpp import q6_cpp

            O, g_pos, g_eps = q6_cpp(positions, cells, pairs, self.verlet.shifts_t, self.r_on, self.r_off,
                                     _COEF, gradient, self.solid)
            return O, g_pos, None if g_eps is None else 0.5 * (g_eps + g_eps.transpose(1, 2))
        if not gradient:
            with torch.no_grad():
                return _order(positions, cells, pairs, self.r_on, self.r_off, self.solid), None, None
        with torch.enable_grad():
            eps = torch.zeros(positions.shape[0], 3, 3, dtype=positions.dtype, device=positions.device,
                              requires_grad=True)
            pos = positions.detach().requires_grad_(True)
            strain = torch.eye(3, dtype=positions.dtype, device=positions.device) + eps
            O = _order(pos @ strain, cells.detach() @ strain, pairs, self.r_on, self.r_off, self.solid)
            g_pos, g_eps = torch.autograd.grad(O.sum(), (pos, eps))
        return O.detach(), g_pos, 0.5 * (g_eps + g_eps.transpose(1, 2))


def q6_order(positions: torch.Tensor, cells: torch.Tensor, r_on_A: float, r_off_A: float,
             gradient: bool = True, kernel: str | None = None, solid: tuple[float, float] | None = None
             ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """One-off :class:`Q6Order` call (a fresh neighbour list, no skin)."""
    return Q6Order(r_on_A, r_off_A, skin_A=0.0, kernel=kernel, solid=solid)(positions, cells, gradient)
