"""Initial structures (FCC, BCC, HCP, melted liquid) and EAM-derived MOMT defaults (grid, starting bias).

All runs here are short batched NPT runs with the same integrator as production, seeded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..defaults import SCHEMA, from_schema
from ..errors import ConfigError
from ..units import BAR_EV_PER_A3
from .integrators import LangevinNPT, MDState, maxwell_boltzmann, plain_forces
from .momt import Bias2D, order_range
from .order import BoxOrder

log = logging.getLogger("nnpdistill.md")


def fcc_supercell(n_cells, lattice_A: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Positions (4 nx ny nz, 3) Å and cell (3,3) of a conventional FCC supercell of ``n_cells`` = L
    (L×L×L) or (nx, ny, nz) cells."""
    from .models import cells_tuple, fcc_sites_frac

    n = cells_tuple(n_cells)
    if min(n) < 1 or not lattice_A > 0:
        raise ConfigError(f"FCC supercell needs n_cells >= 1 and lattice_A > 0, got {n_cells}, {lattice_A}")
    cell = torch.diag(torch.tensor(n, dtype=torch.float64)) * lattice_A
    return fcc_sites_frac(n_cells) @ cell, cell


def crystal_state(n_walkers: int, n_atoms: int, lattice_A: float, mass_amu: float, temperature_K,
                  generator: torch.Generator, structure: str = "fcc",
                  c_over_a: float | None = None) -> MDState:
    """B copies of a perfect ``structure`` crystal of ``n_atoms`` (:func:`.lattices.crystal_supercell`, at
    the atomic volume of FCC with ``lattice_A``) with Maxwell–Boltzmann momenta."""
    from .lattices import crystal_supercell

    pos, cell = crystal_supercell(structure, n_atoms, lattice_A, c_over_a)
    masses = torch.full((n_atoms,), float(mass_amu), dtype=torch.float64)
    mom = maxwell_boltzmann(masses, temperature_K, (n_walkers, n_atoms), generator)
    return MDState(pos.expand(n_walkers, -1, -1).clone(), mom, cell.expand(n_walkers, 3, 3).clone(), masses)


def fcc_state(n_walkers: int, n_atoms: int, lattice_A: float, mass_amu: float, temperature_K,
              generator: torch.Generator) -> MDState:
    """:func:`crystal_state` of the paper's FCC cell (4 L³, or 144, 192, 216: :func:`.order.fcc_cells`)."""
    return crystal_state(n_walkers, n_atoms, lattice_A, mass_amu, temperature_K, generator)


@dataclass
@from_schema("sample")
class MDParams:
    """Integrator settings shared by every stage (see :class:`LangevinNPT`)."""

    timestep_fs: float = SCHEMA
    pressure_bar: float = SCHEMA
    thermostat_tau_fs: float = SCHEMA
    barostat_tau_fs: float = SCHEMA
    compressibility_per_bar: float = SCHEMA
    barostat_mode: str = SCHEMA

    def integrator(self, temperature_K, generator: torch.Generator) -> LangevinNPT:
        return LangevinNPT(self.timestep_fs, temperature_K, self.pressure_bar, self.thermostat_tau_fs,
                           self.barostat_tau_fs, self.compressibility_per_bar, self.barostat_mode, generator)


def run_plain(state: MDState, evaluator, integ: LangevinNPT, n_steps: int,
              record: Callable | None = None):
    """Run ``n_steps`` of plain NPT/NVT in place; ``record(state, result)`` is called after every step."""
    fn = plain_forces(evaluator)
    f, s, res = fn(state.positions, state.cells)
    for _ in range(int(n_steps)):
        f, s, res = integ.step(state, fn, f, s)
        if record is not None:
            record(state, res)
    return res


def melt_and_quench(state: MDState, evaluator, md: MDParams, generator: torch.Generator, temperature_K: float,
                    melt_K: float, melt_steps: int, quench_steps: int) -> MDState:
    """Melt ``state`` at ``melt_K`` for ``melt_steps``, then hold at ``temperature_K`` for
    ``quench_steps``."""
    if not melt_K > 0 or melt_steps < 0 or quench_steps < 0:
        raise ConfigError(f"liquid preparation needs melt_K > 0 and non-negative step counts, got {melt_K}, "
                          f"{melt_steps}, {quench_steps}")
    run_plain(state, evaluator, md.integrator(melt_K, generator), melt_steps)
    run_plain(state, evaluator, md.integrator(temperature_K, generator), quench_steps)
    state.step = 0
    return state


