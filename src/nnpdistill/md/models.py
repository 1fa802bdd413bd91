"""Cheap analytic force providers with the EAM engine's result shape, for tests and benchmarks.

``EinsteinCrystal``: U = Σ_i ½ k |r_i − s0_i h|² + ½ B0 (V − V0)²/V0, atoms tied to sites that follow the
cell. Its isothermal-isobaric volume distribution is exactly Gaussian (positions integrate out):
⟨V⟩ = V0 (1 − P0/B0), Var V = k_B T V0 / B0, ⟨P_inst⟩ = P0; its canonical ⟨U_springs⟩ = 3N k_B T/2.
With k = 0 and B0 = 0 it is the ideal gas (⟨V⟩ = (N+1) k_B T/P0, Var V = (N+1)(k_B T/P0)²).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class ForceResult:
    """energy (B,) eV, energies (B,N) eV, forces (B,N,3) eV/Å, stress (B,3,3) eV/Å³ (ASE sign),
    virial (B,3,3) eV (= −V·stress)."""

    energy: torch.Tensor
    energies: torch.Tensor
    forces: torch.Tensor
    stress: torch.Tensor
    virial: torch.Tensor


class EinsteinCrystal:
    """Einstein crystal with a volume term. ``sites_frac`` (N,3) fractional sites; ``k_eV_per_A2`` spring;
    ``bulk_modulus_eV_per_A3`` B0 and ``v0_A3`` V0 of the volume term (B0 = 0 disables it)."""

    def __init__(self, sites_frac: torch.Tensor, k_eV_per_A2: float = 1.0,
                 bulk_modulus_eV_per_A3: float = 0.0, v0_A3: float = 1.0):
        self.sites = torch.as_tensor(sites_frac, dtype=torch.float64)
        self.k = float(k_eV_per_A2)
        self.b0 = float(bulk_modulus_eV_per_A3)
        self.v0 = float(v0_A3)

    def __call__(self, positions: torch.Tensor, cells: torch.Tensor) -> ForceResult:
        B, N, _ = positions.shape
        sites = torch.einsum("nj,bjk->bnk", self.sites.to(positions.dtype), cells)
        d = positions - sites
        e_spring = 0.5 * self.k * d.square().sum(-1)  # (B,N)
        V = torch.linalg.det(cells).abs()
        phi = 0.5 * self.b0 * (V - self.v0) ** 2 / self.v0
        dphi = self.b0 * (V - self.v0) / self.v0
        energies = e_spring + (phi / N)[:, None]
        eye = torch.eye(3, dtype=positions.dtype).expand(B, 3, 3)
        w = self.k * torch.einsum("bni,bnj->bij", d, d) + (dphi * V)[:, None, None] * eye
        stress = w / V[:, None, None]
        return ForceResult(energies.sum(-1), energies, -self.k * d, stress, -w)


def cells_tuple(n_cells) -> tuple[int, int, int]:
    """Conventional cells per axis: L (an L×L×L supercell) or (nx, ny, nz) as a tuple."""
    return tuple(int(k) for k in n_cells) if isinstance(n_cells, (tuple, list)) else (int(n_cells),) * 3


def fcc_sites_frac(n_cells) -> torch.Tensor:
    """(4 nx ny nz, 3) fractional coordinates of a conventional FCC supercell of ``n_cells`` = L (L×L×L)
    or (nx, ny, nz) cells."""
    n = cells_tuple(n_cells)
    basis = torch.tensor([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]], dtype=torch.float64)
    grid = torch.stack(torch.meshgrid(*[torch.arange(k, dtype=torch.float64) for k in n], indexing="ij"), -1)
    pts = (grid.reshape(-1, 1, 3) + basis.reshape(1, 4, 3)).reshape(-1, 3)
    return pts / torch.tensor(n, dtype=torch.float64)
