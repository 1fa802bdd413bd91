"""Tests of the HDF5 frame store (nnpdistill.frames) and the export/info commands."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest

import nnpdistill.frames as frames_module
from nnpdistill.errors import DatasetError, FrameStoreError
from nnpdistill.frames import (
    Frames,
    FrameStore,
    FrameWriter,
    compact_store,
    concatenate,
    export_extxyz,
    write_frames,
)

ATTRS = {"element": "Ni", "potential": "Ni_Nb_Zhang2016.eam.fs", "potential_sha256": "ab" * 32}


def make_frames(n_frames: int, n_atoms: int, seed: int, labels: bool = True, z: int = 28) -> Frames:
    """Random frames with every field, including awkward floats and strings."""
    rng = np.random.default_rng(seed)
    cell = np.tile(np.diag([10.0, 11.0, 12.0]), (n_frames, 1, 1)) + rng.normal(0, 0.1, (n_frames, 3, 3))
    stress = rng.normal(0, 0.01, (n_frames, 3, 3))
    stress = 0.5 * (stress + stress.transpose(0, 2, 1))  # symmetric, like a real virial stress
    temps = rng.uniform(100, 3000, n_frames)
    if n_frames > 2:
        temps[1] = -0.0
        temps[2] = 1e-300
    methods = np.array(["momt", "npt_fcc", "ünïcode ok"] * n_frames)[:n_frames]
    return Frames(
        numbers=np.full((n_frames, n_atoms), z),
        positions=rng.uniform(0, 10, (n_frames, n_atoms, 3)),
        cell=cell,
        energy=rng.normal(-4.45 * n_atoms, 1, n_frames) if labels else None,
        forces=rng.normal(0, 1, (n_frames, n_atoms, 3)) if labels else None,
        energies=rng.normal(-4.45, 0.1, (n_frames, n_atoms)) if labels else None,
        stress=stress if labels else None,
        meta={
            "temperature_K": temps,
            "step": rng.integers(0, 10**12, n_frames),
            "walker": rng.integers(0, 8, n_frames).astype(np.int32),
            "method": methods,
            "accepted": rng.random(n_frames) < 0.5,
        },
    )


def bits(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    return a.view(np.uint64) if a.dtype == np.float64 else a


def assert_frames_identical(got: Frames, want: Frames, check_index: bool = False) -> None:
    """Bitwise equality of every field and every metadata array (dtype kind included)."""
    for name in ("numbers", "positions", "cell", "energy", "forces", "energies", "stress"):
        g, w = getattr(got, name), getattr(want, name)
        assert (g is None) == (w is None), name
        if w is not None:
            assert g.dtype == w.dtype and g.shape == w.shape, name
            np.testing.assert_array_equal(bits(g), bits(w), err_msg=name)
    assert sorted(got.meta) == sorted(want.meta)
    for k, w in want.meta.items():
        g = got.meta[k]
        assert g.dtype.kind == w.dtype.kind, (k, g.dtype, w.dtype)
        np.testing.assert_array_equal(bits(g), bits(w), err_msg=k)
    if check_index:
        np.testing.assert_array_equal(got.index, want.index)


# ------------------------------------------------------------------------------------------------
# Frames container
# ------------------------------------------------------------------------------------------------


def test_frames_validation_messages():
    f = make_frames(3, 4, 0)
    with pytest.raises(DatasetError, match=r"Frames.forces has shape \(3, 5, 3\), expected \(3, 4, 3\)"):
        Frames(f.numbers, f.positions, f.cell, forces=np.zeros((3, 5, 3)))
    with pytest.raises(DatasetError, match="metadata 'temperature_K' has shape"):
        Frames(f.numbers, f.positions, f.cell, meta={"temperature_K": np.zeros(4)})
    with pytest.raises(DatasetError, match="reserved"):
        Frames(f.numbers, f.positions, f.cell, meta={"energy": np.zeros(3)})
    with pytest.raises(DatasetError, match="non-finite positions or cell in frame"):
        pos = f.positions.copy()
        pos[2, 0, 0] = np.nan
        Frames(f.numbers, pos, f.cell)
    with pytest.raises(DatasetError, match="numbers must have shape"):
        Frames(f.numbers[0], f.positions, f.cell)


def test_select_concatenate_roundtrip():
    f = make_frames(6, 4, 1)
    parts = [f.select(slice(0, 2)), f.select([2, 3]), f.select(np.arange(6) >= 4)]
    assert_frames_identical(concatenate(parts), f)
    rev = f.select([5, 0, 0])
    np.testing.assert_array_equal(rev.positions[1], f.positions[0])
    assert list(rev.meta["method"]) == [f.meta["method"][5], f.meta["method"][0], f.meta["method"][0]]
    with pytest.raises(DatasetError, match="part 1 has 5 atoms, part 0 has 4"):
        concatenate([f, make_frames(2, 5, 2)])
    with pytest.raises(DatasetError, match="labels"):
        concatenate([f, make_frames(2, 4, 2, labels=False)])


def test_from_atoms_to_atoms_with_real_calculator():
    """Labels from ASE's EMT calculator survive Frames.from_atoms -> to_atoms unchanged."""
    from ase.build import bulk
    from ase.calculators.emt import EMT

    images = []
    rng = np.random.default_rng(3)
    for i in range(3):
        atoms = bulk("Ni", "fcc", a=3.52, cubic=True).repeat((2, 2, 2))
        atoms.rattle(0.05, seed=i)
        atoms.set_cell(atoms.cell * (1 + 0.01 * i), scale_atoms=True)
        atoms.calc = EMT()
        atoms.get_stress()
        atoms.get_potential_energies()
        atoms.info["temperature_K"] = float(rng.uniform(300, 900))
        atoms.info["method"] = "npt_fcc"
        images.append(atoms)
    frames = Frames.from_atoms(images)
    assert frames.labels == ("energy", "forces", "energies", "stress")
    for i, atoms in enumerate(images):
        assert frames.energy[i] == atoms.get_potential_energy()
        np.testing.assert_array_equal(frames.forces[i], atoms.get_forces())
        np.testing.assert_allclose(frames.energies[i].sum(), frames.energy[i], rtol=1e-12)
        # ASE sign convention: pressure = -trace(stress)/3 matches atoms.get_stress()[:3]
        np.testing.assert_array_equal(np.diag(frames.stress[i]), atoms.get_stress()[:3])
    assert list(frames.meta) == ["temperature_K", "method"]
    back = Frames.from_atoms(frames.to_atoms())
    assert_frames_identical(back, frames)
    images[0].positions[0, 0] += 0.1  # results are now stale
    with pytest.raises(DatasetError, match="stale"):
        Frames.from_atoms(images)


