"""Drive a portable nnp-distill model file from ASE: needs only torch and ase (not nnpdistill).

    python use_with_ase.py Ni_distilled.pt        # relaxes an FCC Ni slab with 10 Å of vacuum

The model file (``nnpdistill export-nnp``) is a TorchScript module:
``model(species, coordinates, cell, pbc) -> {"energy", "energies", "forces", "stress", "energies_uq"}``
in eV, Å and eV/Å³ (ASE's stress sign). ``energies_uq`` is the per-atom uncertainty (std across the
ensemble's members): large values mean the structure is outside the training data.
"""

from __future__ import annotations

import sys

import numpy as np
import torch
from ase.calculators.calculator import Calculator, all_changes


class TorchScriptNNP(Calculator):
    """ASE calculator for a portable nnp-distill ensemble. Extra result: ``energies_uq`` (eV/atom)."""

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress"]

    def __init__(self, path: str, **kwargs):
        super().__init__(**kwargs)
        self.model = torch.jit.load(path)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        a = self.atoms
        out = self.model(torch.tensor(a.numbers, dtype=torch.long), torch.tensor(a.positions),
                         torch.tensor(np.asarray(a.cell[:])), torch.tensor(np.asarray(a.pbc, dtype=bool)))
        self.results["energy"] = self.results["free_energy"] = float(out["energy"])
        self.results["energies"] = out["energies"].numpy()
        self.results["forces"] = out["forces"].numpy()
        self.results["energies_uq"] = out["energies_uq"].numpy()
        if a.pbc.all():
            s = out["stress"].numpy()
            self.results["stress"] = np.array([s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]])


def main(path: str) -> None:
    import json

    from ase.build import fcc111
    from ase.optimize import BFGS

    meta = json.loads(torch.jit.load(path).metadata)
    slab = fcc111(meta["element"], size=(3, 3, 4), vacuum=10.0)  # pbc = [True, True, False]
    slab.calc = TorchScriptNNP(path)
    e0 = slab.get_potential_energy()
    BFGS(slab, logfile=None).run(fmax=0.05, steps=200)
    uq = slab.calc.results["energies_uq"]
    e1 = slab.get_potential_energy()
    print(f"{meta['element']} (111) slab, {len(slab)} atoms: E {e0:.4f} -> {e1:.4f} eV; "
          f"largest atomic uncertainty {uq.max() * 1000:.1f} meV")


if __name__ == "__main__":
    main(sys.argv[1])
