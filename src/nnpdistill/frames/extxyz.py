"""Extended XYZ export of frames (``ase.io.read`` reads it back bitwise)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DatasetError
from ..io_utils import atomic_path
from .container import Frames
from .store import FrameStore

# ----------------------------------------------------------------------------------------------
# extended XYZ
# ----------------------------------------------------------------------------------------------


def _fmt_float(x: float) -> str:
    """Shortest exact repr, always with a '.' so ASE's key=value parser keeps it a float."""
    r = repr(float(x))
    if "." in r or not any(c.isdigit() for c in r):
        return r
    if "e" in r:
        mantissa, exp = r.split("e")
        return f"{mantissa}.0e{exp}"
    return r + ".0"


def _fmt_info_value(name: str, value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "T" if value else "F"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return _fmt_float(value)
    s = str(value)
    if any(c in s for c in '"{}\n\r'):
        raise DatasetError(f"metadata {name!r} value {s!r} contains a quote, brace or newline, "
                           "which extended XYZ cannot hold")
    return f'"{s}"'


def _extxyz_frames(frames: Frames) -> Iterator[str]:
    from ase.data import chemical_symbols

    symbols = np.array(chemical_symbols, dtype=object)
    props = "species:S:1:pos:R:3"
    cols = [frames.positions]
    if frames.forces is not None:
        props += ":forces:R:3"
        cols.append(frames.forces)
    if frames.energies is not None:
        props += ":energies:R:1"
        cols.append(frames.energies[:, :, None])
    table = np.concatenate(cols, axis=2)
    ncol = table.shape[2]
    row_fmt = "%s" + " %r" * ncol + "\n"
    meta = {k: v.tolist() for k, v in frames.meta.items()}
    for i in range(len(frames)):
        header = ['Lattice="' + " ".join(_fmt_float(x) for x in frames.cell[i].ravel()) + '"',
                  f"Properties={props}"]
        if frames.energy is not None:
            header.append(f"energy={_fmt_float(frames.energy[i])}")
        if frames.stress is not None:
            stress = " ".join(_fmt_float(x) for x in frames.stress[i].ravel(order="F"))
            header.append(f'stress="{stress}"')
        header.append('pbc="T T T"')
        if frames.index is not None:
            header.append(f"frame_index={int(frames.index[i])}")
        header.extend(f"{k}={_fmt_info_value(k, v[i])}" for k, v in meta.items())
        syms = symbols[frames.numbers[i]]
        body = "".join(row_fmt % (s, *row) for s, row in zip(syms, table[i].tolist(), strict=True))
        yield f"{frames.n_atoms}\n{' '.join(header)}\n{body}"


def write_extxyz(out_path: str | os.PathLike, frames: Frames | Sequence[Frames]) -> Path:
    """Write frames to extended XYZ atomically, with exact (shortest round-trip) floats."""
    parts = [frames] if isinstance(frames, Frames) else list(frames)
    with atomic_path(out_path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for part in parts:
            fh.writelines(_extxyz_frames(part))
    return Path(out_path)


def export_extxyz(h5_path: str | os.PathLike, out_path: str | os.PathLike, indices: Any = None,
                  batch_size: int = 1000) -> int:
    """Export frames of a store (None = all, in global order) to extended XYZ; returns frames written.

    Each frame's comment line holds Lattice, Properties (species, pos, forces, energies), energy,
    stress (eV/Å³, ASE sign), pbc, frame_index and the metadata, all readable by ``ase.io.read``.
    Floats are written as their shortest exact repr, so values read back are bitwise equal (except
    NaN metadata, which ASE reads as the string "nan"). The file appears only when complete.
    """
    count = 0
    with FrameStore(h5_path) as store, atomic_path(out_path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for frames in store.iter_read(indices, batch_size=batch_size):
            fh.writelines(_extxyz_frames(frames))
            count += len(frames)
    return count