# ------------------------------------------------------------------------------------------------
# writing and reading
# ------------------------------------------------------------------------------------------------


def test_exact_roundtrip_and_attrs(tmp_path):
    f = make_frames(7, 5, 4)
    path = tmp_path / "a.h5"
    attrs = {**ATTRS, "config": {"sample": {"timestep_fs": 1.0, "sizes": [32, 108]}}, "seed": 12345,
             "note": "ünïcode", "bias_scale": 0.25, "flag": True}
    write_frames(path, f, attrs)
    assert path.exists() and not (tmp_path / "a.h5.partial").exists()
    with FrameStore(path) as store:
        assert len(store) == 7 and store.sizes == {5: 7} and store.element == "Ni"
        a = store.attrs
        assert a["config"] == attrs["config"] and a["seed"] == 12345 and a["bias_scale"] == 0.25
        assert a["note"] == "ünïcode" and a["flag"] is True and a["format_version"] == 1
        assert a["units"]["energy"] == "eV" and a["potential_sha256"] == "ab" * 32
        assert store.user_attrs == {**attrs, "created_by": a["created_by"]}
        write_frames(tmp_path / "copy.h5", f, store.user_attrs)  # attrs pass through a new writer
        with FrameStore(tmp_path / "copy.h5") as copy:
            assert copy.attrs == a
        got = store.read()
        assert_frames_identical(got, f)
        np.testing.assert_array_equal(got.index, np.arange(7))
        assert_frames_identical(store.groups()[0], f)
        np.testing.assert_array_equal(store.meta("method"), f.meta["method"])
        # labels skipped on request
        assert store.read([1, 2], labels=False).labels == ()


