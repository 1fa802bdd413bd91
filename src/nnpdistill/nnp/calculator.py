"""ASE calculator for an NNP ensemble (ensemble mean): energy, forces, stress, per-atom energies in eV.

Periodic cells of any size (the cutoff may exceed half the cell). Stress in eV/Å³ with ASE's sign.
Extra result ``energies_uq`` holds the atomic uncertainty (std across members, eV).
"""

from __future__ import annotations

import os

import numpy as np
import torch
from ase.calculators.calculator import Calculator, all_changes

from ..errors import NNPDistillError
from .batch import evaluate
from .builder import NNPModel


class NNPCalculator(Calculator):
    implemented_properties = ["energy", "free_energy", "forces", "stress", "energies"]

    def __init__(self, model: NNPModel | str | os.PathLike | list, dtype: torch.dtype = torch.float64,
                 **kwargs):
        super().__init__(**kwargs)
        if isinstance(model, (list, tuple)):
            from .predict import load_ensemble

            model = load_ensemble(list(model))
        elif not isinstance(model, NNPModel):
            model = NNPModel.load(model)
        self.model = model.to(dtype)
        self.model.eval()

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        if not np.all(self.atoms.pbc):
            raise NNPDistillError("NNPCalculator needs a cell periodic in all three directions")
        want_stress = "stress" in properties
        res = evaluate(self.model, self.atoms.numbers[None], self.atoms.positions[None],
                       self.atoms.cell[:][None], forces=True, stress=want_stress)
        self.results["energy"] = float(res.energy[0])
        self.results["free_energy"] = float(res.energy[0])
        self.results["forces"] = res.forces[0]
        self.results["energies"] = res.energies[0]
        self.results["energies_uq"] = res.atomic_uncertainty[0]
        if want_stress:
            s = res.stress[0]
            self.results["stress"] = np.array([s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]])