@dataclass
class PhaseLines:
    """Mean potential enthalpy (eV, whole cell) and its std of solid and liquid at two temperatures each,
    and the mean order parameters: the data behind the default MOMT grid and starting bias."""

    t_solid_K: tuple[float, float]
    h_solid_eV: tuple[float, float]
    h_solid_std_eV: tuple[float, float]
    t_liquid_K: tuple[float, float]
    h_liquid_eV: tuple[float, float]
    h_liquid_std_eV: tuple[float, float]
    o_solid: float
    o_liquid: float
    o_solid_cold: float | None = None  # the crystal's mean O at the lower solid temperature (T_min)
    o_liquid_hot: float | None = None  # the liquid's mean O at the upper liquid temperature (T_max)
    o_solid_cold_std: float = 0.0  # and the standard deviations of O there
    o_liquid_hot_std: float = 0.0

    def o_range(self, n_sigma: float = 3.0) -> tuple[float, float]:
        """The phases' own order-parameter range (``o_grid`` phase_lines): [liquid O at T_max − n_sigma
        std, crystal O at T_min + n_sigma std], which holds the thermal fluctuations of every state
        between the two extremes and no strip that none of them reaches."""
        if self.o_solid_cold is None or self.o_liquid_hot is None:
            raise ConfigError("these phase lines carry no O at T_min and T_max (made by an older version)")
        return (float(self.o_liquid_hot - n_sigma * self.o_liquid_hot_std),
                float(self.o_solid_cold + n_sigma * self.o_solid_cold_std))

    def h_range(self, n_sigma: float = 4.0, cold_margin_K: float = 0.0) -> tuple[float, float]:
        """[solid H at the lower T - n_sigma std, liquid H at the upper T + n_sigma std]; ``cold_margin_K``
        moves the low edge further down the solid's H(T) line by that many kelvin (room in the grid for
        a crystal colder than T_min, where the order bias can push walkers)."""
        slope = (self.h_solid_eV[1] - self.h_solid_eV[0]) / (self.t_solid_K[1] - self.t_solid_K[0])
        lo = self.h_solid_eV[0] - n_sigma * self.h_solid_std_eV[0] - slope * float(cold_margin_K)
        hi = self.h_liquid_eV[1] + n_sigma * self.h_liquid_std_eV[1]
        return lo, hi


def estimate_phase_lines(evaluator, n_atoms: int, lattice_A: float, mass_amu: float, md: MDParams,
                         t_ref_K: float, t_min_K: float, t_max_K: float, generator: torch.Generator,
                         n_steps: int = 2000, copies: int = 2, order=None, structure: str = "fcc",
                         c_over_a: float | None = None) -> PhaseLines:
    """Short batched NPT runs: the crystal (``structure``, FCC by default) at T_min and (T_min+T0)/2, liquid
    at T0 and T_max (melted first at max(1.3 T_max, 2 T0)). Each of the four points gets ``copies`` walkers;
    the second half of ``n_steps`` is averaged. ``order``: the bias coordinate (:func:`.order.make_order`;
    default the box-aligned one)."""
    order = order if order is not None else BoxOrder()
    t_s = (float(t_min_K), 0.5 * (t_min_K + t_ref_K))
    t_l = (float(t_ref_K), float(t_max_K))
    temps = torch.tensor([*t_s, *t_l], dtype=torch.float64).repeat_interleave(copies)
    B = temps.numel()
    state = crystal_state(B, n_atoms, lattice_A, mass_amu, temps, generator, structure, c_over_a)
    liquid = torch.arange(B) >= 2 * copies
    # melt well above the superheating limit of a surface-free crystal (~1.3-1.5 T_m): 1.3 T_max, and at
    # least 2 T0 for a narrow window around T_m (at 1.3 x 2300 K a 108-atom Ni crystal did not melt)
    melt = torch.where(liquid, torch.full_like(temps, max(1.3 * t_max_K, 2.0 * t_ref_K)), temps)
    run_plain(state, evaluator, md.integrator(melt, generator), n_steps)
    p0 = md.pressure_bar * BAR_EV_PER_A3
    hs, os_ = [], []

    def rec(st, res):
        if rec.i >= n_steps // 2:
            hs.append(res.energy + p0 * st.volumes())
            os_.append(order(st.positions, st.cells, gradient=False)[0])
        rec.i += 1

    rec.i = 0
    run_plain(state, evaluator, md.integrator(temps, generator), n_steps, rec)
    H = torch.stack(hs).reshape(-1, 4, copies).transpose(0, 1).reshape(4, -1)
    O = torch.stack(os_).reshape(-1, 4, copies).transpose(0, 1).reshape(4, -1)
    m, sd, om, osd = H.mean(1).tolist(), H.std(1).tolist(), O.mean(1).tolist(), O.std(1).tolist()
    lines = PhaseLines(t_s, (m[0], m[1]), (sd[0], sd[1]), t_l, (m[2], m[3]), (sd[2], sd[3]),
                       o_solid=0.5 * (om[0] + om[1]), o_liquid=0.5 * (om[2] + om[3]), o_solid_cold=om[0],
                       o_liquid_hot=om[3], o_solid_cold_std=osd[0], o_liquid_hot_std=osd[3])
    log.info("phase lines: solid H=%s eV (O=%.1f±%.1f,%.1f), liquid H=%s eV (O=%.1f,%.1f±%.1f)",
             [round(x, 3) for x in m[:2]], om[0], osd[0], om[1], [round(x, 3) for x in m[2:]], om[2], om[3],
             osd[3])
    # the box-aligned O: solid above 0.3 N, liquid below; the q6 one (liquid ~0.25 N): half N apart
    box = isinstance(order, BoxOrder)
    if not ((om[0] > 0.3 * n_atoms and om[3] < 0.3 * n_atoms) if box else om[0] - om[3] > 0.5 * n_atoms):
        raise ConfigError(f"could not derive MOMT defaults: the crystal at {t_min_K} K has O = {om[0]:.1f} "
                          f"and the liquid at {t_max_K} K has O = {om[3]:.1f} (N = {n_atoms}), too close "
                          "to tell the phases apart; check t_min_K/t_max_K")
    if not (m[0] < m[1] and m[2] < m[3] and m[0] < m[3]):
        raise ConfigError(f"could not derive MOMT defaults: enthalpies {m} eV do not rise with temperature")
    return lines