def test_unlabelled_frames_roundtrip(tmp_path):
    f = make_frames(4, 3, 5, labels=False)
    write_frames(tmp_path / "u.h5", f, {"element": "Ni"})
    with FrameStore(tmp_path / "u.h5") as store:
        assert store.labels == ()
        assert_frames_identical(store.read(), f)


def test_mixed_atom_counts_and_global_indices(tmp_path):
    a, b, c = make_frames(5, 4, 10), make_frames(3, 7, 11), make_frames(4, 4, 12)
    path = tmp_path / "m.h5"
    with FrameWriter(path, ATTRS) as w:
        w.append(a)               # global 0..4   (N=4)
        w.append([b, c])          # global 5..7 (N=7), 8..11 (N=4)
        assert w.n_frames == 12
    with FrameStore(path) as store:
        assert store.sizes == {4: 9, 7: 3} and len(store) == 12
        assert_frames_identical(store.read(range(5, 8)), b)
        assert_frames_identical(store.read([8, 9, 10, 11]), c)
        # any order, duplicates and negative indices keep the order given
        want = concatenate([a, c]).select([6, 0, 0, 8, 3])  # global 9 = c[1], 11 = c[3]
        got = store.read([9, 0, 0, -1, 3])
        assert_frames_identical(got, want)
        np.testing.assert_array_equal(got.index, [9, 0, 0, 11, 3])
        with pytest.raises(FrameStoreError, match=r"span several atom counts.*4: 1, 7: 1"):
            store.read([0, 5])
        with pytest.raises(FrameStoreError, match="several atom counts"):
            store.read()
        with pytest.raises(FrameStoreError, match="out of range"):
            store.read([12])
        groups = store.groups()
        assert [g.n_atoms for g in groups] == [4, 7]
        assert_frames_identical(groups[0], concatenate([a, c]))
        np.testing.assert_array_equal(groups[0].index, [0, 1, 2, 3, 4, 8, 9, 10, 11])
        # metadata over all frames in global order, without reading positions
        np.testing.assert_array_equal(store.meta("step"), np.concatenate([a.meta["step"], b.meta["step"],
                                                                         c.meta["step"]]))
        np.testing.assert_array_equal(store.meta("method"),
                                      np.concatenate([a.meta["method"], b.meta["method"], c.meta["method"]]))
        np.testing.assert_array_equal(store.meta("n_atoms"), [4] * 5 + [7] * 3 + [4] * 4)
        atoms = store.to_atoms([6, 0])
        assert [len(x) for x in atoms] == [7, 4] and atoms[0].info["frame_index"] == 6
        assert atoms[1].get_potential_energy() == a.energy[0]


def test_append_many_calls_with_buffer_flushes(tmp_path):
    parts = [make_frames(3, 6, 20 + i) for i in range(7)]
    path = tmp_path / "b.h5"
    with FrameWriter(path, ATTRS, flush_bytes=2000) as w:  # forces several on-disk writes
        for i, p in enumerate(parts):
            w.append(p)
            if i == 3:
                w.flush()
    with FrameStore(path) as store:
        assert_frames_identical(store.read(), concatenate(parts))


def test_schema_and_element_checks_on_append(tmp_path):
    with FrameWriter(tmp_path / "s.h5", ATTRS) as w:
        w.append(make_frames(2, 4, 0))
        with pytest.raises(DatasetError, match="labels"):
            w.append(make_frames(2, 4, 1, labels=False))
        bad = make_frames(2, 4, 2)
        bad.meta["extra"] = np.zeros(2)
        with pytest.raises(DatasetError, match="metadata"):
            w.append(bad)
        with pytest.raises(DatasetError, match=r"store is for Ni \(Z=28\)"):
            w.append(make_frames(2, 4, 3, z=41))
        floaty = make_frames(2, 4, 4)
        floaty.meta["step"] = floaty.meta["step"] + 0.5
        with pytest.raises(DatasetError, match="'step' has kind 'f'"):
            w.append(floaty)
    with pytest.raises(FrameStoreError, match="element"):
        FrameWriter(tmp_path / "x.h5", {"potential": "p"})
    with pytest.raises(FrameStoreError, match="'format' is set by nnpdistill"):
        FrameWriter(tmp_path / "x.h5", {**ATTRS, "format": "other"})


