"""MOMT (multiorder-multithermal) bias: a 2-D cubic B-spline ΔH(H, O), Wang–Landau updates shared by
all walkers, and biased forces/stress for NPT on U_eff = U + ΔH(U + P0 V, O).

Grid: ``n_h`` nodes over [h_min, h_max] (total potential enthalpy, eV) × ``n_o`` nodes over
[o_min, o_max] (order parameter). ΔH = Σ_jk c_jk B((H − H_j)/dH) B((O − O_k)/dO) with the uniform cubic
B-spline B (C², so both derivatives are continuous); coefficients are padded by one node on every side.
Beyond the enthalpy range the bias continues linearly in H: with the clip's slopes where it has them
(``beyond_slopes``: the biases that honour the T_eff clip, i.e. staged and frozen ones; a walker colder than
the grid runs at T_min, a hotter one at T_max, and feels the O-force of the grid's edge), else with its
edge slope; beyond the order-parameter range it is constant. A walker beyond the enthalpy range deposits
on the grid's edge (the B-spline weights at the clamped point), so a region that the walk reaches past the
edge is filled like any other instead of staying a sink; no update is made beyond the order-parameter range.

Biased dynamics (Yoshimoto 2006; notes/momt.md): s = 1 + ∂ΔH/∂H = T0/T_eff, clipped to
[T0/T_max, T0/T_min]; F = s F_U − (∂ΔH/∂O) ∇O; σ_eff = s σ_U + (s − 1) P0 I (no virial from O).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import ConfigError
from ..units import KB_EV_PER_K
from .order import BoxOrder


def _bspline_weights(u: torch.Tensor, n: int):
    """Cell index i (into the padded coefficients: nodes i..i+3), weights (…,4), d/du weights (…,4) at the
    point clamped into the grid (not zeroed outside it), and the in-range mask."""
    inside = (u >= 0) & (u <= n - 1)
    uc = u.clamp(0.0, n - 1.0)
    i = torch.floor(uc).clamp(max=n - 2)
    t = uc - i
    t2, t3 = t * t, t * t * t
    w = torch.stack([(1 - t) ** 3 / 6, (3 * t3 - 6 * t2 + 4) / 6, (-3 * t3 + 3 * t2 + 3 * t + 1) / 6, t3 / 6],
                    -1)
    dw = torch.stack([-(1 - t) ** 2 / 2, 1.5 * t2 - 2 * t, -1.5 * t2 + t + 0.5, t2 / 2], -1)
    return i.long(), w, dw, inside



def bias_values(biases: list, H, O) -> np.ndarray:
    """ΔH of every bias at the frames (H (F,) eV, O (F,)): (K, F) eV, each row what ``biases[k](H, O)[0]``
    gives, bitwise. Biases on one grid (Wang-Landau stages: only the coefficients differ) share the spline
    weights, computed once: the reweighting evaluates hundreds of stage biases on tens of thousands of
    frames, and the weights were two thirds of each call."""
    H = torch.as_tensor(H, dtype=torch.float64).reshape(-1)
    O = torch.as_tensor(O, dtype=torch.float64).reshape(-1)
    if not biases:
        return np.empty((0, H.numel()))
    b0 = biases[0]
    key = (b0.h_lo, b0.h_hi, b0.o_lo, b0.o_hi, b0.n_h, b0.n_o, b0.beyond_slopes)
    if any((b.h_lo, b.h_hi, b.o_lo, b.o_hi, b.n_h, b.n_o, b.beyond_slopes) != key for b in biases):
        return np.stack([b(H, O)[0].numpy() for b in biases])
    ih, wh, dwh, io, wo, _, _ = b0._weights(H, O)
    beyond = H - H.clamp(b0.h_lo, b0.h_hi)
    ar = torch.arange(4)
    rows, cols = (ih[:, None] + ar)[:, :, None], (io[:, None] + ar)[:, None, :]
    out = np.empty((len(biases), H.numel()))
    for k, b in enumerate(biases):  # the arithmetic of Bias2D.__call__, for the value only
        c = b.coef[rows, cols]
        d_h = torch.einsum("bi,bij,bj->b", dwh, c, wo) / b.dh
        if b.beyond_slopes is not None:
            lo, hi = b.beyond_slopes
            d_h = torch.where(beyond < 0, lo, torch.where(beyond > 0, hi, d_h))
        out[k] = (torch.einsum("bi,bij,bj->b", wh, c, wo) + d_h * beyond).numpy()
    return out

class Bias2D:
    """Cubic B-spline ΔH(H, O) in eV over a regular (n_h × n_o) node grid; ``coef`` (n_h+2, n_o+2).

    ``beyond_slopes`` (below, above): ∂ΔH/∂H beyond the enthalpy range (:meth:`__call__`); None: the
    edge's own slope (the continuation of runs made before the clip's slopes were used there)."""

    def __init__(self, h_range_eV: tuple[float, float], o_range: tuple[float, float], n_h: int = 60,
                 n_o: int = 80, coef: torch.Tensor | None = None,
                 beyond_slopes: tuple[float, float] | None = None):
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
        self.beyond_slopes = None if beyond_slopes is None else tuple(float(v) for v in beyond_slopes)
        if self.beyond_slopes is not None and (len(self.beyond_slopes) != 2
                                               or not all(v > -1.0 for v in self.beyond_slopes)):
            raise ConfigError(f"beyond_slopes must be two slopes > -1 (T_eff > 0), got {beyond_slopes}")

    @property
    def h_nodes(self) -> torch.Tensor:
        return torch.linspace(self.h_lo, self.h_hi, self.n_h, dtype=torch.float64)

    @property
    def o_nodes(self) -> torch.Tensor:
        return torch.linspace(self.o_lo, self.o_hi, self.n_o, dtype=torch.float64)

    def _weights(self, H: torch.Tensor, O: torch.Tensor):
        ih, wh, dwh, in_h = _bspline_weights((H - self.h_lo) / self.dh, self.n_h)
        io, wo, dwo, in_o = _bspline_weights((O - self.o_lo) / self.do, self.n_o)
        dwo = dwo * in_o[..., None].to(dwo.dtype)  # constant in O beyond its range
        return ih, wh, dwh, io, wo, dwo, in_h & in_o

    def _block(self, ih: torch.Tensor, io: torch.Tensor) -> torch.Tensor:
        ar = torch.arange(4)
        rows = (ih[:, None] + ar)[:, :, None]
        cols = (io[:, None] + ar)[:, None, :]
        return self.coef[rows, cols]  # (B,4,4)

    def __call__(self, H: torch.Tensor, O: torch.Tensor):
        """ΔH (B,) eV, ∂ΔH/∂H (B,) (dimensionless), ∂ΔH/∂O (B,) eV for H (B,) eV and O (B,).

        Beyond the enthalpy range the bias continues linearly in H, so that the walker is brought back
        instead of jumping to T0. With ``beyond_slopes`` (below, above) the slope there is fixed (a bias
        that honours the clip: T_eff = T_min below the grid, T_max above) and ΔH(H, O) = ΔH(edge, O) +
        slope (H − edge), so the O-force is the edge's; without them the slope is the edge's own,
        ∂ΔH/∂H(edge, O), whose O-derivative times the distance past the edge acts on O (it grows without
        bound: in a 108-atom Ni run it held a third of the walkers in an over-ordered crystal below the
        grid). Beyond the order-parameter range the bias is constant in O. Inside the grid both forms
        are the same numbers."""
        H = torch.as_tensor(H, dtype=torch.float64).reshape(-1)
        O = torch.as_tensor(O, dtype=torch.float64).reshape(-1)
        ih, wh, dwh, io, wo, dwo, _ = self._weights(H, O)
        beyond = H - H.clamp(self.h_lo, self.h_hi)  # eV past the enthalpy range (0 inside)
        c = self._block(ih, io)
        d_h = torch.einsum("bi,bij,bj->b", dwh, c, wo) / self.dh  # edge slope beyond the range
        d_o = torch.einsum("bi,bij,bj->b", wh, c, dwo)
        if self.beyond_slopes is not None:  # fixed slopes: the O-force is the edge's
            lo, hi = self.beyond_slopes
            d_h = torch.where(beyond < 0, lo, torch.where(beyond > 0, hi, d_h))
        else:  # the edge's own slope, continued: its O-derivative acts too
            d_o = d_o + torch.einsum("bi,bij,bj->b", dwh, c, dwo) / self.dh * beyond
        val = torch.einsum("bi,bij,bj->b", wh, c, wo) + d_h * beyond
        return val, d_h, d_o / self.do

    def add(self, H: torch.Tensor, O: torch.Tensor, amount_eV: float) -> torch.Tensor:
        """Add ``amount_eV`` × B-spline weights at each (H, O) whose O is in range, H clamped into the grid (a
        walker past the enthalpy range deposits on the edge it left: in a 108-atom Ni run, walkers below the
        grid sat in an over-ordered crystal where the edge's O-force pulled them and nothing filled it);
        returns the (B,) mask of the deposits made."""
        H = torch.as_tensor(H, dtype=torch.float64).reshape(-1)
        O = torch.as_tensor(O, dtype=torch.float64).reshape(-1)
        ih, wh, _, io, wo, _, _ = self._weights(H, O)  # weights at the point clamped into the grid
        inside = (O >= self.o_lo) & (O <= self.o_hi)
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

    def fit_grid(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The (3 n_h,) H and (3 n_o,) O points at which :meth:`fit` samples a function."""
        return (torch.linspace(self.h_lo, self.h_hi, 3 * self.n_h, dtype=torch.float64),
                torch.linspace(self.o_lo, self.o_hi, 3 * self.n_o, dtype=torch.float64))

    def fit(self, fn) -> None:
        """Set the coefficients by least squares to ``fn(H, O) -> ΔH`` sampled on a 3× finer grid."""
        hs, os_ = self.fit_grid()
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

    def honour_clip(self, s_min: float, s_max: float, visits: torch.Tensor | None = None) -> Bias2D:
        """A new bias Φ whose enthalpy slope obeys the effective-temperature clip, so that a run on it needs
        no clipping and samples exactly exp(−β0 (U + P0 V + Φ)).

        The dynamics clip s = 1 + ∂ΔH/∂H to [s_min, s_max]; where the clip acts the force is not the
        gradient of ΔH. Φ is ΔH with its H-slope clipped and integrated along H in every O column, from
        the column's most visited enthalpy (``visits`` (n_h, n_o), else the grid middle), so Φ = ΔH
        wherever the walk lived without clipping; the result is refitted as a B-spline on the same grid.
        Beyond the enthalpy range Φ continues with the clip's slopes (``beyond_slopes``: T_eff = T0/s_max
        below the grid, T0/s_min above).
        """
        hs, os_ = self.fit_grid()
        hh, oo = torch.meshgrid(hs, os_, indexing="ij")
        val, d_h, _ = self(hh.reshape(-1), oo.reshape(-1))
        val, d_h = val.reshape(hh.shape), d_h.reshape(hh.shape)
        slope = (1.0 + d_h).clamp(float(s_min), float(s_max)) - 1.0
        dh = hs[1] - hs[0]
        cum = torch.cat([torch.zeros(1, os_.numel(), dtype=torch.float64),
                         torch.cumsum(0.5 * (slope[1:] + slope[:-1]) * dh, 0)])  # (nH, nO) from hs[0]
        if visits is not None and float(visits.sum()) > 0:
            col = torch.as_tensor(visits, dtype=torch.float64)
            ref_node = col.argmax(0)  # (n_o,) most visited H node per O node (0 where never visited)
            ref_node = torch.where(col.sum(0) > 0, ref_node, torch.full_like(ref_node, self.n_h // 2))
            ref_node = torch.repeat_interleave(ref_node, 3)  # nodes → fit-grid columns
            ref = (ref_node.to(torch.float64) * self.dh + self.h_lo - hs[0]) / dh
            ref = ref.round().long().clamp(0, hs.numel() - 1)
        else:
            ref = torch.full((os_.numel(),), hs.numel() // 2, dtype=torch.long)
        cols = torch.arange(os_.numel())
        phi = val[ref, cols][None, :] + cum - cum[ref, cols][None, :]
        out = Bias2D((self.h_lo, self.h_hi), (self.o_lo, self.o_hi), self.n_h, self.n_o,
                     beyond_slopes=clip_beyond_slopes(s_min, s_max))
        out.fit(lambda _h, _o: phi)
        return out

    def state_dict(self) -> dict:
        return {"h_range_eV": (self.h_lo, self.h_hi), "o_range": (self.o_lo, self.o_hi), "n_h": self.n_h,
                "n_o": self.n_o, "coef": self.coef.clone(), "beyond_slopes": self.beyond_slopes}

    @classmethod
    def from_state_dict(cls, d: dict) -> Bias2D:
        return cls(tuple(d["h_range_eV"]), tuple(d["o_range"]), int(d["n_h"]), int(d["n_o"]), d["coef"],
                   beyond_slopes=d.get("beyond_slopes"))


def clip_beyond_slopes(s_min: float, s_max: float) -> tuple[float, float]:
    """∂ΔH/∂H beyond the enthalpy range of a bias that honours the clip s ∈ [s_min, s_max]: below the
    grid s_max − 1 (T_eff = T0/s_max = T_min), above it s_min − 1 (T_max)."""
    return float(s_max) - 1.0, float(s_min) - 1.0


class WangLandau:
    """Multiple-walker Wang–Landau schedule on a :class:`Bias2D` at reference temperature ``t_ref_K``.

    Each update adds k_B T0 ln f (spread by the B-spline weights) at every walker's (H, O) and counts the
    nearest node in a stage histogram. A stage ends, and ln f is halved, when the histogram over the nodes
    visited in this stage is flat (min ≥ ``flatness`` × mean) after at least ``min_updates_per_stage``
    update rounds, or after ``max_updates_per_stage`` rounds in any case (the range of a 2-D walk is not
    known in advance and rarely visited edge nodes would otherwise hold ln f up for ever). Once ln f falls
    below N_vis/t (N_vis: nodes visited so far, t: depositions so far) the 1/t schedule of Belardinelli &
    Pereyra (J. Chem. Phys. 127, 184105 (2007)) takes over: ln f = min(ln f, N_vis/t), so ln f never
    rises. ln f never goes below ``ln_f_min``. A walker past the order-parameter range does not deposit
    (the bias is flat in O there, so a deposit on the edge would not push it back: on a grid on the
    phases' own O range, 32-atom Ni, such deposits stacked a wall of 31 k_B T0 at the crystal's edge).
    """

    def __init__(self, bias: Bias2D, t_ref_K: float, ln_f_initial: float = 1.0, flatness: float = 0.8,
                 ln_f_min: float = 1.0e-6, min_updates_per_stage: int = 100,
                 max_updates_per_stage: int = 500):
        if not ln_f_initial > 0:
            raise ConfigError(f"momt.ln_f_initial must be positive, got {ln_f_initial}")
        if not 0 < flatness < 1:
            raise ConfigError(f"momt.flatness must be in (0, 1), got {flatness}")
        if not 1 <= int(min_updates_per_stage) <= int(max_updates_per_stage):
            raise ConfigError(f"momt.max_updates_per_stage ({max_updates_per_stage}) must be >= "
                              f"min_updates_per_stage ({min_updates_per_stage}) >= 1")
        self.bias = bias
        self.kT0 = KB_EV_PER_K * float(t_ref_K)
        self.ln_f = float(ln_f_initial)
        self.flatness = float(flatness)
        self.ln_f_min = float(ln_f_min)
        self.min_updates = int(min_updates_per_stage)
        self.max_updates = int(max_updates_per_stage)
        self.hist = torch.zeros(bias.n_h, bias.n_o, dtype=torch.float64)
        self.visits = torch.zeros(bias.n_h, bias.n_o, dtype=torch.float64)  # never reset (for plots)
        self.n_updates = 0  # update rounds (each covers all walkers)
        self.n_deposits = 0  # walker depositions (O in range; H clamped to the grid)
        self.stage_updates = 0
        self.one_over_t = False

    def flatness_ratio(self) -> float:
        """min/mean of the stage histogram over the nodes visited in this stage (0 when empty)."""
        h = self.hist[self.hist > 0]
        return float(h.min() / h.mean()) if h.numel() else 0.0

    def update(self, H: torch.Tensor, O: torch.Tensor) -> None:
        inside = self.bias.add(H, O, self.kT0 * self.ln_f)
        ih, io, _ = self.bias.node_index(H, O)
        ones = inside.to(torch.float64)
        self.hist.index_put_((ih, io), ones, accumulate=True)
        self.visits.index_put_((ih, io), ones, accumulate=True)
        self.n_updates += 1
        self.n_deposits += int(inside.sum())
        self.stage_updates += 1
        n_vis = int((self.visits > 0).sum())
        one_over_t = n_vis / max(self.n_deposits, 1)
        if not self.one_over_t:
            flat = self.stage_updates >= self.min_updates and self.flatness_ratio() >= self.flatness
            if flat or self.stage_updates >= self.max_updates:
                self.ln_f *= 0.5
                self.hist.zero_()
                self.stage_updates = 0
            if n_vis > 0 and self.ln_f < one_over_t:
                self.one_over_t = True
        if self.one_over_t:
            self.ln_f = min(self.ln_f, one_over_t)
        self.ln_f = max(self.ln_f_min, self.ln_f)

    def state_dict(self) -> dict:
        return {"ln_f": self.ln_f, "hist": self.hist.clone(), "visits": self.visits.clone(),
                "n_updates": self.n_updates, "n_deposits": self.n_deposits,
                "stage_updates": self.stage_updates, "one_over_t": self.one_over_t,
                "kT0": self.kT0, "flatness": self.flatness, "ln_f_min": self.ln_f_min,
                "min_updates": self.min_updates, "max_updates": self.max_updates}

    def load_state_dict(self, d: dict) -> None:
        self.ln_f = float(d["ln_f"])
        self.hist = d["hist"].clone()
        self.visits = d["visits"].clone()
        self.n_updates = int(d["n_updates"])
        self.n_deposits = int(d["n_deposits"])
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
    clipped: torch.Tensor  # (B,) bool: the effective-temperature clip acted on this call


class MOMTForce:
    """ForceFn for NPT on U + ΔH(U + P0 V, O). ``evaluator(positions, cells)`` returns the unbiased result;
    ``pressure_eV_A3`` is P0; T_eff = T0/s is clipped to [t_min_K, t_max_K]. ``order``: the bias coordinate,
    a callable ``(positions, cells) -> (O, dO/dr, dO/dε or None)`` (:func:`.order.make_order`; default the
    box-aligned FCC order parameter); a coordinate that depends on the cell adds (∂ΔH/∂O)(∂O/∂ε)/V to the
    stress."""

    def __init__(self, evaluator, bias: Bias2D, pressure_eV_A3: float, t_ref_K: float, t_min_K: float,
                 t_max_K: float, n_cells: int | None = None, order=None):
        check_temperatures(t_ref_K, t_min_K, t_max_K)
        self.evaluator = evaluator
        self.bias = bias
        self.p0 = float(pressure_eV_A3)
        self.s_min = float(t_ref_K) / float(t_max_K)
        self.s_max = float(t_ref_K) / float(t_min_K)
        self.order = order if order is not None else BoxOrder(n_cells)

    def __call__(self, positions: torch.Tensor, cells: torch.Tensor):
        res = self.evaluator(positions, cells)
        V = torch.linalg.det(cells).abs()
        H = res.energy + self.p0 * V
        O, gO, dO_deps = self.order(positions, cells)
        _, d_h, d_o = self.bias(H, O)
        s_raw = 1.0 + d_h
        s = s_raw.clamp(self.s_min, self.s_max)
        forces = s[:, None, None] * res.forces - d_o[:, None, None] * gO
        eye = torch.eye(3, dtype=positions.dtype)
        stress = s[:, None, None] * res.stress + ((s - 1.0) * self.p0)[:, None, None] * eye
        if dO_deps is not None:
            stress = stress + (d_o / V)[:, None, None] * dO_deps
        return forces, stress, MOMTAux(res, H, O, s, V, s != s_raw)


def check_temperatures(t_ref_K: float, t_min_K: float, t_max_K: float) -> None:
    """ConfigError unless 0 < t_min_K < t_ref_K < t_max_K (an inverted or empty range is an error)."""
    if not (0 < t_min_K < t_max_K):
        raise ConfigError(f"MOMT temperature range must satisfy 0 < t_min_K < t_max_K, got "
                          f"t_min_K={t_min_K}, t_max_K={t_max_K}")
    if not (t_min_K <= t_ref_K <= t_max_K):
        raise ConfigError(f"MOMT reference temperature t_ref_K={t_ref_K} must lie in [t_min_K, t_max_K] = "
                          f"[{t_min_K}, {t_max_K}]")


def order_range(n_atoms: int, margin: float = 5.0) -> tuple[float, float]:
    """Default order-parameter grid range [−margin, N + margin] (O = N for the perfect crystal)."""
    if int(n_atoms) < 1:
        raise ConfigError(f"the order-parameter grid needs N >= 1 atoms, got {n_atoms}")
    return (-float(margin), float(n_atoms) + float(margin))
