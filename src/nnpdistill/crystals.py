"""FCC, BCC and HCP crystals: builders, relaxation with any ASE calculator, and the crystal table.

The table is the "Reference (EAM)" row of the paper's Tables 1-3 when the calculator is EAM, and the
NNP rows when it is an NNP. Structures (interface names):

- ``fcc``: 32 atoms (2×2×2 conventional cubic cells)
- ``bcc``: 54 atoms (3×3×3 conventional cubic cells)
- ``hcp``: 48 atoms (2×2×3 orthohexagonal 4-atom cells), cell and c/a relaxed
- ``hcp_ideal``: the same 48 atoms with c/a held at √3 while the volume and positions relax. This is
  the constraint that reproduces the paper's HCP row (it is *not* the close-packing ratio √(8/3)).

All relaxations move the cell and the positions (ASE ``FrechetCellFilter`` + ``BFGS``) to a force
and stress tolerance. The starting geometry is derived from an FCC lattice constant (e.g. the one in
the EAM file's header) at equal atomic volume, optionally strained.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from ase import Atoms
from ase.build import bulk
from ase.calculators.calculator import Calculator
from ase.filters import FrechetCellFilter
from ase.optimize import BFGS

from .errors import NNPDistillError

STRUCTURES: tuple[str, ...] = ("fcc", "bcc", "hcp", "hcp_ideal")
N_ATOMS: dict[str, int] = {"fcc": 32, "bcc": 54, "hcp": 48, "hcp_ideal": 48}
HCP_FIXED_C_OVER_A: float = math.sqrt(3.0)
CRYSTAL_COLUMNS: tuple[str, ...] = (
    "structure",
    "n_atoms",
    "nn_distance_A",
    "energy_eV_per_atom",
    "volume_A3_per_atom",
    "rank",
    "c_over_a",
    "max_force_eV_per_A",
    "max_stress_eV_per_A3",
    "converged",
)


def build_crystal(symbol: str, structure: str, a_fcc_A: float, strain: float = 0.0) -> Atoms:
    """Build ``structure`` at the atomic volume of FCC with lattice constant ``a_fcc_A``.

    ``strain`` scales every length by ``1 + strain`` (e.g. ±0.03 for the strained starts).
    """
    if structure not in STRUCTURES:
        raise NNPDistillError(f"unknown structure {structure!r}; choose one of {', '.join(STRUCTURES)}")
    if not a_fcc_A > 0:
        raise NNPDistillError(f"FCC lattice constant must be positive, got {a_fcc_A} Å")
    volume_per_atom = a_fcc_A**3 / 4.0
    if structure == "fcc":
        atoms = bulk(symbol, "fcc", a=a_fcc_A, cubic=True).repeat((2, 2, 2))
    elif structure == "bcc":
        atoms = bulk(symbol, "bcc", a=(2.0 * volume_per_atom) ** (1.0 / 3.0), cubic=True).repeat((3, 3, 3))
    else:
        c_over_a = HCP_FIXED_C_OVER_A if structure == "hcp_ideal" else math.sqrt(8.0 / 3.0)
        # volume per atom of hcp = (sqrt(3)/4) a^2 c
        a = (4.0 * volume_per_atom / (math.sqrt(3.0) * c_over_a)) ** (1.0 / 3.0)
        atoms = bulk(symbol, "hcp", a=a, c=c_over_a * a, orthorhombic=True).repeat((2, 2, 3))
    if strain:
        atoms.set_cell(atoms.cell[:] * (1.0 + strain), scale_atoms=True)
    assert len(atoms) == N_ATOMS[structure]
    return atoms


def nearest_neighbour_distance(atoms: Atoms) -> float:
    """Shortest interatomic distance over all periodic images (Å)."""
    from vesin import NeighborList

    cutoff = 1.05 * (atoms.get_volume() / len(atoms)) ** (1.0 / 3.0) * 1.5
    nl = NeighborList(cutoff=cutoff, full_list=False)
    distances = nl.compute(points=atoms.positions, box=atoms.cell[:], periodic=True, quantities="d")[0]
    if len(distances) == 0:
        raise NNPDistillError("no neighbours found: is the cell reasonable?")
    return float(np.min(distances))


@dataclass(frozen=True)
class RelaxResult:
    atoms: Atoms
    energy_eV_per_atom: float
    max_force_eV_per_A: float
    max_stress_eV_per_A3: float
    converged: bool
    steps: int


def relax(
    atoms: Atoms,
    calculator: Calculator,
    *,
    fixed_c_over_a: bool = False,
    fmax_eV_per_A: float = 1e-4,
    max_steps: int = 2000,
) -> RelaxResult:
    """Relax cell and positions. ``fixed_c_over_a`` keeps the cell shape (isotropic cell scaling only).

    The structure's own symmetry keeps a perfect crystal's forces at zero, so the work is in the cell.
    """
    atoms = atoms.copy()
    atoms.calc = calculator
    cell_filter = FrechetCellFilter(atoms, hydrostatic_strain=fixed_c_over_a)
    optimizer = BFGS(cell_filter, logfile=None, maxstep=0.1)
    with warnings.catch_warnings():
        # FrechetCellFilter's matrix log near zero strain: harmless scipy accuracy note
        warnings.filterwarnings("ignore", message="logm result may be inaccurate")
        converged = bool(optimizer.run(fmax=fmax_eV_per_A, steps=max_steps))
    energy = atoms.get_potential_energy() / len(atoms)
    forces = atoms.get_forces()
    stress = atoms.get_stress(voigt=False)
    if fixed_c_over_a:  # only the hydrostatic part is free
        stress = np.eye(3) * np.trace(stress) / 3.0
    atoms.calc = None
    return RelaxResult(
        atoms=atoms,
        energy_eV_per_atom=float(energy),
        max_force_eV_per_A=float(np.abs(forces).max()),
        max_stress_eV_per_A3=float(np.abs(stress).max()),
        converged=converged,
        steps=int(optimizer.nsteps),
    )


def c_over_a(atoms: Atoms) -> float:
    """c/a of the orthohexagonal HCP cell built by :func:`build_crystal` (a along x, c along z)."""
    lengths = atoms.cell.lengths()
    return float((lengths[2] / 3.0) / (lengths[0] / 2.0))


def crystal_table(
    symbol: str,
    calculator_factory: Callable[[], Calculator],
    a_fcc_A: float,
    *,
    structures: Sequence[str] = STRUCTURES,
    strain: float = 0.0,
    fmax_eV_per_A: float = 1e-4,
) -> pd.DataFrame:
    """Relax each structure and tabulate nn distance, energy, volume per atom and the energy rank.

    ``rank`` orders all rows by energy per atom, 1 = lowest.
    """
    rows = []
    for structure in structures:
        start = build_crystal(symbol, structure, a_fcc_A, strain=strain)
        result = relax(
            start,
            calculator_factory(),
            fixed_c_over_a=(structure == "hcp_ideal"),
            fmax_eV_per_A=fmax_eV_per_A,
        )
        rows.append(
            {
                "structure": structure,
                "n_atoms": len(result.atoms),
                "nn_distance_A": nearest_neighbour_distance(result.atoms),
                "energy_eV_per_atom": result.energy_eV_per_atom,
                "volume_A3_per_atom": result.atoms.get_volume() / len(result.atoms),
                "c_over_a": c_over_a(result.atoms) if structure.startswith("hcp") else np.nan,
                "max_force_eV_per_A": result.max_force_eV_per_A,
                "max_stress_eV_per_A3": result.max_stress_eV_per_A3,
                "converged": result.converged,
            }
        )
    table = pd.DataFrame(rows)
    table["rank"] = table["energy_eV_per_atom"].rank(method="min").astype(int)
    return table.loc[:, list(CRYSTAL_COLUMNS)]


_ATOMS_PER_CUBIC_CELL = {"fcc": 4, "bcc": 2, "sc": 1, "diamond": 8}


def fcc_lattice_from_reference(structure: str, lattice_A: float) -> float:
    """FCC lattice constant with the same atomic volume as a reference crystal (e.g. an EAM header).

    Only cubic references (fcc, bcc, sc, diamond) are understood; others raise.
    """
    structure = structure.lower()
    if structure not in _ATOMS_PER_CUBIC_CELL or not lattice_A > 0:
        raise NNPDistillError(
            f"cannot derive a starting lattice from reference {structure!r} a={lattice_A} Å; "
            "give a_fcc_A explicitly"
        )
    volume_per_atom = lattice_A**3 / _ATOMS_PER_CUBIC_CELL[structure]
    return (4.0 * volume_per_atom) ** (1.0 / 3.0)


def write_eam_crystals(
    symbol: str,
    out_csv: str,
    *,
    potential: str | None = None,
    fmax_eV_per_A: float = 1e-4,
    a_fcc_A: float | None = None,
) -> pd.DataFrame:
    """Relax all structures with the element's EAM and write ``crystals.csv`` atomically.

    The starting FCC lattice constant defaults to the one implied by the potential file's header.
    """
    from .io_utils import atomic_path
    from .potentials import EAMCalculator, load_eam

    eam = load_eam(symbol, path=potential)
    if a_fcc_A is None:
        a_fcc_A = fcc_lattice_from_reference(eam.reference_structure, eam.reference_lattice_A)
    table = crystal_table(
        symbol, lambda: EAMCalculator(eam), a_fcc_A, fmax_eV_per_A=fmax_eV_per_A
    )
    with atomic_path(out_csv) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6f")
    return table