def test_truncate_and_resume_after_error(tmp_path):
    path = tmp_path / "r.h5"
    first, second, third = make_frames(6, 4, 30), make_frames(4, 9, 31), make_frames(5, 4, 32)
    with pytest.raises(RuntimeError, match="simulated crash"):
        with FrameWriter(path, ATTRS, keep_partial_on_error=True) as w:
            w.append([first, second])
            w.flush()
            w.append(third)
            raise RuntimeError("simulated crash")
    assert not path.exists() and (tmp_path / "r.h5.partial").exists()
    # simulate a kill in the middle of writing `third` (global 10..14, N=4): the data rows are there,
    # the last two index rows are not -> resume keeps the consistent prefix 0..12
    with h5py.File(tmp_path / "r.h5.partial", "r+") as f:
        assert f["n4/index"].shape == (11,) and f["n9/index"].shape == (4,)
        f["n4/index"].resize(9, axis=0)
    # restart from a checkpoint that had written 8 frames (6 of N=4, 2 of N=9)
    with FrameWriter(path, {**ATTRS, "seed": 2}, resume=True) as w:
        assert w.n_frames == 13
        w.truncate(8)
        assert w.n_frames == 8
        w.append(third)
    with FrameStore(path) as store:
        assert len(store) == 13 and store.sizes == {4: 11, 9: 2} and store.attrs["seed"] == 2
        assert_frames_identical(store.read(range(6)), first)
        assert_frames_identical(store.read([6, 7]), second.select([0, 1]))
        assert_frames_identical(store.read(range(8, 13)), third)
    with FrameWriter(tmp_path / "t.h5", ATTRS) as w:
        w.append(first)
        with pytest.raises(FrameStoreError, match="cannot truncate to 7 frames, it holds 6"):
            w.truncate(7)


def test_resumed_store_has_the_bytes_of_an_uninterrupted_one(tmp_path, monkeypatch):
    """A store written in one go and one killed and resumed half-way end as the same file (the same
    checksum), so a sampling run that resumes from its checkpoint is reproducible bit for bit."""
    parts = [make_frames(30, 32, 100 + i) for i in range(6)]
    with FrameWriter(tmp_path / "a.h5", ATTRS, flush_bytes=0) as w:
        for p in parts:
            w.append(p)
    with pytest.raises(RuntimeError, match="killed"):
        with FrameWriter(tmp_path / "b.h5", ATTRS, flush_bytes=0, keep_partial_on_error=True) as w:
            for p in parts[:4]:
                w.append(p)
            raise RuntimeError("killed")
    with FrameWriter(tmp_path / "b.h5", ATTRS, flush_bytes=0, resume=True) as w:
        w.truncate(60)  # the checkpoint was taken after two parts
        for p in parts[2:]:
            w.append(p)
    assert (tmp_path / "a.h5").read_bytes() == (tmp_path / "b.h5").read_bytes()
    # a store of an older nnpdistill (written without the final compaction) holds the same frames in
    # other bytes; compact_store gives it the canonical ones
    with monkeypatch.context() as m:
        m.setattr(frames_module.writer, "compact_store", lambda path: path)
        with FrameWriter(tmp_path / "c.h5", ATTRS, flush_bytes=0) as w:
            for p in parts:
                w.append(p)
                w.flush()
    assert (tmp_path / "c.h5").read_bytes() != (tmp_path / "a.h5").read_bytes()
    compact_store(tmp_path / "c.h5")
    assert (tmp_path / "c.h5").read_bytes() == (tmp_path / "a.h5").read_bytes()


def test_resume_after_kill(tmp_path):
    """A process killed (os._exit) after a flush leaves a .partial that resumes at the flushed frames."""
    path = tmp_path / "k.h5"
    script = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from test_frames import make_frames, ATTRS
        from nnpdistill.frames import FrameWriter
        w = FrameWriter({str(path)!r}, ATTRS, keep_partial_on_error=True, flush_bytes=0)
        w.append(make_frames(50, 32, 40))
        w.flush()
        for i in range(20):                 # written to HDF5 (no buffering) but never flushed
            w.append([make_frames(3, 32, 41 + i), make_frames(2, 40, 41 + i)])
        os._exit(9)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 9, proc.stderr
    assert not path.exists()
    with FrameWriter(path, ATTRS, resume=True) as w:
        assert w.n_frames >= 50  # everything flushed survives (HDF5 usually drops the unflushed rest)
        w.truncate(50)           # back to the checkpoint
        w.append(make_frames(5, 32, 42))
    with FrameStore(path) as store:
        assert len(store) == 55 and store.attrs["element"] == "Ni"
        assert_frames_identical(store.read(range(50)), make_frames(50, 32, 40))
        assert_frames_identical(store.read(range(50, 55)), make_frames(5, 32, 42))
        assert store.meta("method").shape == (55,)  # every string readable (no damaged heaps)


