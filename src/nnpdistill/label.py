"""Labelling: energies, forces and stress of a frame store's frames from an element's reference method.

A store is labelled in chunks (``chunk=(k, K)``: the k-th of K contiguous slices of its first
``max_frames`` frames), each chunk one job. A chunk records every frame in a journal
(``<out>.journal.jsonl``, one JSON line per frame, flushed and fsynced) as soon as it is done, so a
killed or timed-out job resumes where it stopped and never recomputes a finished frame. The journal
starts with the reference's settings hash and the input's checksum: a journal made with other
settings or for another input is set aside (renamed ``.stale``), never silently reused.

A frame whose SCF does not converge, or whose calculator raises, is recorded with its reason and
left out of the labelled store; the chunk fails only when more than ``max_failed_fraction`` of its
frames failed, with a message that names them and why. Floats go through JSON as Python's shortest
round-trip repr, so a resumed chunk gives the same bytes as an uninterrupted one.

The labelled store keeps the input's positions, cell and metadata, adds ``source_index`` (the
frame's index in the input store) and records the reference's provenance (code, version, full
settings, data-file checksums) and the failures in its attributes. :func:`merge_labelled` joins the
chunks into one store.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from .errors import NNPDistillError
from .reference import Reference

log = logging.getLogger("nnpdistill.label")

JOURNAL_FORMAT = "nnpdistill-label-journal"


class LabelError(NNPDistillError):
    """Too many frames of a chunk failed to label (or no frame could be labelled)."""


class FrameFailure(Exception):
    """A frame could not be labelled (the reason is the message)."""


def chunk_rows(n_frames: int, chunk: tuple[int, int], max_frames: int | None = None) -> np.ndarray:
    """Store rows of the k-th of K contiguous chunks of the frames to label.

    Those are all ``n_frames`` frames, or with ``max_frames`` that many spread evenly over the store
    (a distilled or sampled store is ordered by sampling time: its first rows are not representative).
    """
    k, n_chunks = int(chunk[0]), int(chunk[1])
    if n_chunks < 1 or not 0 <= k < n_chunks:
        raise NNPDistillError(f"chunk {k} of {n_chunks} does not exist")
    if max_frames is None or max_frames >= n_frames:
        rows = np.arange(n_frames, dtype=np.int64)
    else:
        rows = np.unique(np.floor(np.arange(int(max_frames)) * (n_frames / int(max_frames))).astype(np.int64))
    total = len(rows)
    return rows[k * total // n_chunks : (k + 1) * total // n_chunks]


def journal_path(out_h5: str | os.PathLike) -> Path:
    out_h5 = Path(out_h5)
    return out_h5.with_name(out_h5.name + ".journal.jsonl")


def _read_journal(path: Path, header: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """Finished frames of a journal written with ``header``; a foreign journal is renamed ``.stale``."""
    if not path.exists():
        return {}
    done: dict[int, dict[str, Any]] = {}
    with open(path, encoding="utf-8") as fh:
        lines = fh.read().split("\n")
    try:
        first = json.loads(lines[0])
    except json.JSONDecodeError:
        first = None
    if first != header:
        stale = path.with_name(path.name + ".stale")
        os.replace(path, stale)
        log.warning(
            "journal %s was written with other settings or for another input: set aside as %s, "
            "relabelling from the start",
            path,
            stale,
        )
        return {}
    for line in lines[1:]:
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:  # a line cut by a kill: the frame is simply not done
            log.warning("journal %s: ignoring a truncated line (the job was killed mid-write)", path)
            continue
        done[int(record["index"])] = record
    return done


class _Journal:
    def __init__(self, path: Path, header: dict[str, Any]):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.done = _read_journal(path, header)
        new = not path.exists()
        self.fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        if new:
            self._write(header)
        elif self._ends_mid_line(path):
            self.fh.write("\n")

    @staticmethod
    def _ends_mid_line(path: Path) -> bool:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            if fh.tell() == 0:
                return False
            fh.seek(-1, os.SEEK_END)
            return fh.read(1) != b"\n"

    def _write(self, record: dict[str, Any]) -> None:
        self.fh.write(json.dumps(record, separators=(",", ":")) + "\n")
        self.fh.flush()
        os.fsync(self.fh.fileno())

    def record(self, record: dict[str, Any]) -> None:
        self._write(record)
        self.done[int(record["index"])] = record

    def close(self) -> None:
        self.fh.close()


def _cp2k_scf_failure(out_file: Path, offset: int) -> str | None:
    """The reason if the CP2K output written since ``offset`` reports an unconverged SCF."""
    if not out_file.exists():
        return None
    with open(out_file, "rb") as fh:
        size = fh.seek(0, os.SEEK_END)
        fh.seek(offset if offset <= size else 0)
        text = fh.read().decode("utf-8", errors="replace")
    if "SCF run NOT converged" in text:
        return "SCF did not converge (CP2K: 'SCF run NOT converged'; raise max_scf or change the mixing)"
    return None


def calculate_frame(reference: Reference, atoms, workdir: Path) -> dict[str, Any]:
    """Energy, forces, stress (and per-atom energies when the reference gives them) of one frame.

    Every frame gets a fresh calculator (for CP2K a fresh force environment), so a frame's labels do
    not depend on which frame was labelled before it (CP2K would otherwise start from the previous
    density, EMT from its previous neighbour list): chunking and resuming cannot change a label.
    """
    reference.prepare_atoms(atoms)
    calc = reference.make_calculator(workdir)
    out_file = Path(calc.label + ".out") if reference.kind == "cp2k" else None
    offset = out_file.stat().st_size if out_file is not None and out_file.exists() else 0
    try:
        atoms.calc = calc
        energy = float(atoms.get_potential_energy())
        forces = np.asarray(atoms.get_forces(), dtype=np.float64)
        stress = None  # a calculator that offers stress and fails on it fails the frame (no silent gap)
        if "stress" in getattr(calc, "implemented_properties", ()):
            stress = np.asarray(atoms.get_stress(voigt=False), dtype=np.float64)
        energies = None
        if reference.gives_atomic_energies:
            energies = np.asarray(atoms.get_potential_energies(), dtype=np.float64)
        if out_file is not None:
            reason = _cp2k_scf_failure(out_file, offset)
            if reason:
                raise FrameFailure(reason)
    finally:
        atoms.calc = None
        if hasattr(calc, "close"):
            with contextlib.suppress(Exception):
                calc.close()
    if not np.isfinite(energy) or not np.all(np.isfinite(forces)):
        raise FrameFailure("non-finite energy or forces")
    out: dict[str, Any] = {"energy": energy, "forces": forces.tolist()}
    if stress is not None:
        out["stress"] = stress.tolist()
    if energies is not None:
        out["energies"] = energies.tolist()
    return out


def label_chunk(
    in_h5: str | os.PathLike,
    out_h5: str | os.PathLike,
    reference: Reference,
    *,
    chunk: tuple[int, int] = (0, 1),
    max_frames: int | None = None,
    max_failed_fraction: float = 0.1,
    workdir: str | os.PathLike | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Label one chunk of ``in_h5`` with ``reference`` into ``out_h5`` (resumable; see the module doc).

    Returns a report: frames in the chunk, computed now, taken from the journal, failed (index and
    reason), and seconds per computed frame.
    """
    from .frames import Frames, FrameStore, write_frames
    from .io_utils import sha256_file
    from .runtime import Progress

    if not 0.0 <= max_failed_fraction <= 1.0:
        raise NNPDistillError(f"max_failed_fraction must lie in [0, 1], got {max_failed_fraction}")
    reference.check()  # before anything is computed or written
    out_h5 = Path(out_h5)
    default_workdir = workdir is None
    workdir = Path(workdir) if workdir else out_h5.with_name(out_h5.name + ".work")
    with FrameStore(in_h5) as store:
        if len(store) == 0:  # nothing to label (e.g. an NNP run without uncertain frames): empty chunks
            return _label_empty(in_h5, out_h5, store.user_attrs, store.element, reference, chunk)
        rows = chunk_rows(len(store), chunk, max_frames)
        if len(rows) == 0:
            raise LabelError(
                f"chunk {chunk[0]} of {chunk[1]} of {in_h5} holds no frames "
                f"({len(store)} frames, max_frames={max_frames}): use fewer chunks"
            )
        frames = store.read(rows)
        in_attrs = store.user_attrs
        element = store.element
    if element != reference.symbol:
        raise NNPDistillError(f"{in_h5} holds {element} frames but the reference is for {reference.symbol}")
    header = {
        "format": JOURNAL_FORMAT,
        "reference": reference.settings_hash(),
        "input_sha256": sha256_file(in_h5),
        "rows": rows.tolist(),
    }
    journal = _Journal(journal_path(out_h5), header)
    computed, seconds = 0, 0.0
    try:
        atoms_list = frames.to_atoms()
        todo = [i for i in range(len(rows)) if int(rows[i]) not in journal.done]
        if len(todo) < len(rows):
            log.info("resuming: %d of %d frames already in the journal", len(rows) - len(todo), len(rows))
        bar = Progress(len(todo), f"label {out_h5.name}", "frame", enabled=progress)
        for i in todo:
            index = int(rows[i])
            start = time.perf_counter()
            try:
                result = calculate_frame(reference, atoms_list[i], workdir)
                record = {"index": index, "ok": True, **result}
            except Exception as exc:  # noqa: BLE001 - a frame failure is recorded, not fatal
                reason = str(exc) if isinstance(exc, FrameFailure) else f"{type(exc).__name__}: {exc}"
                log.warning("frame %d failed: %s", index, reason)
                record = {"index": index, "ok": False, "reason": reason.strip()[:500]}
            seconds += time.perf_counter() - start
            computed += 1
            journal.record(record)
            bar.update(1)
        bar.close()
    finally:
        journal.close()
    records = [journal.done[int(r)] for r in rows]
    failures = [(r["index"], r["reason"]) for r in records if not r["ok"]]
    report = {
        "chunk": list(chunk),
        "rows": rows.tolist(),
        "n_frames": len(rows),
        "n_computed": computed,
        "n_from_journal": len(rows) - computed,
        "n_failed": len(failures),
        "failures": [{"index": i, "reason": why} for i, why in failures],
        "seconds_per_frame": seconds / computed if computed else None,
    }
    log.info(
        "chunk %d/%d: %d frames (%d computed now, %d from the journal), %d failed%s",
        chunk[0],
        chunk[1],
        len(rows),
        computed,
        len(rows) - computed,
        len(failures),
        f", {seconds / computed:.2f} s per frame" if computed else "",
    )
    if len(failures) > max_failed_fraction * len(rows) or len(failures) == len(rows):
        listed = "; ".join(f"frame {i}: {why}" for i, why in failures[:10])
        more = f" (and {len(failures) - 10} more)" if len(failures) > 10 else ""
        raise LabelError(
            f"{len(failures)} of {len(rows)} frames of chunk {chunk[0]}/{chunk[1]} of {in_h5} failed "
            f"(more than max_failed_fraction={max_failed_fraction}): {listed}{more}. "
            f"Finished frames are kept in {journal_path(out_h5)}; fix the settings or raise "
            "the fraction and rerun"
        )
    ok = [i for i, r in enumerate(records) if r["ok"]]
    good = [records[i] for i in ok]
    labelled = Frames(
        numbers=frames.numbers[ok],
        positions=frames.positions[ok],
        cell=frames.cell[ok],
        energy=np.array([r["energy"] for r in good], dtype=np.float64),
        forces=np.array([r["forces"] for r in good], dtype=np.float64),
        stress=np.array([r["stress"] for r in good], dtype=np.float64)
        if all("stress" in r for r in good)
        else None,
        energies=(
            np.array([r["energies"] for r in good], dtype=np.float64)
            if all("energies" in r for r in good)
            else None
        ),
        meta={
            **{k: v[ok] for k, v in frames.meta.items() if k != "source_index"},
            "source_index": rows[ok].astype(np.int64),
        },
    )
    attrs = _labelled_attrs(reference, in_h5, in_attrs, header["input_sha256"], chunk, rows.tolist(),
                            report["failures"])
    write_frames(out_h5, labelled, attrs)
    if default_workdir:  # the calculator's scratch files (CP2K input/output); the journal stays
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
    return report


