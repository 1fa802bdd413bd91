"""Are a MOMT run's low-order, low-enthalpy frames crystals that the box-aligned order parameter misses?
Common-neighbour analysis (CNA) of a few production frames per class: an atom is FCC when all 12 of its
nearest-neighbour pairs have signature (4, 2, 1), HCP when 6 have (4, 2, 1) and 6 (4, 2, 2).
    python docs/campaign/thermo/cna_check.py results/thermo_long/Ni/sample/momt_108.h5 -494
(the second argument: the enthalpy, eV, below which a frame counts as crystal-like)."""

import sys

import h5py
import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list


def cna_counts(positions: np.ndarray, cell: np.ndarray) -> dict:
    n = len(positions)
    atoms = Atoms(f"Ni{n}", positions=positions, cell=cell, pbc=True)
    a = (atoms.get_volume() / (n / 4)) ** (1 / 3)  # the FCC lattice constant of this density
    i, j = neighbor_list("ij", atoms, 0.854 * a)  # between the first and second shells
    nb = [set() for _ in range(n)]
    for x, y in zip(i, j, strict=True):
        nb[x].add(y)
    kinds = []
    for x in range(n):
        sig = []
        for y in nb[x]:
            common = nb[x] & nb[y]
            bonds = [(p, q) for p in common for q in common if p < q and q in nb[p]]
            degree: dict = {}
            for p, q in bonds:
                degree[p] = degree.get(p, 0) + 1
                degree[q] = degree.get(q, 0) + 1
            sig.append((len(common), len(bonds), max(degree.values()) if degree else 0))
        n421, n422 = sig.count((4, 2, 1)), sig.count((4, 2, 2))
        kinds.append("fcc" if len(sig) == 12 and n421 == 12 else
                     "hcp" if len(sig) == 12 and n421 == 6 and n422 == 6 else "other")
    return {k: kinds.count(k) for k in ("fcc", "hcp", "other")}


path, h_crystal = sys.argv[1], float(sys.argv[2])
g = h5py.File(path, "r")[next(iter(h5py.File(path, "r")))]
H, O, P = g["enthalpy_eV"][:], g["order_parameter"][:], g["production"][:] == 1
n_atoms = g["coordinates"].shape[1]
rng = np.random.default_rng(0)
for name, sel in ((f"O/N 0.14-0.23, H <= {h_crystal:g} eV (crystal-like enthalpy)",
                   P & (O > 0.14 * n_atoms) & (O < 0.23 * n_atoms) & (H <= h_crystal)),
                  ("O/N > 0.79", P & (O > 0.79 * n_atoms)),
                  ("O/N 0.05-0.14", P & (O > 0.05 * n_atoms) & (O < 0.14 * n_atoms))):
    idx = np.flatnonzero(sel)
    print(f"{name}: {idx.size} production frames")
    for k in np.sort(rng.choice(idx, size=min(4, idx.size), replace=False)):
        counts = cna_counts(g["coordinates"][k], g["cell"][k])
        print(f"   frame {k}: O {O[k]:.1f}, H {H[k]:.1f} eV, atoms by CNA {counts}")
