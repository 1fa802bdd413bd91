"""HDF5 frame store: every stage reads and writes atomic configurations through this module.

A *frame* is one periodic configuration of N atoms with optional labels. :class:`Frames` holds F
frames of the same N atoms as NumPy arrays; :class:`FrameWriter` appends them (any atom counts) to
an HDF5 file written under ``path + ".partial"`` and renamed on success; :class:`FrameStore` reads
them back by global frame index; :func:`export_extxyz` writes extended XYZ that ``ase.io.read`` reads.

Units: positions and cells in Å (cell rows are the lattice vectors), energies in eV, forces in eV/Å,
stress in eV/Å³ with ASE's sign (``stress = (1/V) ∂E/∂ε``, pressure = -trace/3). All floats float64.

File layout (``format="nnpdistill-frames"``, ``format_version=1``)
-----------------------------------------------------------------
Root attributes::

    format            "nnpdistill-frames"
    format_version    1
    grouping          "by_num_atoms"      (lets torchani.datasets.ANIDataset open the file)
    element           chemical symbol of the frames (checked against the atomic numbers)
    potential         name/path of the labelling potential ("" if unlabelled)
    potential_sha256  its sha256 ("" if unlabelled)
    units             JSON {"energy": "eV", "length": "Angstrom", "stress": "eV/Angstrom^3", ...}
    created_by        "nnpdistill <version>" unless given
    json_attrs        JSON list of the user attributes stored as JSON strings (dicts, lists, None)
    <user attrs>      str, int, float, bool; dict/list/None are stored as JSON and decoded on read

One group per atom count N, named ``/n{N}`` (e.g. ``/n108``), holding F_N frames, all datasets
chunked and resizable along the first axis (gzip/lzf compression optional, off by default)::

    species          (F_N, N)    int64    atomic numbers
    coordinates      (F_N, N, 3) float64  positions, Å
    cell             (F_N, 3, 3) float64  rows = cell vectors, Å
    index            (F_N,)      int64    global frame index (write order, 0..F-1 over the file)
    energies         (F_N,)      float64  total energy, eV                  [label, optional]
    forces           (F_N, N, 3) float64  eV/Å                              [label, optional]
    atomic_energies  (F_N, N)    float64  per-atom energies, eV             [label, optional]
    stress           (F_N, 3, 3) float64  eV/Å³, ASE sign                   [label, optional]
    <meta name>      (F_N,)      float64 | int64 | bool | UTF-8 string  per-frame metadata

Every group holds the same datasets (the first append fixes the schema), so
``torchani.datasets.ANIDataset(path)`` opens the file directly; energies there are in eV, not
Hartree, and string metadata must be left out of ``get_conformers(..., properties=[...])``.
Global indices give the write order over all groups; within a group they increase.

Writing and restarting
----------------------
``FrameWriter`` buffers appends in memory (flushed at ``flush_bytes``, on :meth:`FrameWriter.flush`,
:meth:`FrameWriter.truncate` and on exit). On clean exit the ``.partial`` file is renamed to
``path``. On an exception nothing appears at ``path``; the ``.partial`` file is removed unless
``keep_partial_on_error=True`` (MD uses it). A killed run restarts with ``resume=True``: the
longest consistent prefix of frames (global indices 0..n-1 present in every dataset) is copied from
the ``.partial`` file into a fresh one (never written in place: a killed HDF5 writer can leave
metadata newer than its last flush), and the caller calls :meth:`FrameWriter.truncate` with its
checkpointed frame count before appending again. Only what was written before the last
:meth:`FrameWriter.flush` is guaranteed to survive a kill; ``resume=True`` without a ``.partial``
file starts a new store.
"""

from __future__ import annotations

from .container import Frames, concatenate
from .extxyz import export_extxyz, write_extxyz
from .format import FORMAT, FORMAT_VERSION, UNITS
from .store import FrameStore
from .writer import FrameWriter, compact_store, write_frames

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "FrameStore",
    "FrameWriter",
    "Frames",
    "UNITS",
    "compact_store",
    "concatenate",
    "export_extxyz",
    "write_extxyz",
    "write_frames",
]