def _labelled_attrs(reference, in_h5, in_attrs: dict, input_sha256: str, chunk, rows: list,
                    failures: list) -> dict[str, Any]:
    """The attributes of a labelled chunk: the reference, the input it was labelled from, its rows."""
    eam = reference.kind == "eam"
    return {
        "element": reference.symbol,
        "potential": in_attrs.get("potential", "") if eam else reference.kind,
        "potential_sha256": in_attrs.get("potential_sha256", "") if eam else "",
        "method": "labelled",
        "reference": reference.provenance(),
        "labelled_from": Path(in_h5).name,
        "labelled_from_sha256": input_sha256,
        "chunk": list(chunk),
        "rows": rows,
        "n_failed": len(failures),
        "failures": failures,
    }


def _label_empty(in_h5, out_h5, in_attrs: dict, element: str, reference, chunk) -> dict[str, Any]:
    """An empty labelled chunk of an empty store (same attributes as a labelled one)."""
    from .frames import FrameWriter
    from .io_utils import sha256_file

    if element != reference.symbol:
        raise NNPDistillError(f"{in_h5} holds {element} frames but the reference is for {reference.symbol}")
    log.warning("%s holds no frames: writing an empty labelled store", in_h5)
    attrs = _labelled_attrs(reference, in_h5, in_attrs, sha256_file(in_h5), chunk, [], [])
    with FrameWriter(out_h5, attrs):
        pass
    return {"chunk": list(chunk), "rows": [], "n_frames": 0, "n_computed": 0, "n_from_journal": 0,
            "n_failed": 0, "failures": [], "seconds_per_frame": None}


