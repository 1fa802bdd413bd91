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

    Cubic references (fcc, bcc, sc, diamond) and hcp (``a`` of an ideal c/a = sqrt(8/3) cell, as EAM
    headers give no c: volume a^3/sqrt(2) per atom, the FCC of the same nearest-neighbour distance) are
    understood; others raise.
    """
    structure = structure.lower()
    if structure == "hcp" and lattice_A > 0:
        return float(lattice_A) * np.sqrt(2.0)
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


# ----------------------------------------------------------------------------------------------
# reference crystals by E(V) scans (a DFT reference: no BFGS relaxation of 32-54 atom cells)
# ----------------------------------------------------------------------------------------------


def _crystal_at(symbol: str, structure: str, volume_per_atom: float,
                c_over_a_value: float | None = None) -> Atoms:
    """``structure`` (the cells of :func:`build_crystal`) at a given atomic volume (and HCP c/a)."""
    if structure in ("fcc", "bcc"):
        return build_crystal(symbol, structure, (4.0 * volume_per_atom) ** (1.0 / 3.0))
    ratio = HCP_FIXED_C_OVER_A if structure == "hcp_ideal" else float(c_over_a_value or math.sqrt(8.0 / 3.0))
    a = (4.0 * volume_per_atom / (math.sqrt(3.0) * ratio)) ** (1.0 / 3.0)
    return bulk(symbol, "hcp", a=a, c=ratio * a, orthorhombic=True).repeat((2, 2, 3))


def _eos_fit(volumes: np.ndarray, energies: np.ndarray) -> tuple[float, float, bool]:
    """(V0, E0 per atom, minimum inside the scan) of a Birch-Murnaghan fit; quadratic if that fails."""
    from ase.eos import EquationOfState

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            v0, e0, _ = EquationOfState(volumes, energies, eos="birchmurnaghan").fit()
    except Exception:  # noqa: BLE001 - fall back to a parabola
        c = np.polyfit(volumes, energies, 2)
        v0 = -c[1] / (2 * c[0]) if c[0] > 0 else float(volumes[np.argmin(energies)])
        e0 = float(np.polyval(c, v0))
    inside = bool(volumes.min() <= v0 <= volumes.max())
    return float(v0), float(e0), inside


def eos_crystal_table(
    symbol: str,
    energy_per_atom: Callable[[Atoms], float],
    start: pd.DataFrame,
    *,
    n_points: int = 7,
    strain: float = 0.04,
    hcp_c_over_a_points: int = 5,
    progress: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """The crystal table from E(V) scans: what a DFT reference can afford instead of relaxations.

    Perfect FCC, BCC and HCP crystals have zero forces by symmetry, so only the cell is free: each
    structure is scanned over ``n_points`` volumes with lattice lengths in ``1 ± strain`` around the
    atomic volume of ``start`` (e.g. the EAM's ``crystals.csv``), extended point by point while the
    lowest energy lies at an end of the scan, and fitted with Birch-Murnaghan.
    HCP with c/a relaxed repeats the scan at ``hcp_c_over_a_points`` c/a values within ±4 % of the
    start's and takes the minimum of a parabola through their E0. ``energy_per_atom(atoms)`` is the
    reference's energy per atom (eV). Same columns as :func:`crystal_table`; ``converged`` says the
    minimum lies inside the scan; forces and stresses are NaN (not computed).
    """
    scales = np.linspace(1.0 - strain, 1.0 + strain, int(n_points))
    rows = []

    def scan(structure: str, v_start: float, ratio: float | None) -> tuple[float, float, bool]:
        """E(V) around v_start; while the lowest energy sits at an end of the scan (the reference's
        minimum is far from the start, e.g. a minimal basis set), extend the scan on that side."""
        volumes, energies = [], []

        def point(v: float) -> None:
            atoms = _crystal_at(symbol, structure, v, ratio)
            energies.append(energy_per_atom(atoms))
            volumes.append(atoms.get_volume() / len(atoms))
            if progress:
                progress(f"{structure} V={volumes[-1]:.3f} A^3/atom E={energies[-1]:.6f} eV/atom")

        for s in scales:
            point(v_start * s**3)
        step = scales[1] - scales[0] if len(scales) > 1 else strain
        for _ in range(3 * len(scales)):  # at most three scans' worth of extra points
            order = np.argsort(volumes)
            lowest = int(np.argmin(np.array(energies)[order]))
            if 0 < lowest < len(order) - 1:
                break
            edge = volumes[order[0]] if lowest == 0 else volumes[order[-1]]
            factor = (1.0 - step) if lowest == 0 else (1.0 + step)
            point(edge * factor**3)
        order = np.argsort(volumes)
        return _eos_fit(np.array(volumes)[order], np.array(energies)[order])

    for structure in ("fcc", "bcc", "hcp", "hcp_ideal"):
        row = start.loc[start["structure"] == structure]
        if row.empty or (structure == "hcp" and hcp_c_over_a_points == 0):
            continue
        v_start = float(row["volume_A3_per_atom"].iloc[0])
        ratio = None
        if structure == "hcp":
            c0 = float(row["c_over_a"].iloc[0])
            ratios = np.linspace(0.96 * c0, 1.04 * c0, int(hcp_c_over_a_points))
            fits = [scan(structure, v_start, r) for r in ratios]
            e0s = np.array([f[1] for f in fits])
            coef = np.polyfit(ratios, e0s, 2)
            ratio = float(-coef[1] / (2 * coef[0])) if coef[0] > 0 else float(ratios[np.argmin(e0s)])
            inside_ratio = bool(ratios.min() <= ratio <= ratios.max())
            v0, e0, inside = scan(structure, float(np.interp(ratio, ratios, [f[0] for f in fits])), ratio)
            inside = inside and inside_ratio
        else:
            v0, e0, inside = scan(structure, v_start, None)
        atoms = _crystal_at(symbol, structure, v0, ratio)
        rows.append({
            "structure": structure, "n_atoms": len(atoms), "nn_distance_A": nearest_neighbour_distance(atoms),
            "energy_eV_per_atom": e0, "volume_A3_per_atom": v0,
            "c_over_a": c_over_a(atoms) if structure.startswith("hcp") else np.nan,
            "max_force_eV_per_A": np.nan, "max_stress_eV_per_A3": np.nan, "converged": inside,
        })
    table = pd.DataFrame(rows)
    table["rank"] = table["energy_eV_per_atom"].rank(method="min").astype(int)
    return table.loc[:, list(CRYSTAL_COLUMNS)]


def write_reference_crystals(reference, start_csv: str, out_csv: str, *, n_points: int = 7,
                             strain: float = 0.04,
                             hcp_c_over_a_points: int = 5, workdir: str | None = None) -> pd.DataFrame:
    """The element's crystal table computed with its reference method (``nnpdistill.reference``).

    EAM relaxes as :func:`write_eam_crystals` does (the exact "Reference (EAM)" rows); any other
    reference (DFT, an ASE calculator) scans E(V) around the crystals of ``start_csv``
    (:func:`eos_crystal_table`). Written atomically.
    """
    import logging
    from pathlib import Path

    from .io_utils import atomic_path
    from .label import FrameFailure, calculate_frame

    log = logging.getLogger("nnpdistill.crystals")
    start = pd.read_csv(start_csv)
    if reference.kind == "eam":
        return write_eam_crystals(reference.symbol, out_csv, potential=reference.potential)
    work = Path(workdir or Path(out_csv).with_name(Path(out_csv).name + ".work"))

    def energy_per_atom(atoms: Atoms) -> float:
        try:
            return calculate_frame(reference, atoms, work)["energy"] / len(atoms)
        except FrameFailure as exc:
            raise NNPDistillError(f"reference crystal {atoms.get_chemical_formula()} at "
                                  f"{atoms.get_volume() / len(atoms):.3f} A^3/atom: {exc}") from exc

    table = eos_crystal_table(reference.symbol, energy_per_atom, start, n_points=n_points, strain=strain,
                              hcp_c_over_a_points=hcp_c_over_a_points, progress=log.info)
    with atomic_path(out_csv) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6f")
    import shutil

    shutil.rmtree(work, ignore_errors=True)
    return table
