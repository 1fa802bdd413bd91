"""Reference methods and the labelling stage: exact agreement with direct calculator calls, resume at
frame granularity, failures recorded, bad references refused before anything is written, and DFT
offsets that cost no precision."""

import hashlib
import os
import shutil
import sys
import textwrap

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from nnpdistill.errors import ConfigError
from nnpdistill.frames import Frames, FrameStore, write_frames
from nnpdistill.label import LabelError, chunk_rows, journal_path, label_chunk, merge_labelled
from nnpdistill.reference import CP2KSettings, cp2k_input_block, make_reference

HAVE_CP2K = shutil.which("cp2k_shell") is not None


@pytest.fixture
def requires_cp2k():
    """CP2K tests run wherever CP2K is installed; CI must have it (.ci/run installs it)."""
    if not HAVE_CP2K:
        if os.environ.get("CI"):
            pytest.fail("cp2k_shell is not on the PATH in CI: .ci/run must `apt-get install cp2k`")
        pytest.skip("cp2k_shell not on the PATH: `apt-get install cp2k` runs these tests")


def _store(path, symbol="Cu", n=6, a=3.6, repeat=(2, 1, 1)):
    images = []
    for s in range(n):
        atoms = bulk(symbol, "fcc", a=a * (1 + 0.01 * (s % 3 - 1)), cubic=True).repeat(repeat)
        atoms.rattle(0.05, seed=s)
        images.append(atoms)
    write_frames(path, Frames.from_atoms(images), {"element": symbol})
    return path


