"""Batched molecular dynamics: velocity Verlet with a Langevin thermostat and a stochastic cell-rescaling
barostat (Bernetti & Bussi, J. Chem. Phys. 153, 114107 (2020)), over B walkers of N atoms at once.

Units: Å, eV, amu, K, ASE time inside (``nnpdistill.units.FS`` per fs); pressures in bar at the
interface and eV/Å³ inside. Positions ``(B, N, 3)``, momenta ``(B, N, 3)`` in amu·Å/(ASE time), cells
``(B, 3, 3)`` with rows = cell vectors. Stress uses ASE's sign (pressure = −trace(stress)/3).

One step (a BAOAB splitting with the barostat in the middle):
``p += dt/2 F; x += dt/2 p/m; O(dt) Langevin; C-rescale(dt); x += dt/2 p/m; F(x); p += dt/2 F``.
The barostat uses the stress of the last force evaluation and the current kinetic energy; positions and
cell scale by λ, momenta by 1/λ. Isotropic mode integrates ε = ln V,
``dε = −(β_T/τ_p)(P0 − P_int) dt + sqrt(2 kT β_T dt/(V τ_p)) ξ``; orthorhombic mode integrates
ε_α = ln L_α per Cartesian axis with ``β_T/(3τ_p)`` and the diagonal of the pressure tensor. Positions
are never wrapped (force providers must accept unwrapped positions).

Force providers are any callable ``(positions, cells) -> (forces, stress, aux)``; ``plain_forces``
adapts an evaluator returning an object with ``.forces`` and ``.stress`` (the EAM engine's result).
All random numbers come from one ``torch.Generator`` in a fixed order, so runs are deterministic.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from ..errors import ConfigError
from ..units import BAR_EV_PER_A3, FS, KB_EV_PER_K

ForceFn = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor, Any]]


def plain_forces(evaluator: Callable) -> ForceFn:
    """Adapt ``evaluator(positions, cells) -> result`` (with .forces, .stress) to a ForceFn."""

    def fn(positions: torch.Tensor, cells: torch.Tensor):
        res = evaluator(positions, cells)
        return res.forces, res.stress, res

    return fn


@dataclass
class MDState:
    """Walkers' dynamical state. positions/momenta (B,N,3), cells (B,3,3), masses (N,) amu,
    ``eps`` the barostat's last strain increment (B,3) (diagnostic only), ``step`` the MD step count."""

    positions: torch.Tensor
    momenta: torch.Tensor
    cells: torch.Tensor
    masses: torch.Tensor
    step: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def n_walkers(self) -> int:
        return int(self.positions.shape[0])

    @property
    def n_atoms(self) -> int:
        return int(self.positions.shape[1])

    def volumes(self) -> torch.Tensor:
        """(B,) cell volumes in Å³."""
        return torch.linalg.det(self.cells).abs()

    def kinetic_energy(self) -> torch.Tensor:
        """(B,) kinetic energies in eV."""
        return (self.momenta.square().sum(-1) / (2.0 * self.masses)).sum(-1)

    def temperature_K(self) -> torch.Tensor:
        """(B,) kinetic temperatures 2K/(3N k_B) (all 3N degrees of freedom are thermostatted)."""
        return 2.0 * self.kinetic_energy() / (3 * self.n_atoms * KB_EV_PER_K)

    def to_dict(self) -> dict:
        return {
            "positions": self.positions.clone(),
            "momenta": self.momenta.clone(),
            "cells": self.cells.clone(),
            "masses": self.masses.clone(),
            "step": int(self.step),
        }

    @classmethod
    def from_dict(cls, d: dict) -> MDState:
        return cls(d["positions"].clone(), d["momenta"].clone(), d["cells"].clone(), d["masses"].clone(),
                   int(d["step"]))


Generators = torch.Generator | list[torch.Generator]