def test_exception_leaves_no_file(tmp_path):
    path = tmp_path / "e.h5"
    with pytest.raises(ValueError, match="boom"):
        with FrameWriter(path, ATTRS) as w:
            w.append(make_frames(3, 4, 0))
            w.flush()
            raise ValueError("boom")
    assert not path.exists()
    assert not (tmp_path / "e.h5.partial").exists()
    with pytest.raises(FrameStoreError, match="not found"):
        FrameStore(path)


# ------------------------------------------------------------------------------------------------
# refusing bad files
# ------------------------------------------------------------------------------------------------


def test_refuses_other_version_and_foreign_files(tmp_path):
    path = tmp_path / "v.h5"
    write_frames(path, make_frames(2, 4, 0), ATTRS)
    with h5py.File(path, "r+") as f:
        f.attrs["format_version"] = 2
    with pytest.raises(FrameStoreError, match=r"format_version 2 but this nnpdistill reads format_version 1"):
        FrameStore(path)
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["data"] = np.arange(3)
    with pytest.raises(FrameStoreError, match=r"foreign.h5: not an nnpdistill frame store \(no 'format'"):
        FrameStore(foreign)
    text = tmp_path / "text.h5"
    text.write_text("not hdf5 at all\n")
    with pytest.raises(FrameStoreError, match="text.h5: opening failed"):
        FrameStore(text)
    (tmp_path / "only.h5.partial").write_bytes(b"")
    with pytest.raises(FrameStoreError, match="only only.h5.partial exists"):
        FrameStore(tmp_path / "only.h5")


def test_truncated_file_is_refused(tmp_path):
    path = tmp_path / "cut.h5"
    write_frames(path, make_frames(40, 32, 0), ATTRS)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(FrameStoreError, match="cut.h5"):
        with FrameStore(path) as store:
            store.groups()


def test_inconsistent_dataset_lengths_are_refused(tmp_path):
    path = tmp_path / "inc.h5"
    write_frames(path, make_frames(5, 4, 0), ATTRS)
    with h5py.File(path, "r+") as f:
        f["n4/forces"].resize(4, axis=0)
    with pytest.raises(FrameStoreError, match="'forces' holds 4 frames, 'index' holds 5"):
        FrameStore(path)


# ------------------------------------------------------------------------------------------------
# extended XYZ and CLI
# ------------------------------------------------------------------------------------------------


def _check_extxyz(out, frames: Frames, index: list[int]) -> None:
    import ase.io

    images = ase.io.read(out, ":")
    assert len(images) == len(frames)
    for i, atoms in enumerate(images):
        np.testing.assert_array_equal(atoms.numbers, frames.numbers[i])
        np.testing.assert_array_equal(atoms.positions, frames.positions[i])
        np.testing.assert_array_equal(atoms.cell[:], frames.cell[i])
        assert atoms.pbc.all()
        assert atoms.get_potential_energy() == frames.energy[i]
        np.testing.assert_array_equal(atoms.get_forces(), frames.forces[i])
        np.testing.assert_array_equal(atoms.get_potential_energies(), frames.energies[i])
        np.testing.assert_array_equal(atoms.get_stress(voigt=False), frames.stress[i])
        assert atoms.info["frame_index"] == index[i]
        for k, v in frames.meta.items():
            assert atoms.info[k] == v[i], k
            assert np.asarray(atoms.info[k]).dtype.kind == v.dtype.kind, k
    # and back into Frames: identical
    assert_frames_identical(Frames.from_atoms(images), frames)


