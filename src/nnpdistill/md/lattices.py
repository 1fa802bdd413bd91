"""The crystal a sampling run starts from: FCC (the paper's), BCC or HCP supercells of N atoms.

A metal whose ground state is BCC or HCP sampled from an FCC start gives a pool whose solid is FCC
(under the isotropic barostat the cell cannot shear into BCC or HCP); ``sample.structure`` starts the
walkers in the metal's own crystal instead. Every cell here has the atomic volume of the FCC lattice
constant it is given (the one the EAM file or ``sample.lattice_A`` provides), so the barostat only has to
take up the small volume difference between the structures:

- ``fcc``: 4 nx ny nz atoms in conventional cubic cells (:func:`.order.fcc_cells`: 4 L³, or 144, 192, 216);
- ``bcc``: 2 L³ atoms in L×L×L conventional cubic cells (16, 54, 128, 250, 432);
- ``hcp``: 4 nx ny nz atoms in orthohexagonal 4-atom cells (a, √3 a, c), the most nearly cubic shape with
  its longest side at most 1.5 times its shortest (64, 96, 144, 180, ...); c/a = ``c_over_a`` (default the
  close-packed √(8/3); the isotropic barostat keeps the start's c/a, so give the potential's own).
"""

from __future__ import annotations

import math

import torch

from ..errors import ConfigError

STRUCTURES: tuple[str, ...] = ("fcc", "bcc", "hcp")
IDEAL_C_OVER_A: float = math.sqrt(8.0 / 3.0)
_BASIS = {
    "bcc": ((0.0, 0.0, 0.0), (0.5, 0.5, 0.5)),
    "hcp": ((0.0, 0.0, 0.0), (0.5, 0.5, 0.0), (0.5, 1.0 / 6.0, 0.5), (0.0, 2.0 / 3.0, 0.5)),
}
MAX_ASPECT = 1.5


def _check_structure(structure: str) -> None:
    if structure not in STRUCTURES:
        raise ConfigError(f"sample.structure must be one of {', '.join(STRUCTURES)}, got {structure!r}")


def supercell_shape(structure: str, n_atoms: int, c_over_a: float | None = None) -> tuple[int, int, int]:
    """Cells (nx, ny, nz) of the ``structure`` supercell of ``n_atoms`` atoms; a ConfigError naming the
    sizes that work when there is none."""
    from .order import fcc_cells

    _check_structure(structure)
    n_atoms = int(n_atoms)
    if structure == "fcc":
        return fcc_cells(n_atoms)
    if structure == "bcc":
        L = round((n_atoms / 2) ** (1 / 3))
        if n_atoms < 2 or 2 * L**3 != n_atoms:
            raise ConfigError(f"a BCC cell needs N = 2 L^3 atoms (16, 54, 128, 250, 432), got N = {n_atoms}")
        return (L, L, L)
    ratio = IDEAL_C_OVER_A if c_over_a is None else float(c_over_a)
    if n_atoms % 4 or n_atoms < 4:
        raise ConfigError(f"an HCP cell needs a multiple of 4 atoms (orthohexagonal 4-atom cells: 64, 96, "
                          f"144, 180, ...), got N = {n_atoms}")
    m = n_atoms // 4
    shapes = [(a, b, m // (a * b)) for a in range(1, m + 1) for b in range(1, m // a + 1) if m % (a * b) == 0]

    def aspect(s):
        sides = (s[0], s[1] * math.sqrt(3.0), s[2] * ratio)
        return max(sides) / min(sides)

    best = min(shapes, key=lambda s: (aspect(s), s))
    if aspect(best) > MAX_ASPECT:
        raise ConfigError(f"an HCP cell of N = {n_atoms} atoms has no near-cubic shape (best "
                          f"{'x'.join(map(str, best))} orthohexagonal cells, sides {aspect(best):.2f}:1); "
                          "use 64, 96, 144 or 180 atoms")
    return best


def conventional_a_A(structure: str, lattice_A: float, c_over_a: float | None = None) -> float:
    """The conventional lattice constant a of ``structure`` at the atomic volume of FCC with ``lattice_A``."""
    _check_structure(structure)
    if not lattice_A > 0:
        raise ConfigError(f"the lattice constant must be positive, got {lattice_A} Å")
    volume = lattice_A**3 / 4.0
    if structure == "fcc":
        return float(lattice_A)
    if structure == "bcc":
        return (2.0 * volume) ** (1.0 / 3.0)
    ratio = IDEAL_C_OVER_A if c_over_a is None else float(c_over_a)
    return (4.0 * volume / (math.sqrt(3.0) * ratio)) ** (1.0 / 3.0)


def crystal_supercell(structure: str, n_atoms: int, lattice_A: float,
                      c_over_a: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Positions (N, 3) Å and orthorhombic cell (3, 3) of the perfect ``structure`` crystal of ``n_atoms``
    atoms at the atomic volume of FCC with lattice constant ``lattice_A`` (FCC: exactly
    :func:`.setup.fcc_supercell`, so FCC runs keep their bytes)."""
    from .setup import fcc_supercell

    shape = supercell_shape(structure, n_atoms, c_over_a)
    if structure == "fcc":
        return fcc_supercell(shape, lattice_A)
    if c_over_a is not None and not float(c_over_a) > 0:
        raise ConfigError(f"sample.c_over_a must be positive, got {c_over_a}")
    a = conventional_a_A(structure, lattice_A, c_over_a)
    ratio = IDEAL_C_OVER_A if c_over_a is None else float(c_over_a)
    unit = (1.0, 1.0, 1.0) if structure == "bcc" else (1.0, math.sqrt(3.0), ratio)
    basis = torch.tensor(_BASIS[structure], dtype=torch.float64)
    grid = torch.stack(torch.meshgrid(*[torch.arange(k, dtype=torch.float64) for k in shape],
                                      indexing="ij"), -1).reshape(-1, 1, 3)
    frac = ((grid + basis.reshape(1, -1, 3)).reshape(-1, 3)) / torch.tensor(shape, dtype=torch.float64)
    lengths = [n * u * a for n, u in zip(shape, unit, strict=True)]
    cell = torch.diag(torch.tensor(lengths, dtype=torch.float64))
    return frac @ cell, cell
