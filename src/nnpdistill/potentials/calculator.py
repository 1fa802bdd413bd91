"""ASE calculator on top of the batched EAM evaluator (B = 1, float64)."""

from __future__ import annotations

import os

import numpy as np
import torch
from ase.calculators.calculator import Calculator, all_changes

from ..errors import NNPDistillError
from .eam import EAM, load_eam


class EAMCalculator(Calculator):
    """ASE calculator for a pure element with a LAMMPS-exact EAM.

    Args:
        element: chemical symbol (``"Ni"``) whose shipped default is used, or an :class:`EAM`.
        path: optional EAM file (``eam``, ``eam/alloy``, ``eam/fs``) instead of the default.
        skin_A: Verlet skin of the neighbour list kept between calls (Å).

    Properties: ``energy``, ``free_energy`` (eV), ``forces`` (eV/Å), ``stress`` (Voigt 6, eV/Å^3, ASE sign),
    ``energies`` (per atom, eV). Atoms must be fully periodic and all of the element.
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress", "energies"]

    def __init__(self, element: str | EAM = "Ni", path: str | os.PathLike | None = None, skin_A: float = 1.0,
                 **kwargs):
        super().__init__(**kwargs)
        if isinstance(element, EAM):
            self.eam = element
        else:
            self.eam = load_eam(element, path=path, dtype=torch.float64)
        self._ev = self.eam.evaluator(skin_A=skin_A)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        if not all(atoms.pbc):
            raise NNPDistillError("EAMCalculator needs a fully periodic cell (atoms.pbc all True)")
        bad = {s for s in atoms.get_chemical_symbols() if s != self.eam.element}
        if bad:
            raise NNPDistillError(
                f"EAMCalculator for {self.eam.element} got other elements: {', '.join(sorted(bad))}"
            )
        if "numbers" in system_changes or "pbc" in system_changes:
            self._ev.reset()
        pos = torch.from_numpy(np.ascontiguousarray(atoms.get_positions(), dtype=np.float64))[None]
        cell = torch.from_numpy(np.ascontiguousarray(atoms.cell.array, dtype=np.float64))[None]
        res = self._ev(pos, cell)
        e = float(res.energy[0])
        s = res.stress[0].numpy()
        self.results = {
            "energy": e,
            "free_energy": e,
            "forces": res.forces[0].numpy().copy(),
            "energies": res.energies[0].numpy().copy(),
            "stress": np.array([s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]]),
        }
