"""Shared helpers of the EAM tests: synthetic potential files written in the three LAMMPS formats."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _table(values: np.ndarray, per_line: int = 5) -> str:
    v = np.asarray(values)
    rows = [" ".join(f"{x:.16e}" for x in v[k:k + per_line]) for k in range(0, len(v), per_line)]
    return "\n".join(rows) + "\n"


def synthetic_funcfl(path: Path, nrho: int = 2000, drho: float = 0.01, nr: int = 2000, dr: float = 0.0025,
                     cutoff: float = 4.9) -> Path:
    """A smooth single-element funcfl file (Cu-like numbers, analytic functions)."""
    rho = np.arange(nrho) * drho
    r = np.arange(nr) * dr
    F = -np.sqrt(rho + 1e-12) * 1.2 + 0.01 * rho
    Z = 10.0 * np.exp(-1.6 * r) * np.clip((cutoff - r) / cutoff, 0, None) ** 2
    dens = 2.0 * np.exp(-1.3 * (r - 2.5)) * np.clip((cutoff - r) / cutoff, 0, None) ** 2
    text = "synthetic funcfl for tests\n29 63.546 3.615 fcc\n"
    text += f"{nrho} {drho!r} {nr} {dr!r} {cutoff!r}\n" + _table(F) + _table(Z) + _table(dens)
    path.write_text(text)
    return path


def setfl_from_tables(path: Path, element: str, z: int, mass: float, alat: float, lattice: str, nrho: int,
                      drho: float, nr: int, dr: float, cutoff: float, F, rho, z2r) -> Path:
    """Write a one-element eam/alloy (setfl) file."""
    text = "setfl\nwritten by the tests\n\n"
    text += f"1 {element}\n{nrho} {drho!r} {nr} {dr!r} {cutoff!r}\n{z} {mass!r} {alat!r} {lattice}\n"
    text += _table(F) + _table(rho) + _table(z2r)
    path.write_text(text)
    return path