def merge_labelled(chunks: list[str | os.PathLike], out_h5: str | os.PathLike) -> dict[str, Any]:
    """Join labelled chunks (in order) into one store; the failures of all chunks go into its attributes."""
    from .frames import Frames, FrameStore, write_frames

    if not chunks:
        raise NNPDistillError("merge_labelled: no chunks given")
    parts, failures, attrs = [], [], None
    for path in chunks:
        with FrameStore(path) as store:
            a = store.user_attrs
            if attrs is None:
                attrs = {k: v for k, v in a.items() if k not in ("chunk", "rows", "n_failed", "failures")}
            elif a.get("reference") != attrs.get("reference") or a.get("labelled_from_sha256") != attrs.get(
                "labelled_from_sha256"
            ):
                raise NNPDistillError(
                    f"{path} was labelled with another reference or from another input than {chunks[0]}"
                )
            failures += list(a.get("failures") or [])
            if len(store):
                parts.append(store.read())
    assert attrs is not None
    attrs.update(n_chunks=len(chunks), n_failed=len(failures), failures=failures)
    if not parts:  # the labelled chunks of an empty store
        from .frames import FrameWriter

        with FrameWriter(out_h5, attrs):
            pass
        return {"n_frames": 0, "n_failed": len(failures), "failures": failures}
    # the chunks' own frame indices are dropped: the writer numbers the merged frames afresh
    merged = dataclasses.replace(Frames.concatenate(parts), index=None)
    write_frames(out_h5, merged, attrs)
    return {"n_frames": merged.n_frames, "n_failed": len(failures), "failures": failures}
