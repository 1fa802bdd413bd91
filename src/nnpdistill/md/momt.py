"""MOMT (multiorder-multithermal) bias: a 2-D cubic B-spline ΔH(H, O), Wang–Landau updates shared by
all walkers, and biased forces/stress for NPT on U_eff = U + ΔH(U + P0 V, O).

Grid: ``n_h`` nodes over [h_min, h_max] (total potential enthalpy, eV) × ``n_o`` nodes over
[o_min, o_max] (order parameter). ΔH = Σ_jk c_jk B((H − H_j)/dH) B((O − O_k)/dO) with the uniform cubic
B-spline B (C², so both derivatives are continuous); coefficients are padded by one node on every side.
Outside the grid the coordinates are clamped (zero slope there) and no update is made.

Biased dynamics (Yoshimoto 2006; notes/momt.md): s = 1 + ∂ΔH/∂H = T0/T_eff, clipped to
[T0/T_max, T0/T_min]; F = s F_U − (∂ΔH/∂O) ∇O; σ_eff = s σ_U + (s − 1) P0 I (no virial from O).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import ConfigError
from ..units import KB_EV_PER_K
from .order import fcc_cells_per_side, order_parameter


def _bspline_weights(u: torch.Tensor, n: int):
    """Cell index i (into the padded coefficients: nodes i..i+3), weights (…,4) and d/du weights (…,4)."""
    inside = (u >= 0) & (u <= n - 1)
    uc = u.clamp(0.0, n - 1.0)
    i = torch.floor(uc).clamp(max=n - 2)
    t = uc - i
    t2, t3 = t * t, t * t * t
    w = torch.stack([(1 - t) ** 3 / 6, (3 * t3 - 6 * t2 + 4) / 6, (-3 * t3 + 3 * t2 + 3 * t + 1) / 6, t3 / 6],
                    -1)
    dw = torch.stack([-(1 - t) ** 2 / 2, 1.5 * t2 - 2 * t, -1.5 * t2 + t + 0.5, t2 / 2], -1)
    dw = dw * inside[..., None].to(dw.dtype)
    return i.long(), w, dw, inside


class Bias2D:
    """Cubic B-spline ΔH(H, O) in eV over a regular (n_h × n_o) node grid; ``coef`` (n_h+2, n_o+2)."""

    def __init__(self, h_range_eV: tuple[float, float], o_range: tuple[float, float], n_h: int = 60,
                 n_o: int = 80, coef: torch.Tensor | None = None):
        h_lo, h_hi = map(float, h_range_eV)
        o_lo, o_hi = map(float, o_range)
        if not (math.isfinite(h_lo) and math.isfinite(h_hi) and h_hi > h_lo):
            raise ConfigError(f"MOMT enthalpy range must satisfy h_min < h_max, got [{h_lo}, {h_hi}] eV")
        if not (o_hi > o_lo):
            raise ConfigError(f"MOMT order-parameter range must satisfy o_min < o_max, got [{o_lo}, {o_hi}]")
        if int(n_h) < 4 or int(n_o) < 4:
            raise ConfigError(f"MOMT grid needs at least 4 nodes per axis, got n_h={n_h}, n_o={n_o}")
        self.h_lo, self.h_hi, self.o_lo, self.o_hi = h_lo, h_hi, o_lo, o_hi
        self.n_h, self.n_o = int(n_h), int(n_o)
        self.dh = (h_hi - h_lo) / (self.n_h - 1)
        self.do = (o_hi - o_lo) / (self.n_o - 1)
        self.coef = (torch.zeros(self.n_h + 2, self.n_o + 2, dtype=torch.float64) if coef is None
                     else torch.as_tensor(coef, dtype=torch.float64).clone())
        if self.coef.shape != (self.n_h + 2, self.n_o + 2):
            raise ConfigError(f"bias coefficients have shape {tuple(self.coef.shape)}, expected "
                              f"{(self.n_h + 2, self.n_o + 2)}")

    @property
    def h_nodes(self) -> torch.Tensor:
        return torch.linspace(self.h_lo, self.h_hi, self.n_h, dtype=torch.float64)

    @property
    def o_nodes(self) -> torch.Tensor:
        return torch.linspace(self.o_lo, self.o_hi, self.n_o, dtype=torch.float64)

    def _weights(self, H: torch.Tensor, O: torch.Tensor):
        ih, wh, dwh, in_h = _bspline_weights((H - self.h_lo) / self.dh, self.n_h)
        io, wo, dwo, in_o = _bspline_weights((O - self.o_lo) / self.do, self.n_o)
        return ih, wh, dwh, io, wo, dwo, in_h & in_o

    def _block(self, ih: torch.Tensor, io: torch.Tensor) -> torch.Tensor:
        ar = torch.arange(4)
        rows = (ih[:, None] + ar)[:, :, None]
        cols = (io[:, None] + ar)[:, None, :]
        return self.coef[rows, cols]  # (B,4,4)

    def __call__(self, H: torch.Tensor, O: torch.Tensor):
        """ΔH (B,) eV, ∂ΔH/∂H (B,) (dimensionless), ∂ΔH/∂O (B,) eV for H (B,) eV and O (B,)."""
        H = torch.as_tensor(H, dtype=torch.float64).reshape(-1)
        O = torch.as_tensor(O, dtype=torch.float64).reshape(-1)
        ih, wh, dwh, io, wo, dwo, _ = self._weights(H, O)
        c = self._block(ih, io)
        val = torch.einsum("bi,bij,bj->b", wh, c, wo)
        d_h = torch.einsum("bi,bij,bj->b", dwh, c, wo) / self.dh
        d_o = torch.einsum("bi,bij,bj->b", wh, c, dwo) / self.do
        return val, d_h, d_o

    def add(self, H: torch.Tensor, O: torch.Tensor, amount_eV: float) -> torch.Tensor:
        """Add ``amount_eV`` × B-spline weights at each (H, O) in range; returns the (B,) in-range mask."""
        H = torch.as_tensor(H, dtype=torch.float64).reshape(-1)
        O = torch.as_tensor(O, dtype=torch.float64).reshape(-1)
        ih, wh, _, io, wo, _, inside = self._weights(H, O)
        ar = torch.arange(4)
        for b in range(H.shape[0]):  # sequential: deterministic accumulation order
            if bool(inside[b]):
                rows, cols = (ih[b] + ar)[:, None], (io[b] + ar)[None, :]
                self.coef[rows, cols] += amount_eV * torch.outer(wh[b], wo[b])
        return inside

    def node_index(self, H: torch.Tensor, O: torch.Tensor):
        """Nearest node indices (ih, io) and the in-range mask, for histograms."""
        ih = torch.round((H - self.h_lo) / self.dh).long()
        io = torch.round((O - self.o_lo) / self.do).long()
        inside = (ih >= 0) & (ih < self.n_h) & (io >= 0) & (io < self.n_o)
        return ih.clamp(0, self.n_h - 1), io.clamp(0, self.n_o - 1), inside

    def on_nodes(self) -> torch.Tensor:
        """(n_h, n_o) bias values at the nodes, eV."""
        hh, oo = torch.meshgrid(self.h_nodes, self.o_nodes, indexing="ij")
        return self(hh.reshape(-1), oo.reshape(-1))[0].reshape(self.n_h, self.n_o)

    def fit(self, fn) -> None:
        """Set the coefficients by least squares to ``fn(H, O) -> ΔH`` sampled on a 3× finer grid."""
        hs = torch.linspace(self.h_lo, self.h_hi, 3 * self.n_h, dtype=torch.float64)
        os_ = torch.linspace(self.o_lo, self.o_hi, 3 * self.n_o, dtype=torch.float64)
        # separable least squares: A_h C A_o^T ≈ F
        def design(x, lo, d, n):
            i, w, _, _ = _bspline_weights((x - lo) / d, n)
            A = torch.zeros(x.shape[0], n + 2, dtype=torch.float64)
            for k in range(4):
                A[torch.arange(x.shape[0]), i + k] += w[:, k]
            return A
        Ah = design(hs, self.h_lo, self.dh, self.n_h)
        Ao = design(os_, self.o_lo, self.do, self.n_o)
        hh, oo = torch.meshgrid(hs, os_, indexing="ij")
        F = torch.as_tensor(fn(hh, oo), dtype=torch.float64)
        ph = torch.linalg.pinv(Ah)
        po = torch.linalg.pinv(Ao)
        self.coef = ph @ F @ po.T

    def state_dict(self) -> dict:
        return {"h_range_eV": (self.h_lo, self.h_hi), "o_range": (self.o_lo, self.o_hi), "n_h": self.n_h,
                "n_o": self.n_o, "coef": self.coef.clone()}

    @classmethod
    def from_state_dict(cls, d: dict) -> Bias2D:
        return cls(tuple(d["h_range_eV"]), tuple(d["o_range"]), int(d["n_h"]), int(d["n_o"]), d["coef"])


class WangLandau:
    """Multiple-walker Wang–Landau schedule on a :class:`Bias2D` at reference temperature ``t_ref_K``.

    Each update adds k_B T0 ln f (spread by the B-spline weights) at every walker's (H, O) and counts the
    nearest node in a histogram; when the visited part of the histogram is flat (min ≥ ``flatness`` ×
    mean, over nodes visited since the last reset, at least ``min_updates_per_stage`` updates), ln f is
    halved and the histogram reset; once ln f drops below (number of visited nodes)/(updates per walker)
    the 1/t schedule takes over. ln f never goes below ``ln_f_min``.
    """

    def __init__(self, bias: Bias2D, t_ref_K: float, ln_f_initial: float = 1.0, flatness: float = 0.8,
                 ln_f_min: float = 1.0e-6, min_updates_per_stage: int = 100):
        if not ln_f_initial > 0:
            raise ConfigError(f"momt.ln_f_initial must be positive, got {ln_f_initial}")
        if not 0 < flatness < 1:
            raise ConfigError(f"momt.flatness must be in (0, 1), got {flatness}")
        self.bias = bias
        self.kT0 = KB_EV_PER_K * float(t_ref_K)
        self.ln_f = float(ln_f_initial)
        self.flatness = float(flatness)
        self.ln_f_min = float(ln_f_min)
        self.min_updates = int(min_updates_per_stage)
        self.hist = torch.zeros(bias.n_h, bias.n_o, dtype=torch.float64)
        self.visits = torch.zeros(bias.n_h, bias.n_o, dtype=torch.float64)  # never reset (for plots)
        self.n_updates = 0  # update rounds (each covers all walkers)
        self.stage_updates = 0
        self.one_over_t = False

    def update(self, H: torch.Tensor, O: torch.Tensor) -> None:
        self.bias.add(H, O, self.kT0 * self.ln_f)
        ih, io, inside = self.bias.node_index(H, O)
        ones = inside.to(torch.float64)
        self.hist.index_put_((ih, io), ones, accumulate=True)
        self.visits.index_put_((ih, io), ones, accumulate=True)
        self.n_updates += 1
        self.stage_updates += 1
        visited = self.visits > 0
        n_vis = int(visited.sum())
        if self.one_over_t:
            self.ln_f = max(self.ln_f_min, n_vis / max(self.n_updates * H.shape[0], 1))
            return
        h = self.hist[visited]
        flat = h.numel() > 0 and float(h.min()) >= self.flatness * float(h.mean())
        if self.stage_updates >= self.min_updates and flat:
            self.ln_f = max(self.ln_f_min, 0.5 * self.ln_f)
            self.hist.zero_()
            self.stage_updates = 0
        if n_vis > 0 and self.ln_f < n_vis / (self.n_updates * H.shape[0]):
            self.one_over_t = True

    def state_dict(self) -> dict:
        return {"ln_f": self.ln_f, "hist": self.hist.clone(), "visits": self.visits.clone(),
                "n_updates": self.n_updates, "stage_updates": self.stage_updates,
                "one_over_t": self.one_over_t,
                "kT0": self.kT0, "flatness": self.flatness, "ln_f_min": self.ln_f_min,
                "min_updates": self.min_updates}

    def load_state_dict(self, d: dict) -> None:
        self.ln_f = float(d["ln_f"])
        self.hist = d["hist"].clone()
        self.visits = d["visits"].clone()
        self.n_updates = int(d["n_updates"])
        self.stage_updates = int(d["stage_updates"])
        self.one_over_t = bool(d["one_over_t"])


@dataclass
class MOMTAux:
    """What a biased force call saw: the unbiased result, H (B,) eV, O (B,), s (B,), V (B,) Å³."""

    result: object
    enthalpy: torch.Tensor
    order: torch.Tensor
    s: torch.Tensor
    volume: torch.Tensor


class MOMTForce:
    """ForceFn for NPT on U + ΔH(U + P0 V, O). ``evaluator(positions, cells)`` returns the unbiased result;
    ``pressure_eV_A3`` is P0; T_eff = T0/s is clipped to [t_min_K, t_max_K]."""

    def __init__(self, evaluator, bias: Bias2D, pressure_eV_A3: float, t_ref_K: float, t_min_K: float,
                 t_max_K: float, n_cells: int | None = None):
        check_temperatures(t_ref_K, t_min_K, t_max_K)
        self.evaluator = evaluator
        self.bias = bias
        self.p0 = float(pressure_eV_A3)
        self.s_min = float(t_ref_K) / float(t_max_K)
        self.s_max = float(t_ref_K) / float(t_min_K)
        self.n_cells = n_cells

    def __call__(self, positions: torch.Tensor, cells: torch.Tensor):
        res = self.evaluator(positions, cells)
        V = torch.linalg.det(cells).abs()
        H = res.energy + self.p0 * V
        O, gO = order_parameter(positions, cells, self.n_cells)
        _, d_h, d_o = self.bias(H, O)
        s = (1.0 + d_h).clamp(self.s_min, self.s_max)
        forces = s[:, None, None] * res.forces - d_o[:, None, None] * gO
        eye = torch.eye(3, dtype=positions.dtype)
        stress = s[:, None, None] * res.stress + ((s - 1.0) * self.p0)[:, None, None] * eye
        return forces, stress, MOMTAux(res, H, O, s, V)


def check_temperatures(t_ref_K: float, t_min_K: float, t_max_K: float) -> None:
    """ConfigError unless 0 < t_min_K < t_ref_K < t_max_K (an inverted or empty range is an error)."""
    if not (0 < t_min_K < t_max_K):
        raise ConfigError(f"MOMT temperature range must satisfy 0 < t_min_K < t_max_K, got "
                          f"t_min_K={t_min_K}, t_max_K={t_max_K}")
    if not (t_min_K <= t_ref_K <= t_max_K):
        raise ConfigError(f"MOMT reference temperature t_ref_K={t_ref_K} must lie in [t_min_K, t_max_K] = "
                          f"[{t_min_K}, {t_max_K}]")


def order_range(n_atoms: int, margin: float = 5.0) -> tuple[float, float]:
    """Default order-parameter grid range [−margin, N + margin] (checks N = 4 L³)."""
    fcc_cells_per_side(n_atoms)
    return (-float(margin), float(n_atoms) + float(margin))