def test_export_extxyz_read_by_ase(tmp_path):
    f = make_frames(6, 5, 50)
    h5 = tmp_path / "x.h5"
    write_frames(h5, f, ATTRS)
    out = tmp_path / "x.extxyz"
    assert export_extxyz(h5, out) == 6
    _check_extxyz(out, f, list(range(6)))
    assert export_extxyz(h5, out, indices=[4, 1]) == 2
    _check_extxyz(out, f.select([4, 1]), [4, 1])


def test_cli_export_and_info(tmp_path, capsys):
    from nnpdistill.cli import main

    a, b = make_frames(4, 4, 60), make_frames(3, 6, 61)
    h5 = tmp_path / "c.h5"
    write_frames(h5, [a, b], {**ATTRS, "config": {"k": 1}})
    out = tmp_path / "c.extxyz"
    assert main(["export", str(h5), str(out), "--indices", "1:3", "5"]) == 0
    import ase.io

    images = ase.io.read(out, ":")
    assert [x.info["frame_index"] for x in images] == [1, 2, 5]
    assert images[2].get_potential_energy() == b.energy[1]
    assert main(["export", str(h5), str(tmp_path / "all.extxyz")]) == 0
    assert len(ase.io.read(tmp_path / "all.extxyz", ":")) == 7  # mixed atom counts in one file
    capsys.readouterr()
    assert main(["info", str(h5)]) == 0
    text = capsys.readouterr().out
    assert "7 frames" in text and "4: 4, 6: 3" in text and "temperature_K" in text and "method" in text
    assert main(["info", str(h5), "--json"]) == 0
    assert '"frames": 7' in capsys.readouterr().out
    assert main(["export", str(tmp_path / "missing.h5"), str(out)]) == 2
    assert "frame store not found" in capsys.readouterr().err
    capsys.readouterr()
    assert main(["export", str(h5), str(out), "--indices", "99"]) == 2
    assert "the store has 7 frames" in capsys.readouterr().err
    # slices clip like Python's; negative indices count from the end
    assert main(["export", str(h5), str(out), "--indices", "5:100", "-1", "::3"]) == 0
    assert [x.info["frame_index"] for x in ase.io.read(out, ":")] == [5, 6, 6, 0, 3, 6]


# ------------------------------------------------------------------------------------------------
# torchani and speed
# ------------------------------------------------------------------------------------------------


def test_torchani_anidataset_opens_store(tmp_path):
    os.environ.setdefault("TORCHANI_NO_WARN_EXTENSIONS", "1")
    import torch
    from torchani.datasets import ANIDataset

    torch.set_num_threads(1)
    a, b = make_frames(5, 4, 70), make_frames(3, 7, 71)
    path = tmp_path / "ani.h5"
    write_frames(path, [a, b], ATTRS)
    ds = ANIDataset(path, verbose=False)
    assert ds.grouping == "by_num_atoms"
    assert dict(ds.group_sizes) == {"n4": 5, "n7": 3}
    conf = ds.get_conformers("n7", properties=["species", "coordinates", "energies", "forces", "cell"])
    np.testing.assert_array_equal(conf["coordinates"].numpy(), b.positions)
    np.testing.assert_array_equal(conf["energies"].numpy(), b.energy)
    np.testing.assert_array_equal(conf["species"].numpy(), b.numbers)
    assert ds.znumbers == (28,)


def test_permuted_and_sparse_reads_of_20000_frames(tmp_path):
    """A pool-sized store: permuted and sparse reads return exactly those frames (timings: benchmarks/
    bench_frames.py)."""
    f = make_frames(2000, 108, 80)
    path = tmp_path / "big.h5"
    with FrameWriter(path, ATTRS) as w:
        for _ in range(10):
            w.append(f)
    with FrameStore(path) as store:
        allf = store.read()
        perm = np.random.default_rng(0).permutation(len(store))
        shuffled = store.read(perm)
        sparse = np.sort(np.random.default_rng(1).choice(len(store), 500, replace=False))
        part = store.read(sparse)
        temps = store.meta("temperature_K")
    assert len(allf) == 20000
    np.testing.assert_array_equal(shuffled.positions, allf.positions[perm])
    np.testing.assert_array_equal(part.forces, allf.forces[sparse])
    np.testing.assert_array_equal(temps, allf.meta["temperature_K"])
