"""Readers for LAMMPS EAM potential files: ``eam`` (DYNAMO funcfl), ``eam/alloy`` (setfl), ``eam/fs``.

The numbers are kept as they appear in the file (:class:`EAMFileData`); turning them into LAMMPS's
splines happens in :mod:`nnpdistill.potentials.spline`.

Conventions of the stored tables (all float64 numpy arrays):

* ``F[I]``, shape ``(nrho,)``: embedding energy of element ``I`` in eV on the grid ``rho = k * drho``.
* ``rho[J, I]``, shape ``(nr,)``: electron density that a neighbour of element ``J`` contributes at an
  atom of element ``I``, on the grid ``r = k * dr`` (Å). This is LAMMPS's ``fs->rhor[J][I]``: the table
  listed as number ``I`` in element ``J``'s block of an ``eam/fs`` file (pair_eam_fs.cpp: ``rho[i] +=
  rhor_spline[type2rhor[jtype][itype]]``). For ``eam/alloy`` and ``eam`` files ``rho[J, I] = rho_J``.
* ``z2r[I, J]``, shape ``(nr,)``: ``r * phi_IJ(r)`` in eV·Å (symmetric in ``I, J``). For funcfl files it
  is ``27.2 * 0.529 * Z_I(r) * Z_J(r)`` as LAMMPS computes it (Hartree·Bohr).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ElementNotFoundError, PotentialFileError

FORMATS = ("eam", "eam/alloy", "eam/fs")
_FORMAT_ALIASES = {
    "eam": "eam",
    "funcfl": "eam",
    "eam/alloy": "eam/alloy",
    "alloy": "eam/alloy",
    "setfl": "eam/alloy",
    "eam/fs": "eam/fs",
    "fs": "eam/fs",
}
# funcfl: z2r = HARTREE_BOHR * Z_i * Z_j, with LAMMPS's rounded constants (pair_eam.cpp)
FUNCFL_Z2R_FACTOR = 27.2 * 0.529

_SYMBOLS = (
    "X H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge As Se Br Kr "
    "Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr Nd Pm Sm Eu Gd Tb Dy Ho Er Tm Yb "
    "Lu Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi Po At Rn Fr Ra Ac Th Pa U Np Pu Am Cm Bk Cf Es Fm Md No Lr"
).split()


@dataclass
class EAMFileData:
    """Raw tables of one EAM file (units: eV, Å, amu; see the module docstring for the conventions)."""

    path: Path
    format: str  # "eam", "eam/alloy" or "eam/fs"
    comments: list[str]
    elements: list[str]
    atomic_numbers: list[int]
    masses: list[float]  # amu
    lattice_constants: list[float]  # Å, from the element header lines (0.0 when absent)
    lattice_types: list[str]  # e.g. "fcc" ("" when absent)
    nrho: int
    drho: float
    nr: int
    dr: float
    cutoff: float  # Å
    F: np.ndarray  # (n_elements, nrho)
    rho: np.ndarray  # (n_elements, n_elements, nr), rho[J, I]: density at an I atom from a J neighbour
    z2r: np.ndarray  # (n_elements, n_elements, nr), r * phi in eV·Å, symmetric
    Z_r: np.ndarray | None = field(default=None, repr=False)  # funcfl only: (1, nr) effective charge

    @property
    def rhomax(self) -> float:
        """Largest tabulated density, ``(nrho - 1) * drho`` (LAMMPS's ``rhomax``)."""
        return (self.nrho - 1) * self.drho

    def element_index(self, element: str) -> int:
        """Position of ``element`` in the file; :class:`ElementNotFoundError` listing the file's elements."""
        if element in self.elements:
            return self.elements.index(element)
        raise ElementNotFoundError(
            f"element {element!r} is not in EAM file {self.path} (it has: {', '.join(self.elements)})"
        )


def detect_format(path: str | os.PathLike) -> str:
    """EAM format from the file name: ``.eam.fs``/``.fs`` → eam/fs, ``.eam.alloy``/``.setfl``/``.alloy``
    → eam/alloy, ``.eam``/``.funcfl`` → eam. Raises :class:`PotentialFileError` for anything else."""
    name = Path(path).name.lower()
    if name.endswith((".eam.fs", ".fs")):
        return "eam/fs"
    if name.endswith((".eam.alloy", ".setfl", ".alloy")):
        return "eam/alloy"
    if name.endswith((".eam", ".funcfl")):
        return "eam"
    raise PotentialFileError(
        f"cannot tell the EAM format of {path} from its name (expected .eam, .eam.alloy, .setfl or .eam.fs); "
        f"pass format= one of {', '.join(FORMATS)}"
    )


def normalize_format(fmt: str) -> str:
    key = fmt.strip().lower()
    if key not in _FORMAT_ALIASES:
        raise PotentialFileError(f"unknown EAM format {fmt!r}; use one of {', '.join(FORMATS)}")
    return _FORMAT_ALIASES[key]


class _Reader:
    """Line cursor over a potential file that reads headers by line and tables across lines."""

    def __init__(self, path: Path, text: str):
        self.path = path
        self.lines = text.splitlines()
        self.pos = 0  # index of the next unread line

    def line(self, what: str) -> tuple[list[str], int]:
        while self.pos < len(self.lines):
            tokens = self.lines[self.pos].split()
            self.pos += 1
            if tokens:
                return tokens, self.pos
        raise PotentialFileError(f"{self.path}: file ends before the {what} line")

    def raw_line(self, what: str) -> str:
        if self.pos >= len(self.lines):
            raise PotentialFileError(f"{self.path}: file ends before the {what} line")
        self.pos += 1
        return self.lines[self.pos - 1]

    def numbers(self, count: int, what: str) -> np.ndarray:
        """Read exactly ``count`` numbers, spanning as many lines as needed."""
        tokens: list[str] = []
        line_of: list[int] = []
        start = self.pos + 1
        while len(tokens) < count:
            if self.pos >= len(self.lines):
                raise PotentialFileError(
                    f"{self.path}: table {what} is truncated: expected {count} numbers from line {start}, "
                    f"found {len(tokens)} before the end of the file"
                )
            toks = self.lines[self.pos].split()
            self.pos += 1
            tokens.extend(toks)
            line_of.extend([self.pos] * len(toks))
        if len(tokens) > count:
            raise PotentialFileError(
                f"{self.path}: table {what} is malformed: expected {count} numbers from line {start}, "
                f"but line {line_of[count]} holds more ({len(tokens) - count} extra, starting with "
                f"{tokens[count]!r}); is a table truncated or an element header missing?"
            )
        try:
            values = np.array(tokens, dtype=np.float64)
        except ValueError:
            values = None
        if values is None:
            for k, tok in enumerate(tokens):
                try:
                    float(tok)
                except ValueError:
                    raise PotentialFileError(
                        f"{self.path}: table {what}: non-numeric value {tok!r} on line {line_of[k]} "
                        f"(value {k + 1} of {count}); the table may be truncated"
                    ) from None
        if not np.all(np.isfinite(values)):
            k = int(np.flatnonzero(~np.isfinite(values))[0])
            raise PotentialFileError(
                f"{self.path}: table {what}: non-finite value {tokens[k]!r} on line {line_of[k]}"
            )
        return values


def _int(tok: str, what: str, path: Path, lineno: int) -> int:
    try:
        return int(tok)
    except ValueError:
        try:
            f = float(tok)
        except ValueError:
            f = None
        if f is not None and f == int(f):
            return int(f)
        raise PotentialFileError(f"{path}: line {lineno}: {what} must be an integer, got {tok!r}") from None


def _float(tok: str, what: str, path: Path, lineno: int) -> float:
    try:
        return float(tok)
    except ValueError:
        raise PotentialFileError(f"{path}: line {lineno}: {what} must be a number, got {tok!r}") from None


def _grid_line(reader: _Reader) -> tuple[int, float, int, float, float]:
    tokens, ln = reader.line("grid (nrho drho nr dr cutoff)")
    if len(tokens) < 5:
        raise PotentialFileError(
            f"{reader.path}: line {ln}: bad header, expected 'nrho drho nr dr cutoff' (5 values), "
            f"got {' '.join(tokens)!r}"
        )
    nrho = _int(tokens[0], "nrho", reader.path, ln)
    drho = _float(tokens[1], "drho", reader.path, ln)
    nr = _int(tokens[2], "nr", reader.path, ln)
    dr = _float(tokens[3], "dr", reader.path, ln)
    cut = _float(tokens[4], "cutoff", reader.path, ln)
    if nrho < 5 or nr < 5:
        raise PotentialFileError(f"{reader.path}: line {ln}: nrho={nrho} and nr={nr} must both be >= 5")
    if not (drho > 0 and dr > 0 and cut > 0):
        raise PotentialFileError(
            f"{reader.path}: line {ln}: drho={drho}, dr={dr} and cutoff={cut} must all be positive"
        )
    return nrho, drho, nr, dr, cut


def _element_header(reader: _Reader, what: str) -> tuple[int, float, float, str]:
    tokens, ln = reader.line(f"{what} header (Z mass lattice-constant lattice-type)")
    if len(tokens) < 2:
        raise PotentialFileError(
            f"{reader.path}: line {ln}: bad {what} header, expected 'Z mass [a lattice]', "
            f"got {' '.join(tokens)!r}"
        )
    z = _int(tokens[0], f"{what} atomic number", reader.path, ln)
    mass = _float(tokens[1], f"{what} mass", reader.path, ln)
    alat = _float(tokens[2], f"{what} lattice constant", reader.path, ln) if len(tokens) > 2 else 0.0
    lattice = tokens[3] if len(tokens) > 3 else ""
    return z, mass, alat, lattice


def _read_setfl(path: Path, text: str, fmt: str) -> EAMFileData:
    reader = _Reader(path, text)
    comments = [reader.raw_line(f"comment {k + 1}") for k in range(3)]
    tokens, ln = reader.line("elements (N el1 el2 ...)")
    n_el = _int(tokens[0], "number of elements", path, ln)
    if n_el < 1 or len(tokens) != n_el + 1:
        raise PotentialFileError(
            f"{path}: line {ln}: bad element line {' '.join(tokens)!r}: expected N={n_el} followed by "
            f"{n_el} element names"
        )
    elements = tokens[1:]
    nrho, drho, nr, dr, cut = _grid_line(reader)
    F = np.empty((n_el, nrho))
    rho_file = np.empty((n_el, n_el, nr))  # file order: block i, table j
    zs, masses, alats, lats = [], [], [], []
    for i, el in enumerate(elements):
        z, mass, alat, lat = _element_header(reader, f"element {el}")
        zs.append(z)
        masses.append(mass)
        alats.append(alat)
        lats.append(lat)
        F[i] = reader.numbers(nrho, f"F (embedding) of {el}")
        if fmt == "eam/fs":
            for j, el2 in enumerate(elements):
                rho_file[i, j] = reader.numbers(nr, f"rho {el}-{el2} (block {el}, table {j + 1})")
        else:
            rho_file[i, :] = reader.numbers(nr, f"rho of {el}")
    z2r = np.empty((n_el, n_el, nr))
    for i in range(n_el):
        for j in range(i + 1):
            z2r[i, j] = reader.numbers(nr, f"r*phi {elements[i]}-{elements[j]}")
            z2r[j, i] = z2r[i, j]
    rest = [ln for ln in reader.lines[reader.pos :] if ln.strip()]
    if rest:
        raise PotentialFileError(
            f"{path}: {len(rest)} unexpected non-empty line(s) after the last table "
            f"(line {reader.pos + 1} on); "
            f"is the format {fmt!r} right?"
        )
    return EAMFileData(
        path=path, format=fmt, comments=comments, elements=list(elements), atomic_numbers=zs,
        masses=masses, lattice_constants=alats, lattice_types=lats, nrho=nrho, drho=drho, nr=nr, dr=dr,
        cutoff=cut, F=F, rho=rho_file, z2r=z2r,
    )


def _read_funcfl(path: Path, text: str) -> EAMFileData:
    reader = _Reader(path, text)
    comments = [reader.raw_line("comment")]
    z, mass, alat, lat = _element_header(reader, "element")
    nrho, drho, nr, dr, cut = _grid_line(reader)
    F = reader.numbers(nrho, "F (embedding)")
    Z = reader.numbers(nr, "Z(r) (effective charge)")
    rho = reader.numbers(nr, "rho (density)")
    rest = [ln for ln in reader.lines[reader.pos :] if ln.strip()]
    if rest:
        raise PotentialFileError(
            f"{path}: {len(rest)} unexpected non-empty line(s) after the last table "
            f"(line {reader.pos + 1} on); "
            "is the format 'eam' (funcfl) right?"
        )
    element = _SYMBOLS[z] if 0 < z < len(_SYMBOLS) else f"Z{z}"
    return EAMFileData(
        path=path, format="eam", comments=comments, elements=[element], atomic_numbers=[z], masses=[mass],
        lattice_constants=[alat], lattice_types=[lat], nrho=nrho, drho=drho, nr=nr, dr=dr, cutoff=cut,
        F=F[None, :], rho=rho[None, None, :], z2r=(FUNCFL_Z2R_FACTOR * Z * Z)[None, None, :], Z_r=Z[None, :],
    )


def read_eam_file(path: str | os.PathLike, format: str | None = None) -> EAMFileData:  # noqa: A002
    """Read a LAMMPS EAM file.

    Args:
        path: the file.
        format: ``"eam"`` (funcfl), ``"eam/alloy"`` (setfl) or ``"eam/fs"``; ``None`` detects it from the
            file name (:func:`detect_format`).

    Raises:
        PotentialFileError: unreadable file, bad header, truncated table, non-numeric value, unknown format.
    """
    path = Path(path)
    fmt = normalize_format(format) if format is not None else detect_format(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise PotentialFileError(f"cannot read EAM file {path}: {exc}") from exc
    if fmt == "eam":
        return _read_funcfl(path, text)
    return _read_setfl(path, text, fmt)


def atomic_number(symbol: str) -> int:
    """Atomic number of a chemical symbol (0 when unknown)."""
    return _SYMBOLS.index(symbol) if symbol in _SYMBOLS else 0