def _sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@pytest.fixture
def counting_module(tmp_path, monkeypatch):
    """A module with EMT-based calculators that count calls, fail on some frames, or stop the job."""
    (tmp_path / "labelcalcs.py").write_text(
        textwrap.dedent("""
        from ase.calculators.emt import EMT

        CALLS = []

        class Counting(EMT):
            stop_after = None  # raise KeyboardInterrupt (a kill) on this call
            def calculate(self, atoms=None, properties=("energy",), system_changes=()):
                if Counting.stop_after is not None and len(CALLS) == Counting.stop_after:
                    raise KeyboardInterrupt("killed")
                CALLS.append(1)
                super().calculate(atoms, properties, system_changes)

        class Failing(EMT):
            bad_volume = None  # frames whose cell volume exceeds this raise
            def calculate(self, atoms=None, properties=("energy",), system_changes=()):
                if atoms.get_volume() > Failing.bad_volume:
                    raise RuntimeError("SCF exploded (test)")
                super().calculate(atoms, properties, system_changes)
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    sys.modules.pop("labelcalcs", None)
    return importlib.import_module("labelcalcs")


def test_ase_reference_labels_a_store_exactly_as_emt_does(tmp_path):
    src = _store(tmp_path / "in.h5")
    ref = make_reference("Cu", {"kind": "ase", "calculator": "ase.calculators.emt:EMT"})
    label_chunk(src, tmp_path / "out.h5", ref, progress=False)
    with FrameStore(src) as store:
        images = store.to_atoms()
    with FrameStore(tmp_path / "out.h5") as store:
        got = store.read()
        attrs = store.user_attrs
    assert got.n_frames == len(images)
    for i, atoms in enumerate(images):
        atoms.calc = EMT()
        assert got.energy[i] == atoms.get_potential_energy()
        np.testing.assert_array_equal(got.forces[i], atoms.get_forces())
        np.testing.assert_array_equal(got.stress[i], atoms.get_stress(voigt=False))
    assert got.energies is None  # an ASE reference gives no per-atom energies
    assert attrs["reference"]["code"] == "ase.calculators.emt:EMT"
    assert attrs["reference"]["version"]
    np.testing.assert_array_equal(got.meta["source_index"], np.arange(len(images)))


def test_eam_reference_labels_as_the_eam_engine(tmp_path):
    from nnpdistill.potentials import EAMCalculator

    src = _store(tmp_path / "in.h5", symbol="Ni", a=3.52, n=3)
    label_chunk(src, tmp_path / "out.h5", make_reference("Ni"), progress=False)
    with FrameStore(src) as store:
        images = store.to_atoms()
    with FrameStore(tmp_path / "out.h5") as store:
        got = store.read()
        assert store.user_attrs["reference"]["files"]  # the potential file's sha256
    for i, atoms in enumerate(images):
        atoms.calc = EAMCalculator("Ni")
        np.testing.assert_allclose(got.energy[i], atoms.get_potential_energy(), rtol=0, atol=1e-10)
        np.testing.assert_allclose(got.energies[i], atoms.get_potential_energies(), rtol=0, atol=1e-10)


def test_an_empty_store_labels_to_an_empty_store(tmp_path):
    """An NNP run without uncertain frames leaves an empty candidate store: its labelling is empty, not an
    error; a store with frames but an empty chunk is still refused."""
    from nnpdistill.frames import FrameWriter

    with FrameWriter(tmp_path / "empty.h5", {"element": "Ni"}):
        pass
    parts = [tmp_path / f"c{k}.h5" for k in range(2)]
    for k, part in enumerate(parts):
        assert label_chunk(tmp_path / "empty.h5", part, make_reference("Ni"), chunk=(k, 2), progress=False)[
            "n_frames"] == 0
    assert merge_labelled(parts, tmp_path / "all.h5")["n_frames"] == 0
    with FrameStore(tmp_path / "all.h5") as store:
        assert len(store) == 0 and store.user_attrs["method"] == "labelled"
    with pytest.raises(LabelError, match="holds no frames"):
        label_chunk(_store(tmp_path / "in.h5", symbol="Ni", a=3.52, n=1), tmp_path / "x.h5",
                    make_reference("Ni"), chunk=(0, 2), progress=False)


def test_chunks_cover_the_frames_once_and_merge_in_order(tmp_path):
    assert [list(chunk_rows(10, (k, 3))) for k in range(3)] == [[0, 1, 2], [3, 4, 5], [6, 7, 8, 9]]
    spread = np.concatenate([chunk_rows(1000, (k, 4), max_frames=300) for k in range(4)])
    assert len(spread) == 300 and len(set(spread)) == 300 and spread.max() > 990  # evenly over the store
    src = _store(tmp_path / "in.h5", n=7)
    ref = make_reference("Cu", {"kind": "ase", "calculator": "ase.calculators.emt:EMT"})
    parts = [tmp_path / f"c{k}.h5" for k in range(3)]
    for k, part in enumerate(parts):
        label_chunk(src, part, ref, chunk=(k, 3), progress=False)
    merge_labelled(parts, tmp_path / "all.h5")
    label_chunk(src, tmp_path / "one.h5", ref, progress=False)
    with FrameStore(tmp_path / "all.h5") as a, FrameStore(tmp_path / "one.h5") as b:
        fa, fb = a.read(), b.read()
    np.testing.assert_array_equal(fa.energy, fb.energy)
    np.testing.assert_array_equal(fa.meta["source_index"], np.arange(7))


def test_a_killed_chunk_resumes_without_recomputing_finished_frames(tmp_path, counting_module):
    src = _store(tmp_path / "in.h5", n=6)
    ref = make_reference("Cu", {"kind": "ase", "calculator": "labelcalcs:Counting"})
    out = tmp_path / "out.h5"
    counting_module.Counting.stop_after = 4  # killed while computing the 5th frame
    with pytest.raises(KeyboardInterrupt):
        label_chunk(src, out, ref, progress=False)
    assert not out.exists()
    assert len(journal_path(out).read_text().splitlines()) == 1 + 4  # header + 4 finished frames
    counting_module.Counting.stop_after = None
    report = label_chunk(src, out, ref, progress=False)
    assert report["n_computed"] == 2 and report["n_from_journal"] == 4
    assert len(counting_module.CALLS) == 6  # every frame computed exactly once
    # the same bytes as an uninterrupted run
    fresh = tmp_path / "fresh.h5"
    label_chunk(src, fresh, ref, progress=False)
    assert _sha(out) == _sha(fresh)
    # a rerun of a finished chunk computes nothing
    assert label_chunk(src, out, ref, progress=False)["n_computed"] == 0


def test_a_journal_of_other_settings_is_not_reused(tmp_path):
    src = _store(tmp_path / "in.h5", n=3)
    out = tmp_path / "out.h5"
    label_chunk(
        src,
        out,
        make_reference("Cu", {"kind": "ase", "calculator": "ase.calculators.emt:EMT"}),
        progress=False,
    )
    other = make_reference(
        "Cu", {"kind": "ase", "calculator": "ase.calculators.emt:EMT", "parameters": {"asap_cutoff": True}}
    )
    report = label_chunk(src, out, other, progress=False)
    assert report["n_computed"] == 3
    assert journal_path(out).with_name(journal_path(out).name + ".stale").exists()


def test_failed_frames_are_recorded_and_left_out(tmp_path, counting_module):
    src = _store(tmp_path / "in.h5", n=6)
    with FrameStore(src) as store:
        volumes = np.sort(store.read().volume_A3)
    counting_module.Failing.bad_volume = volumes[-3] + 1e-6  # the two largest cells fail
    ref = make_reference("Cu", {"kind": "ase", "calculator": "labelcalcs:Failing"})
    report = label_chunk(src, tmp_path / "ok.h5", ref, max_failed_fraction=0.5, progress=False)
    assert report["n_failed"] == 2
    assert all("SCF exploded" in f["reason"] for f in report["failures"])
    with FrameStore(tmp_path / "ok.h5") as store:
        assert len(store) == 4
        assert store.user_attrs["n_failed"] == 2
        failed = {f["index"] for f in store.user_attrs["failures"]}
        assert failed.isdisjoint(store.read().meta["source_index"].tolist())
    with pytest.raises(LabelError, match=r"2 of 6 frames .* failed .*SCF exploded"):
        label_chunk(src, tmp_path / "strict.h5", ref, max_failed_fraction=0.2, progress=False)
    assert not (tmp_path / "strict.h5").exists()


@pytest.mark.parametrize(
    "config, match",
    [
        ({"kind": "ase", "calculator": "no.such.module:Calc"}, "cannot import"),
        ({"kind": "ase", "calculator": "ase.calculators.emt:NoSuchCalc"}, "has no 'NoSuchCalc'"),
        ({"kind": "ase", "calculator": "EMT"}, "module.path:ClassName"),
        ({"kind": "vasp"}, "unknown reference kind"),
        (
            {"kind": "cp2k", "parameters": {"command": "no-such-cp2k_shell"}},
            "not found on the PATH.*apt-get install cp2k",
        ),
        ({"kind": "cp2k", "parameters": {"cutoff": 300}}, "unknown CP2K setting"),
        ({"kind": "cp2k", "parameters": {"cutoff_Ry": "high"}}, "cutoff_Ry must be a number, got 'high'"),
    ],
)
def test_bad_references_are_refused_before_anything_is_written(tmp_path, config, match):
    src = _store(tmp_path / "in.h5", n=2)
    with pytest.raises(ConfigError, match=match):
        label_chunk(src, tmp_path / "out.h5", make_reference("Cu", config), progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.h5"]


def test_cp2k_preset_refuses_an_element_without_pseudopotential(requires_cp2k):
    with pytest.raises(ConfigError, match="no GTH-PBE pseudopotential for Og"):
        make_reference("Og", {"kind": "cp2k"}).check()
    with pytest.raises(ConfigError, match="no TZV9P-MOLOPT basis set for Al"):
        make_reference("Al", {"kind": "cp2k", "parameters": {"basis_set": "TZV9P-MOLOPT"}}).check()


def test_cp2k_numbers_written_without_a_dot_are_numbers():
    # YAML (and so `--param eps_scf=1e-5`) reads 1e-5 as a string; the preset takes it as the number
    settings = CP2KSettings.from_dict({"eps_scf": "1e-5", "cutoff_Ry": 100})
    assert settings.eps_scf == 1e-5 and isinstance(settings.eps_scf, float)


def test_cp2k_input_block_gives_each_setting_once():
    block = cp2k_input_block(CP2KSettings.from_dict({"kpoints": [2, 2, 2], "smearing_K": 500}), "Ni")
    assert block.count("MAX_SCF") == 0  # ASE writes it from max_scf: twice raises in CP2K
    assert "SCHEME MONKHORST-PACK 2 2 2" in block and "ELECTRONIC_TEMPERATURE [K] 500" in block
    assert "UKS .TRUE." in block  # nickel is spin-polarised by default
    assert "UKS" not in cp2k_input_block(CP2KSettings(), "Al")


# cheap settings: seconds per 4-atom Al cell (a 1-atom Ni cell still takes ~25 s: 18 valence electrons,
# spin-polarised); the Gamma point is enough to compare two routes to the same numbers
CHEAP_CP2K = {
    "basis_set": "SZV-MOLOPT-SR-GTH",
    "cutoff_Ry": 150,
    "rel_cutoff_Ry": 30,
    "smearing_K": 1000,
    "eps_scf": 1.0e-7,
}


def _cells(symbol, a, n=2):
    out = []
    for s, strain in enumerate((0.0, 0.02)[:n]):
        atoms = bulk(symbol, "fcc", a=a, cubic=symbol == "Al")
        atoms.set_cell(atoms.cell[:] @ np.diag([1 + strain, 1, 1 - strain]), scale_atoms=True)
        if len(atoms) > 1:
            atoms.rattle(0.08, seed=s)
        out.append(atoms)
    return out


@pytest.mark.parametrize("symbol, a, n", [("Al", 4.05, 2), ("Ni", 3.52, 1)])
def test_cp2k_labels_equal_a_direct_ase_cp2k_call(tmp_path, requires_cp2k, symbol, a, n):
    images = _cells(symbol, a, n)
    write_frames(tmp_path / "in.h5", Frames.from_atoms(images), {"element": symbol})
    # nickel's one-atom cell: a coarser grid (the comparison holds at any settings; 150 Ry took 27 s a call)
    params = CHEAP_CP2K if symbol == "Al" else {**CHEAP_CP2K, "cutoff_Ry": 60, "rel_cutoff_Ry": 15}
    ref = make_reference(symbol, {"kind": "cp2k", "parameters": params})
    label_chunk(tmp_path / "in.h5", tmp_path / "out.h5", ref, progress=False)
    with FrameStore(tmp_path / "out.h5") as store:
        got = store.read()
        prov = store.user_attrs["reference"]
    assert prov["code"] == "cp2k" and prov["settings"]["basis_set"] == "SZV-MOLOPT-SR-GTH"
    assert set(prov["files"]) == {"GTH_POTENTIALS", "BASIS_MOLOPT"}
    with FrameStore(tmp_path / "in.h5") as store:
        direct = store.to_atoms()
    for i, atoms in enumerate(direct):
        ref.prepare_atoms(atoms)  # nickel: initial moments for the spin-polarised preset
        atoms.calc = ref.make_calculator(tmp_path / f"direct{i}")
        assert got.energy[i] == pytest.approx(atoms.get_potential_energy(), abs=1e-9)
        np.testing.assert_allclose(got.forces[i], atoms.get_forces(), rtol=0, atol=1e-9)
        np.testing.assert_allclose(got.stress[i], atoms.get_stress(voigt=False), rtol=0, atol=1e-9)
        atoms.calc.close()
    if symbol == "Ni":
        assert "UKS .TRUE." in (tmp_path / "direct0" / "cp2k.inp").read_text()


def test_cp2k_forces_are_the_derivative_of_cp2k_energies(tmp_path, requires_cp2k):
    from nnpdistill.label import calculate_frame

    ref = make_reference("Al", {"kind": "cp2k", "parameters": CHEAP_CP2K})
    atoms = _cells("Al", 4.05)[1]
    forces = np.array(calculate_frame(ref, atoms.copy(), tmp_path)["forces"])
    h = 0.005
    for atom, axis in ((0, 0), (2, 1)):
        e = []
        for sign in (1, -1):
            moved = atoms.copy()
            moved.positions[atom, axis] += sign * h
            e.append(calculate_frame(ref, moved, tmp_path)["energy"])
        assert forces[atom, axis] == pytest.approx(-(e[0] - e[1]) / (2 * h), abs=5e-3)


def test_unconverged_scf_is_a_recorded_failure(tmp_path, requires_cp2k):
    write_frames(tmp_path / "in.h5", Frames.from_atoms(_cells("Al", 4.05)), {"element": "Al"})
    ref = make_reference("Al", {"kind": "cp2k", "parameters": {**CHEAP_CP2K, "max_scf": 1}})
    with pytest.raises(LabelError, match="2 of 2 frames .*SCF did not converge"):
        label_chunk(tmp_path / "in.h5", tmp_path / "out.h5", ref, max_failed_fraction=0.5, progress=False)
    assert not (tmp_path / "out.h5").exists()


def test_a_50_eV_per_atom_offset_changes_no_prediction(tmp_path):
    """DFT totals carry offsets of tens of eV/atom: the self-energy is fitted and taken out in float64,
    so shifting every label by 50 eV/atom shifts every prediction by exactly that."""
    from nnpdistill.nnp.builder import NNPSettings
    from nnpdistill.nnp.predict import load_ensemble, predict_pool
    from nnpdistill.nnp.train import TrainSettings, train_member
    from nnpdistill.potentials import EAMCalculator

    images = []
    for s in range(24):
        atoms = bulk("Ni", "fcc", a=3.52 * (1 + 0.004 * (s % 5 - 2)), cubic=True).repeat((2, 2, 2))
        atoms.rattle(0.06, seed=s)
        atoms.calc = EAMCalculator("Ni")
        atoms.get_potential_energy()
        images.append(atoms)
    frames = Frames.from_atoms(images)
    write_frames(tmp_path / "a.h5", frames, {"element": "Ni"})
    shifted = Frames(
        numbers=frames.numbers,
        positions=frames.positions,
        cell=frames.cell,
        energy=frames.energy + 50.0 * frames.n_atoms,
        forces=frames.forces,
    )
    write_frames(tmp_path / "b.h5", shifted, {"element": "Ni"})
    settings = NNPSettings.from_dict({"element": "Ni", "hidden_layers": [16, 16]})
    ts = TrainSettings.from_dict({"max_epochs": 8, "batch_frames": 8})
    preds = []
    for name in ("a", "b"):
        train_member(tmp_path / f"{name}.h5", settings, ts, seed=3, out_dir=tmp_path / name)
        model = load_ensemble([tmp_path / name / "model.pt"])
        preds.append(predict_pool(model, tmp_path / "a.h5", progress=False).scores["energy_pred_eV_per_atom"])
    diff = preds[1].to_numpy() - preds[0].to_numpy()
    assert np.abs(diff - 50.0).max() < 1e-6


def test_cp2k_runs_in_a_work_folder_deeper_than_cp2k_can_name(tmp_path, requires_cp2k):
    """CP2K reads at most 80 characters per input string: results deep in a project tree (as in CI's
    SLURM stage) still label, through a short link to the work folder."""
    write_frames(tmp_path / "in.h5", Frames.from_atoms(_cells("Al", 4.05, 1)), {"element": "Al"})
    deep = tmp_path / ("deep_folder_" * 8) / "chunk_0.h5.work"
    ref = make_reference("Al", {"kind": "cp2k", "parameters": CHEAP_CP2K})
    report = label_chunk(tmp_path / "in.h5", tmp_path / "out.h5", ref, workdir=deep, progress=False)
    assert report["n_failed"] == 0
    assert (deep / "cp2k.out").exists()


def test_cp2k_runs_inside_a_slurm_job_step(tmp_path, requires_cp2k, monkeypatch):
    """Debian's cp2k_shell (Open MPI, singleton) aborts when it sees a SLURM job step's variables;
    the preset hides them from a CP2K started without a launcher."""
    from nnpdistill.label import calculate_frame

    step = {"SLURM_JOBID": "7", "SLURM_STEP_ID": "0", "SLURM_PROCID": "0", "SLURM_NTASKS": "1"}
    for key, value in step.items():
        monkeypatch.setenv(key, value)
    ref = make_reference("Al", {"kind": "cp2k", "parameters": CHEAP_CP2K})
    assert calculate_frame(ref, _cells("Al", 4.05, 1)[0], tmp_path)["energy"] < 0
    assert "CP2K version" in ref.provenance()["version"]  # the same provenance as outside SLURM