def initial_bias(lines: PhaseLines, n_atoms: int, t_ref_K: float, t_min_K: float, t_max_K: float,
                 n_h: int, n_o: int, o_margin: float = 5.0,
                 h_range_eV: tuple[float, float] | None = None, h_cold_margin_K: float = 0.0,
                 o_range: tuple[float, float] | None = None) -> Bias2D:
    """A multithermal starting bias: within each phase T_eff(H) follows that phase's H(T) line (so the walk
    is roughly flat in H), anchored so both phases have ΔH = 0 at their enthalpy at T0; a C¹ smoothstep in
    O blends liquid (O ≤ O_liq) into solid (O ≥ O_sol). ``o_range``: the grid's O range (default
    [−o_margin, N + o_margin])."""
    h_lo, h_hi = h_range_eV if h_range_eV is not None else lines.h_range(cold_margin_K=h_cold_margin_K)
    bias = Bias2D((h_lo, h_hi), o_range if o_range is not None else order_range(n_atoms, o_margin), n_h, n_o)
    hs = torch.linspace(h_lo, h_hi, 2000, dtype=torch.float64)

    def phase_integral(t_pts, h_pts):
        slope = (t_pts[1] - t_pts[0]) / (h_pts[1] - h_pts[0])
        teff = (t_pts[0] + slope * (hs - h_pts[0])).clamp(t_min_K, t_max_K)
        integrand = t_ref_K / teff - 1.0
        cum = torch.cat([torch.zeros(1, dtype=hs.dtype),
                         torch.cumsum(0.5 * (integrand[1:] + integrand[:-1]) * (hs[1:] - hs[:-1]), 0)])
        h_at_ref = h_pts[0] + (t_ref_K - t_pts[0]) / slope
        return cum - torch.from_numpy(__import__("numpy").interp([h_at_ref], hs.numpy(), cum.numpy()))

    dh_s = phase_integral(lines.t_solid_K, lines.h_solid_eV)
    dh_l = phase_integral(lines.t_liquid_K, lines.h_liquid_eV)
    o_l, o_s = lines.o_liquid, max(lines.o_solid, lines.o_liquid + 1.0)

    def fn(H, O):
        import numpy as np

        ds = torch.from_numpy(np.interp(H.reshape(-1).numpy(), hs.numpy(), dh_s.numpy())).reshape(H.shape)
        dl = torch.from_numpy(np.interp(H.reshape(-1).numpy(), hs.numpy(), dh_l.numpy())).reshape(H.shape)
        x = ((O - o_l) / (o_s - o_l)).clamp(0, 1)
        phi = x * x * (3 - 2 * x)
        return phi * ds + (1 - phi) * dl

    bias.fit(fn)
    return bias
