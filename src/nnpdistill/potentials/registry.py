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


def available_elements() -> list[str]:
    """Elements with a shipped default potential."""
    return sorted(DEFAULT_POTENTIALS)


def potential_path(element: str, path: str | os.PathLike | None = None) -> Path:
    """The file to use for ``element``: ``path`` when given (must exist), else the shipped default.

    Raises:
        ElementNotFoundError: no ``path`` and no default for ``element`` (lists the available ones).
        PotentialFileError: ``path`` does not exist.
    """
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise PotentialFileError(f"EAM file {p} does not exist")
        return p
    if element not in DEFAULT_POTENTIALS:
        raise ElementNotFoundError(
            f"no default EAM potential for element {element!r}; available: {', '.join(available_elements())} "
            "(or pass path= to any eam, eam/alloy or eam/fs file)"
        )
    return DATA_DIR / DEFAULT_POTENTIALS[element]