def randn_walkers(shape: tuple[int, ...], generator: Generators, dtype=torch.float64) -> torch.Tensor:
    """Standard normal numbers of ``shape`` (B, ...). One generator draws them all in one call; a list of
    B generators draws walker b's numbers from generator b, so a walker's trajectory does not depend on
    which other walkers share its batch (a batched run equals per-walker runs with the same seeds)."""
    if isinstance(generator, (list, tuple)):
        if len(generator) != shape[0]:
            raise ConfigError(f"{len(generator)} generators for {shape[0]} walkers")
        return torch.stack([torch.randn(shape[1:], generator=g, dtype=dtype) for g in generator])
    return torch.randn(shape, generator=generator, dtype=dtype)


def maxwell_boltzmann(masses: torch.Tensor, temperature_K: torch.Tensor | float, shape: tuple[int, int],
                      generator: Generators, dtype=torch.float64) -> torch.Tensor:
    """Momenta (B,N,3) drawn from the Maxwell–Boltzmann distribution at ``temperature_K`` ((B,) or scalar);
    ``generator`` one generator or one per walker (see :func:`randn_walkers`)."""
    B, N = shape
    kT = torch.as_tensor(temperature_K, dtype=dtype).reshape(-1, 1, 1) * KB_EV_PER_K
    xi = randn_walkers((B, N, 3), generator, dtype)
    return xi * torch.sqrt(masses.reshape(1, -1, 1) * kT)


