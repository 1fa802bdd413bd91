"""Units and constants.

Internal units everywhere are ASE's: energy eV, length Å, mass amu, time in ASE units
(1 fs = ``FS`` internal units), temperature K, pressure eV/Å^3 internally and bar at the interfaces.
Hartree appears only at the torchani edge (``nnp``), converted with ``HARTREE_EV``.
"""

from ase import units as _u

KB_EV_PER_K: float = float(_u.kB)  # Boltzmann constant, eV/K
FS: float = float(_u.fs)  # one femtosecond in ASE time units
BAR_EV_PER_A3: float = float(_u.bar)  # one bar in eV/Å^3
GPA_EV_PER_A3: float = float(_u.GPa)
HARTREE_EV: float = float(_u.Hartree)  # one Hartree in eV
EV_TO_MEV: float = 1000.0


def bar_to_ev_per_a3(pressure_bar: float) -> float:
    return pressure_bar * BAR_EV_PER_A3


def ev_per_a3_to_bar(pressure_ev_per_a3: float) -> float:
    return pressure_ev_per_a3 / BAR_EV_PER_A3


def kT_eV(temperature_K: float) -> float:  # noqa: N802 - physics name
    return KB_EV_PER_K * temperature_K