class LangevinNPT:
    """Langevin thermostat + stochastic cell rescaling barostat, batched over walkers.

    Parameters: ``timestep_fs``; ``temperature_K`` scalar, (B,) per walker or (B, N) per atom;
    ``pressure_bar`` (target);
    ``thermostat_tau_fs`` (1/friction; None → no thermostat, NVE/NPH); ``barostat_tau_fs`` (None → constant
    volume); ``compressibility_per_bar`` (β_T of the barostat, sets its coupling together with τ_p);
    ``barostat_mode`` "isotropic" or "orthorhombic"; ``generator`` a seeded torch.Generator, or a list of
    one per walker (:func:`randn_walkers`: a walker's noise then does not depend on its batch).
    """

    def __init__(self, timestep_fs: float, temperature_K, pressure_bar: float = 1.0,
                 thermostat_tau_fs: float | None = 100.0, barostat_tau_fs: float | None = 1000.0,
                 compressibility_per_bar: float = 1.0e-6, barostat_mode: str = "isotropic",
                 generator: Generators | None = None):
        if not timestep_fs > 0:
            raise ConfigError(f"timestep_fs must be positive, got {timestep_fs}")
        t = torch.as_tensor(temperature_K, dtype=torch.float64)
        if not bool((t > 0).all()):
            raise ConfigError(f"temperature_K must be positive, got {temperature_K}")
        if thermostat_tau_fs is not None and not thermostat_tau_fs > 0:
            raise ConfigError(f"thermostat_tau_fs must be positive or null, got {thermostat_tau_fs}")
        if barostat_tau_fs is not None and not barostat_tau_fs > 0:
            raise ConfigError(f"barostat_tau_fs must be positive or null, got {barostat_tau_fs}")
        if not compressibility_per_bar > 0:
            raise ConfigError(f"compressibility_per_bar must be positive, got {compressibility_per_bar}")
        if barostat_mode not in ("isotropic", "orthorhombic"):
            raise ConfigError(f"barostat_mode must be 'isotropic' or 'orthorhombic', got {barostat_mode!r}")
        self.dt = float(timestep_fs) * FS
        self.temperature_K = t
        self.pressure = float(pressure_bar) * BAR_EV_PER_A3
        self.tau_t = None if thermostat_tau_fs is None else float(thermostat_tau_fs) * FS
        self.tau_p = None if barostat_tau_fs is None else float(barostat_tau_fs) * FS
        self.beta_T = float(compressibility_per_bar) / BAR_EV_PER_A3  # Å³/eV
        self.mode = barostat_mode
        self.generator = generator if generator is not None else torch.Generator().manual_seed(0)

    def _kT_atoms(self, B: int, N: int, dtype) -> torch.Tensor:
        """(B, N, 1) thermostat kT: per walker, or per atom when ``temperature_K`` is (B, N)."""
        t = self.temperature_K.to(dtype)
        if t.ndim == 2:
            if t.shape != (B, N):
                raise ConfigError(f"temperature_K has shape {tuple(t.shape)} for {B} walkers of {N} atoms")
            return (t * KB_EV_PER_K).unsqueeze(-1)
        return self._kT(B, dtype).reshape(-1, 1, 1)

    def _kT(self, B: int, dtype) -> torch.Tensor:
        t = self.temperature_K.to(dtype)
        if t.ndim == 2:  # per-atom thermostat targets: the barostat's noise uses their mean
            t = t.mean(-1)
        if t.ndim == 0:
            t = t.expand(B)
        elif t.shape[0] != B:
            raise ConfigError(f"temperature_K has {t.shape[0]} entries for {B} walkers")
        return t * KB_EV_PER_K

    def _barostat(self, state: MDState, stress: torch.Tensor) -> None:
        B = state.n_walkers
        dtype = state.positions.dtype
        kT = self._kT(B, dtype)
        V = state.volumes()
        m = state.masses.reshape(1, -1, 1)
        kin = (state.momenta.square() / m).sum(1)  # (B,3) = 2 K_αα
        if self.mode == "isotropic":
            p_int = (kin.sum(-1) / 3.0 - V * torch.diagonal(stress, dim1=1, dim2=2).sum(-1) / 3.0) / V
            xi = randn_walkers((B,), self.generator, dtype)
            deps = (-(self.beta_T / self.tau_p) * (self.pressure - p_int) * self.dt
                    + torch.sqrt(2.0 * kT * self.beta_T * self.dt / (V * self.tau_p)) * xi)
            lam = torch.exp(deps / 3.0).reshape(B, 1, 1)
            state.positions = state.positions * lam
            state.cells = state.cells * lam
            state.momenta = state.momenta / lam
        else:
            p_aa = (kin - V[:, None] * torch.diagonal(stress, dim1=1, dim2=2)) / V[:, None]
            xi = randn_walkers((B, 3), self.generator, dtype)
            c = self.beta_T / (3.0 * self.tau_p)
            deps = (-c * (self.pressure - p_aa) * self.dt
                    + torch.sqrt(2.0 * kT[:, None] * c * self.dt / V[:, None]) * xi)
            lam = torch.exp(deps).reshape(B, 1, 3)
            state.positions = state.positions * lam
            state.cells = state.cells * lam
            state.momenta = state.momenta / lam

    def step(self, state: MDState, force_fn: ForceFn, forces: torch.Tensor, stress: torch.Tensor):
        """Advance ``state`` by one step in place. ``forces``/``stress`` belong to the current positions;
        returns ``(forces, stress, aux)`` at the new positions."""
        dt = self.dt
        m = state.masses.reshape(1, -1, 1)
        state.momenta = state.momenta + 0.5 * dt * forces
        state.positions = state.positions + 0.5 * dt * state.momenta / m
        if self.tau_t is not None:
            c1 = math.exp(-dt / self.tau_t)
            c2 = math.sqrt(1.0 - c1 * c1)
            kT = self._kT_atoms(state.n_walkers, state.n_atoms, state.positions.dtype)
            xi = randn_walkers(tuple(state.momenta.shape), self.generator, state.momenta.dtype)
            state.momenta = c1 * state.momenta + c2 * torch.sqrt(m * kT) * xi
        if self.tau_p is not None:
            self._barostat(state, stress)
        state.positions = state.positions + 0.5 * dt * state.momenta / m
        forces, stress, aux = force_fn(state.positions, state.cells)
        state.momenta = state.momenta + 0.5 * dt * forces
        state.step += 1
        return forces, stress, aux


def pressure_bar(state: MDState, stress: torch.Tensor) -> torch.Tensor:
    """(B,) instantaneous pressure (kinetic + virial) in bar; ``stress`` (B,3,3) in ASE sign, eV/Å³."""
    V = state.volumes()
    p = (2.0 * state.kinetic_energy() / 3.0 - V * torch.diagonal(stress, dim1=1, dim2=2).sum(-1) / 3.0) / V
    return p / BAR_EV_PER_A3
