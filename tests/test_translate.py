"""Translation: scaling keeps fractional coordinates, labels equal a direct EAM evaluation."""

import numpy as np
import pandas as pd
import pytest
from ase.build import bulk

from nnpdistill.errors import NNPDistillError
from nnpdistill.frames import Frames, FrameStore, write_frames
from nnpdistill.potentials import EAMCalculator
from nnpdistill.translate import scale_factor, translate_dataset, translate_frames


def _table(rows):
    return pd.DataFrame(rows, columns=["structure", "energy_eV_per_atom", "volume_A3_per_atom"])


NI = _table([("fcc", -4.876, 10.8686), ("bcc", -4.833, 10.7591)])
AL = _table([("fcc", -3.411, 16.5494), ("bcc", -3.309, 16.9811)])
NB = _table([("fcc", -7.159, 20.0855), ("bcc", -7.347, 18.0073)])


def test_scale_rules():
    f, rule = scale_factor(NI, AL)
    assert rule == "fcc_lattice"
    assert f == pytest.approx((16.5494 / 10.8686) ** (1 / 3))
    assert f == pytest.approx(4.045 / 3.516, rel=2e-3)  # the paper's 4.05/3.52 ratio for these EAMs
    f, rule = scale_factor(NI, NB)  # Nb is BCC: atomic-volume ratio of the ground states
    assert rule == "ground_state_volume"
    assert f == pytest.approx((18.0073 / 10.8686) ** (1 / 3))
    assert scale_factor(NI, NB, "fcc_lattice")[0] == pytest.approx((20.0855 / 10.8686) ** (1 / 3))
    with pytest.raises(NNPDistillError, match="unknown scale rule"):
        scale_factor(NI, AL, "bogus")


def _ni_frames(n=3, seed=0):
    rng = np.random.default_rng(seed)
    atoms = bulk("Ni", "fcc", a=3.52, cubic=True).repeat(2)
    pos = atoms.positions[None] + rng.normal(0, 0.1, (n, len(atoms), 3))
    cell = np.array([atoms.cell[:] @ (np.eye(3) + rng.normal(0, 0.02, (3, 3))) for _ in range(n)])
    return Frames(
        numbers=np.full((n, len(atoms)), 28),
        positions=pos,
        cell=cell,
        meta={"order_parameter": rng.random(n) * 32},
    )


def test_scaling_preserves_fractional_coordinates():
    frames = _ni_frames()
    out = translate_frames(frames, 1.15, 13)
    frac_in = np.linalg.solve(frames.cell.transpose(0, 2, 1), frames.positions.transpose(0, 2, 1))
    frac_out = np.linalg.solve(out.cell.transpose(0, 2, 1), out.positions.transpose(0, 2, 1))
    np.testing.assert_allclose(frac_out, frac_in, atol=1e-12)
    assert (out.numbers == 13).all() and out.energy is None
    np.testing.assert_allclose(out.meta["volume_A3"], frames.volume_A3 * 1.15**3)
    np.testing.assert_array_equal(out.meta["order_parameter"], frames.meta["order_parameter"])


def test_translated_labels_equal_direct_eam(tmp_path):
    src = tmp_path / "ni.h5"
    write_frames(src, _ni_frames(5), {"element": "Ni"})
    NI.to_csv(tmp_path / "ni.csv", index=False)
    AL.to_csv(tmp_path / "al.csv", index=False)
    info = translate_dataset(
        str(src), tmp_path / "ni.csv", tmp_path / "al.csv", "Al", str(tmp_path / "al.h5")
    )
    assert info["scale_rule"] == "fcc_lattice" and info["n_frames"] == 5
    with FrameStore(tmp_path / "al.h5") as store:
        assert store.element == "Al"
        assert store.attrs["scale_factor"] == pytest.approx(info["scale_factor"])
        images = store.to_atoms()
        frames = store.read()
    calc = EAMCalculator("Al")
    for i, atoms in enumerate(images):
        atoms.calc = calc
        assert atoms.get_potential_energy() == pytest.approx(frames.energy[i], abs=1e-9)
        np.testing.assert_allclose(atoms.get_forces(), frames.forces[i], atol=1e-9)
        np.testing.assert_allclose(atoms.get_stress(voigt=False), frames.stress[i], atol=1e-10)
        np.testing.assert_allclose(calc.get_property("energies", atoms), frames.energies[i], atol=1e-9)


def test_multi_factor_translation_gives_each_factor_exactly_with_direct_eam_labels(tmp_path):
    """Every frame at the rule's factor times each multiplier: cells exactly factor x m x source,
    fractional coordinates kept, labels equal to a direct EAM evaluation, each frame's factor in its
    metadata; [1.0] is the paper's single-factor set, frame for frame."""
    frames = _ni_frames(4, seed=5)
    src = tmp_path / "ni.h5"
    write_frames(src, frames, {"element": "Ni"})
    NI.to_csv(tmp_path / "ni.csv", index=False)
    AL.to_csv(tmp_path / "al.csv", index=False)
    args = (str(src), tmp_path / "ni.csv", tmp_path / "al.csv", "Al")
    single = translate_dataset(*args, str(tmp_path / "one.h5"))
    multi = (0.96, 1.0, 1.05)
    info = translate_dataset(*args, str(tmp_path / "three.h5"), multipliers=multi)
    assert info["n_frames"] == 12 and info["scale_multipliers"] == list(multi)
    assert info["scale_factor"] == single["scale_factor"]
    with FrameStore(tmp_path / "three.h5") as store:
        out, images = store.read(), store.to_atoms()
    with FrameStore(tmp_path / "one.h5") as store:
        one = store.read()
    f = info["scale_factor"]
    calc = EAMCalculator("Al")
    for k, m in enumerate(multi):
        block = slice(4 * k, 4 * k + 4)
        np.testing.assert_array_equal(out.meta["scale_factor"][block], f * m)
        np.testing.assert_allclose(out.cell[block], frames.cell * (f * m), rtol=1e-15)
        frac_in = np.linalg.solve(frames.cell.transpose(0, 2, 1), frames.positions.transpose(0, 2, 1))
        cell, pos = out.cell[block], out.positions[block]
        frac_out = np.linalg.solve(cell.transpose(0, 2, 1), pos.transpose(0, 2, 1))
        np.testing.assert_allclose(frac_out, frac_in, atol=1e-12)
        if m == 1.0:
            np.testing.assert_array_equal(out.energy[block], one.energy)
    for i in (0, 5, 11):
        atoms = images[i]
        atoms.calc = calc
        assert atoms.get_potential_energy() == pytest.approx(out.energy[i], abs=1e-9)
        np.testing.assert_allclose(atoms.get_forces(), out.forces[i], atol=1e-9)
        np.testing.assert_allclose(atoms.get_stress(voigt=False), out.stress[i], atol=1e-10)
    # compressed frames are at a higher pressure than stretched ones
    p = -np.trace(out.stress, axis1=1, axis2=2) / 3
    assert p[:4].mean() > p[4:8].mean() > p[8:].mean()
    with pytest.raises(NNPDistillError, match="distinct positive"):
        translate_dataset(*args, str(tmp_path / "bad.h5"), multipliers=(1.0, -0.5))
    assert not (tmp_path / "bad.h5").exists()


def _nb_frames(n=3, seed=1):
    rng = np.random.default_rng(seed)
    atoms = bulk("Nb", "bcc", a=3.30, cubic=True).repeat((2, 2, 4))  # 32 atoms, as the Ni frames
    pos = atoms.positions[None] + rng.normal(0, 0.1, (n, len(atoms), 3))
    cell = np.array([atoms.cell[:] for _ in range(n)])
    return Frames(numbers=np.full((n, len(atoms)), 41), positions=pos, cell=cell,
                  meta={"order_parameter": rng.random(n), "walker": np.arange(n)})


def test_two_sources_each_with_its_own_factor_make_one_set(tmp_path):
    """An FCC source and a BCC complement translated to Al together: each source's frames at its own
    factor (Ni -> Al the FCC lattice ratio, Nb -> Al the ground-state volume ratio), fractional
    coordinates kept, labels from Al's EAM, each frame tagged with its source; the first source's
    frames are those of its single-source translation, byte for byte."""
    ni, nb = _ni_frames(4, seed=2), _nb_frames(3)
    write_frames(tmp_path / "ni.h5", ni, {"element": "Ni"})
    write_frames(tmp_path / "nb.h5", nb, {"element": "Nb"})
    for name, table in (("ni", NI), ("nb", NB), ("al", AL)):
        table.to_csv(tmp_path / f"{name}.csv", index=False)
    single = translate_dataset(str(tmp_path / "ni.h5"), tmp_path / "ni.csv", tmp_path / "al.csv", "Al",
                               str(tmp_path / "one.h5"))
    stores, tables = [tmp_path / "ni.h5", tmp_path / "nb.h5"], [tmp_path / "ni.csv", tmp_path / "nb.csv"]
    info = translate_dataset(stores, tables, tmp_path / "al.csv", "Al", str(tmp_path / "two.h5"))
    assert info["source_element"] == "Ni+Nb" and info["n_frames"] == 7
    assert info["scale_factor"] == single["scale_factor"] and info["scale_rule"] == "fcc_lattice"
    f_nb = scale_factor(NB, AL)[0]
    assert [s["scale_rule"] for s in info["sources"]] == ["fcc_lattice", "ground_state_volume"]
    assert info["sources"][1]["scale_factor"] == pytest.approx(f_nb)
    with FrameStore(tmp_path / "two.h5") as store:
        out, images = store.read(), store.to_atoms()
        assert store.attrs["source_element"] == "Ni+Nb"
    with FrameStore(tmp_path / "one.h5") as store:
        one = store.read()
    assert list(out.meta["source_element"]) == ["Ni"] * 4 + ["Nb"] * 3
    assert "walker" not in out.meta  # only the meta every source has
    np.testing.assert_array_equal(out.energy[:4], one.energy)
    np.testing.assert_array_equal(out.positions[:4], one.positions)
    np.testing.assert_allclose(out.cell[4:], nb.cell * f_nb, rtol=1e-15)
    frac_in = np.linalg.solve(nb.cell.transpose(0, 2, 1), nb.positions.transpose(0, 2, 1))
    frac_out = np.linalg.solve(out.cell[4:].transpose(0, 2, 1), out.positions[4:].transpose(0, 2, 1))
    np.testing.assert_allclose(frac_out, frac_in, atol=1e-12)
    assert (out.numbers == 13).all()
    calc = EAMCalculator("Al")
    for i in (0, 4, 6):
        atoms = images[i]
        atoms.calc = calc
        assert atoms.get_potential_energy() == pytest.approx(out.energy[i], abs=1e-9)
        np.testing.assert_allclose(atoms.get_forces(), out.forces[i], atol=1e-9)
    # the CLI takes the same lists
    from nnpdistill.cli import main

    assert main(["translate", *map(str, stores), "--element", "Al", "--source-crystals", *map(str, tables),
                 "--target-crystals", str(tmp_path / "al.csv"), "--out", str(tmp_path / "cli.h5")]) == 0
    with FrameStore(tmp_path / "cli.h5") as store:
        np.testing.assert_array_equal(store.read().energy, out.energy)
    with pytest.raises(NNPDistillError, match="one crystals.csv per source"):
        translate_dataset(stores, tables[:1], tmp_path / "al.csv", "Al", str(tmp_path / "bad.h5"))


def test_native_frames_join_the_translated_set_as_drawn_from_the_targets_pool(tmp_path):
    """translate.native_frames: N seeded frames of the target's own pool join the translated frames with
    the pool's own EAM labels, tagged with the target's symbol; the translated frames are those of the
    plain translation, byte for byte; the draw is recorded and repeats under its seed; a pool of
    another element or too few frames is refused before anything is written."""
    from nnpdistill.translate import label_frames

    write_frames(tmp_path / "ni.h5", _ni_frames(4, seed=2), {"element": "Ni"})
    NI.to_csv(tmp_path / "ni.csv", index=False)
    AL.to_csv(tmp_path / "al.csv", index=False)
    atoms = bulk("Al", "fcc", a=4.05, cubic=True).repeat(2)
    rng = np.random.default_rng(5)
    pool = Frames(numbers=np.full((6, len(atoms)), 13),
                  positions=atoms.positions[None] + rng.normal(0, 0.1, (6, len(atoms), 3)),
                  cell=np.repeat(atoms.cell[:][None], 6, axis=0),
                  meta={"order_parameter": rng.random(6), "walker": np.arange(6)})
    from nnpdistill.potentials import load_eam

    pool = label_frames(pool, load_eam("Al").evaluator())
    write_frames(tmp_path / "pool.h5", pool, {"element": "Al"})
    args = (str(tmp_path / "ni.h5"), tmp_path / "ni.csv", tmp_path / "al.csv", "Al")
    plain = translate_dataset(*args, str(tmp_path / "plain.h5"))
    info = translate_dataset(*args, str(tmp_path / "native.h5"), native_pool=str(tmp_path / "pool.h5"),
                             n_native=2, native_seed=9)
    again = translate_dataset(*args, str(tmp_path / "again.h5"), native_pool=str(tmp_path / "pool.h5"),
                              n_native=2, native_seed=9)
    assert info["n_frames"] == plain["n_frames"] + 2 == 6 and info["native_frames"] == 2
    assert info["native_indices"] == again["native_indices"] and len(set(info["native_indices"])) == 2
    assert info["scale_factor"] == plain["scale_factor"]
    with FrameStore(tmp_path / "native.h5") as store:
        out = store.read()
        assert list(store.attrs["native_indices"]) == info["native_indices"]
    with FrameStore(tmp_path / "plain.h5") as store:
        one = store.read()
    np.testing.assert_array_equal(out.energy[:4], one.energy)
    np.testing.assert_array_equal(out.positions[:4], one.positions)
    idx = info["native_indices"]
    np.testing.assert_array_equal(out.energy[4:], pool.energy[idx])
    np.testing.assert_array_equal(out.forces[4:], pool.forces[idx])
    np.testing.assert_array_equal(out.positions[4:], pool.positions[idx])
    assert list(out.meta["source_element"]) == ["Ni"] * 4 + ["Al"] * 2
    assert "walker" not in out.meta and "scale_factor" not in out.meta  # only the meta both kinds have
    with pytest.raises(NNPDistillError, match="holds 6 frames"):
        translate_dataset(*args, str(tmp_path / "many.h5"), native_pool=str(tmp_path / "pool.h5"),
                          n_native=7)
    with pytest.raises(NNPDistillError, match="not Cu's"):
        translate_dataset(str(tmp_path / "ni.h5"), tmp_path / "ni.csv", tmp_path / "al.csv", "Cu",
                          str(tmp_path / "cu.h5"), native_pool=str(tmp_path / "pool.h5"), n_native=2,
                          potential="lammps:Cu_u3.eam")
    assert not (tmp_path / "many.h5").exists() and not (tmp_path / "cu.h5").exists()
    from nnpdistill.cli import main

    assert main(["translate", args[0], "--element", "Al", "--source-crystals", str(args[1]),
                 "--target-crystals", str(args[2]), "--out", str(tmp_path / "cli.h5"),
                 "--native-pool", str(tmp_path / "pool.h5"), "--native-frames", "2",
                 "--native-seed", "9"]) == 0
    with FrameStore(tmp_path / "cli.h5") as store:
        np.testing.assert_array_equal(store.read().energy, out.energy)
    # translate.native_weight: every frame gets a loss weight, the native ones the weight; the frames and
    # labels are those of the unweighted set; a weight without native frames or a non-positive one is refused
    info = translate_dataset(*args, str(tmp_path / "weighted.h5"), native_pool=str(tmp_path / "pool.h5"),
                             n_native=2, native_seed=9, native_weight=8.0)
    assert info["native_weight"] == 8.0
    with FrameStore(tmp_path / "weighted.h5") as store:
        weighted = store.read()
        assert float(store.attrs["native_weight"]) == 8.0
    assert weighted.meta["loss_weight"].tolist() == [1.0] * 4 + [8.0] * 2
    np.testing.assert_array_equal(weighted.energy, out.energy)
    np.testing.assert_array_equal(weighted.positions, out.positions)
    assert "loss_weight" not in out.meta
    with pytest.raises(NNPDistillError, match="native_frames is 0"):
        translate_dataset(*args, str(tmp_path / "w0.h5"), native_weight=8.0)
    with pytest.raises(NNPDistillError, match="positive"):
        translate_dataset(*args, str(tmp_path / "w1.h5"), native_pool=str(tmp_path / "pool.h5"), n_native=2,
                          native_weight=0.0)
    assert not (tmp_path / "w0.h5").exists() and not (tmp_path / "w1.h5").exists()
    assert main(["translate", args[0], "--element", "Al", "--source-crystals", str(args[1]),
                 "--target-crystals", str(args[2]), "--out", str(tmp_path / "cliw.h5"),
                 "--native-pool", str(tmp_path / "pool.h5"), "--native-frames", "2", "--native-seed", "9",
                 "--native-weight", "8"]) == 0
    with FrameStore(tmp_path / "cliw.h5") as store:
        np.testing.assert_array_equal(store.read().meta["loss_weight"], weighted.meta["loss_weight"])
    # with cold crystals too (translate.crystal_strains): translated, native, then crystals, each weighted
    info = translate_dataset(*args, str(tmp_path / "both.h5"), native_pool=str(tmp_path / "pool.h5"),
                             n_native=2, native_seed=9, native_weight=8.0, crystal_strains=[0.0],
                             crystal_weight=3.0)
    assert info["n_frames"] == 4 + 2 + 4 and info["native_indices"] == again["native_indices"]
    with FrameStore(tmp_path / "both.h5") as store:
        assert store.meta("loss_weight").tolist() == [1.0] * 4 + [8.0] * 2 + [3.0] * 4
        assert store.meta("source_element").tolist() == ["Ni"] * 4 + ["Al"] * 2 + ["Ni"] * 4
        assert store.meta("crystal_structure").tolist()[:6] == ["none"] * 6
        np.testing.assert_array_equal(store.read(list(range(6))).energy, out.energy)


def test_cold_crystals_join_the_set_at_the_source_volumes_times_the_factor(tmp_path):
    """translate.crystal_strains: the source's FCC, BCC and HCP cells at its relaxed volume of each, every
    length times factor × (1 + strain), labelled by the target's EAM; perfect lattices carry no force, and
    the unstrained FCC frame of an fcc_lattice translation sits at the target's own FCC minimum (its
    crystal-table energy, zero pressure); the translated frames are the plain set's, byte for byte;
    weights and bad strains are handled as the native frames' are."""
    from nnpdistill.cli import main
    from nnpdistill.translate import CRYSTAL_FRAME_STRUCTURES

    write_frames(tmp_path / "ni.h5", _ni_frames(4, seed=3), {"element": "Ni"})
    NI.to_csv(tmp_path / "ni.csv", index=False)
    AL.to_csv(tmp_path / "al.csv", index=False)
    args = (str(tmp_path / "ni.h5"), tmp_path / "ni.csv", tmp_path / "al.csv", "Al")
    strains = [-0.02, 0.0, 0.03]
    plain = translate_dataset(*args, str(tmp_path / "plain.h5"))
    info = translate_dataset(*args, str(tmp_path / "cold.h5"), crystal_strains=strains)
    f = plain["scale_factor"]
    assert info["scale_factor"] == f and info["crystal_frames"] == 4 * len(strains) == 12
    assert info["n_frames"] == 4 + 12 and info["crystal_structures"] == list(CRYSTAL_FRAME_STRUCTURES)
    with FrameStore(tmp_path / "cold.h5") as store:
        kind = store.meta("crystal_structure")
        factors = store.meta("scale_factor")
        weights = store.meta("loss_weight")
        images = store.to_atoms()
        assert list(store.attrs["crystal_strains"]) == strains
    with FrameStore(tmp_path / "plain.h5") as store:
        one = store.read()
    assert list(kind) == ["none"] * 4 + [s for s in CRYSTAL_FRAME_STRUCTURES for _ in strains]
    # the default weight (0.05) gives the crystals a small loss weight; without crystals no weight at all
    assert info["crystal_weight"] == 0.05 and weights.tolist() == [1.0] * 4 + [0.05] * 12
    assert "loss_weight" not in one.meta and "crystal_weight" not in plain
    expected = [f] * 4 + [f * (1 + x) for _ in CRYSTAL_FRAME_STRUCTURES for x in strains]
    np.testing.assert_allclose(factors, expected, rtol=1e-15)
    for i in range(4):  # the translated frames are untouched
        np.testing.assert_array_equal(images[i].positions, one.positions[i])
        assert images[i].get_potential_energy() == one.energy[i]
    calc = EAMCalculator("Al")
    volumes = {"fcc": 10.8686, "bcc": 10.7591, "hcp": 10.8686, "hcp_ideal": 10.8686}  # NI has no hcp rows
    for k in range(4, 16):
        atoms = images[k]
        structure, x = kind[k], strains[(k - 4) % len(strains)]
        assert set(atoms.numbers) == {13}
        v_expected = volumes[structure] * (f * (1 + x)) ** 3
        assert atoms.get_volume() / len(atoms) == pytest.approx(v_expected, rel=1e-12)
        stored_e, stored_f = atoms.get_potential_energy(), atoms.get_forces()
        atoms.calc = calc
        assert atoms.get_potential_energy() == pytest.approx(stored_e, abs=1e-9)
        assert np.abs(stored_f).max() < 1e-10  # a perfect lattice: every atom a centre of symmetry
        if structure == "fcc" and x == 0.0:  # Ni's FCC volume times the FCC ratio: Al's FCC minimum
            assert stored_e / len(atoms) == pytest.approx(-3.411, abs=1e-3)
            assert abs(np.trace(atoms.get_stress(voigt=False)) / 3) < 1e-5  # eV/Å³, about 1 MPa
    # weights: translated frames 1, crystals the weight; the labels are the unweighted set's
    info = translate_dataset(*args, str(tmp_path / "w.h5"), crystal_strains=strains, crystal_weight=4.0)
    assert info["crystal_weight"] == 4.0 and "native_weight" not in info
    with FrameStore(tmp_path / "w.h5") as store:
        assert store.meta("loss_weight").tolist() == [1.0] * 4 + [4.0] * 12
        np.testing.assert_array_equal(store.meta("crystal_structure"), kind)
    for bad, match in (({"crystal_strains": [0.0, 0.0]}, "distinct linear strains"),
                       ({"crystal_strains": [0.25]}, "within ±0.2"),
                       ({"crystal_strains": strains, "crystal_weight": -1.0}, "positive")):
        with pytest.raises(NNPDistillError, match=match):
            translate_dataset(*args, str(tmp_path / "bad.h5"), **bad)
        assert not (tmp_path / "bad.h5").exists()
    assert main(["translate", args[0], "--element", "Al", "--source-crystals", str(args[1]),
                 "--target-crystals", str(args[2]), "--out", str(tmp_path / "cli.h5"),
                 "--crystal-strains", "-0.02", "0", "0.03", "--crystal-weight", "4"]) == 0
    with FrameStore(tmp_path / "cli.h5") as store, FrameStore(tmp_path / "w.h5") as ref:
        for a, b in zip(store.groups(), ref.groups(), strict=True):
            np.testing.assert_array_equal(a.energy, b.energy)
            np.testing.assert_array_equal(a.meta["loss_weight"], b.meta["loss_weight"])


def test_pressure_match_puts_the_frames_at_the_source_pressure(tmp_path):
    """The factor solves <P_target(s)> = <P_source>: check the labelled output against the source's
    own EAM stress, and that the 0 K rule's factor gives another pressure (the rule is not a no-op)."""
    frames = _ni_frames(6, seed=3)
    ni = EAMCalculator("Ni")
    labelled = []
    for atoms in frames.to_atoms():
        atoms.calc = ni
        labelled.append(atoms.get_stress(voigt=False))
    p_source = float(np.mean([-np.trace(s) / 3 for s in labelled]))
    src = tmp_path / "ni.h5"
    write_frames(src, _ni_frames(6, seed=3), {"element": "Ni"})  # unlabelled: refused below
    NI.to_csv(tmp_path / "ni.csv", index=False)
    NB.to_csv(tmp_path / "nb.csv", index=False)
    with pytest.raises(NNPDistillError, match="stress labels"):
        translate_dataset(str(src), tmp_path / "ni.csv", tmp_path / "nb.csv", "Nb",
                          str(tmp_path / "bad.h5"), rule="pressure_match")
    assert not (tmp_path / "bad.h5").exists()
    from dataclasses import replace
    write_frames(src, replace(frames, stress=np.array(labelled)), {"element": "Ni"})
    info = translate_dataset(str(src), tmp_path / "ni.csv", tmp_path / "nb.csv", "Nb",
                             str(tmp_path / "nb.h5"), rule="pressure_match")
    assert info["scale_rule"] == "pressure_match"
    assert info["matched_pressure_GPa"] == pytest.approx(p_source * 160.21766208)
    with FrameStore(tmp_path / "nb.h5") as store:
        out = store.read()
    p_out = float(np.mean(-np.trace(out.stress, axis1=1, axis2=2) / 3))
    assert p_out == pytest.approx(p_source, abs=1e-3 / 160.2)  # 1e-3 GPa tolerance of the search
    auto = scale_factor(NI, NB)[0]
    assert abs(info["scale_factor"] / auto - 1) > 1e-3
    frac_in = np.linalg.solve(frames.cell.transpose(0, 2, 1), frames.positions.transpose(0, 2, 1))
    frac_out = np.linalg.solve(out.cell.transpose(0, 2, 1), out.positions.transpose(0, 2, 1))
    np.testing.assert_allclose(frac_out, frac_in, atol=1e-12)
    with pytest.raises(NNPDistillError, match="needs the frames"):
        scale_factor(NI, NB, "pressure_match")


def test_cli_offers_every_scale_rule():
    """The CLI keeps its own list (it imports the science lazily): it must not drift from SCALE_RULES."""
    import argparse

    from nnpdistill.cli import build_parser
    from nnpdistill.translate import SCALE_RULES

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    rule = next(a for a in sub.choices["translate"]._actions if a.dest == "rule")
    assert tuple(rule.choices) == SCALE_RULES


def _crystals(path, nn, e):
    rows = [{"start_strain": 0.0, "structure": s, "nn_distance_A": nn[i], "energy_eV_per_atom": e[i]}
            for i, s in enumerate(("fcc", "bcc", "hcp_ideal"))]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _metrics(path, mae):
    pd.DataFrame([{"subset": "all", "value": "", "n_frames": 10, "mae_meV_per_atom": mae,
                   "rmse_meV_per_atom": 2 * mae}]).to_csv(path, index=False)
    return path


def test_transfer_table_ratios_crystal_errors_and_targets(tmp_path):
    """The transfer row's ratio, crystal errors (max over FCC, BCC, HCP c/a = √3) and energy order
    against the EAM; the FCC target is 1.2, any other 1.5; written whole, with a Markdown table."""
    from nnpdistill.transfer import COLUMNS, transfer_row, write_transfer_table

    src = tmp_path / "ni.h5"
    write_frames(src, _ni_frames(3), {"element": "Ni"})
    NI.to_csv(tmp_path / "ni.csv", index=False)
    AL.to_csv(tmp_path / "al.csv", index=False)
    translate_dataset(str(src), tmp_path / "ni.csv", tmp_path / "al.csv", "Al", str(tmp_path / "al.h5"),
                      multipliers=(0.98, 1.02))
    eam = _crystals(tmp_path / "eam.csv", (2.86, 2.80, 2.82), (-3.411, -3.309, -3.380))
    files = dict(
        translated_h5=tmp_path / "al.h5", eam_crystals=eam,
        translated_metrics=_metrics(tmp_path / "mt.csv", 1.3),
        control_metrics=_metrics(tmp_path / "mc.csv", 1.0),
        translated_crystals=_crystals(tmp_path / "t.csv", (2.865, 2.80, 2.82), (-3.411, -3.301, -3.380)),
        control_crystals=_crystals(tmp_path / "c.csv", (2.86, 2.80, 2.82), (-3.411, -3.390, -3.380)),
    )
    row = transfer_row("Al", pool="momt_108", **files)
    assert row["ground_state"] == "fcc" and row["mae_ratio_target"] == 1.2
    assert row["mae_ratio"] == pytest.approx(1.3) and not row["meets_mae_target"]
    assert row["max_nn_error_A"] == pytest.approx(0.005)
    assert row["max_energy_error_meV_per_atom"] == pytest.approx(8.0)
    assert row["order_right"] and row["meets_crystal_target"]
    assert row["n_frames"] == 6 and row["scale_multipliers"] == "0.98 1.02"
    assert not row["control_order_right"]  # its BCC fell below HCP and FCC
    table = write_transfer_table([row], tmp_path / "transfer.csv", tmp_path / "transfer.md", "Ni")
    assert list(pd.read_csv(tmp_path / "transfer.csv").columns) == list(COLUMNS) and len(table) == 1
    md = (tmp_path / "transfer.md").read_text()
    assert "| Al | fcc |" in md and "1.30 (≤ 1.2) ✗" in md and "0 of 1 met" in md
    assert row["crystal_frames"] == 0 and "| 6 |" in md
    # a set with native frames and cold crystals says what it holds
    from nnpdistill.transfer import transfer_markdown

    mixed = dict(row, n_frames=36, native_frames=10, native_weight=5.0, crystal_frames=20, crystal_weight=1.0)
    assert "| 6 + 10 native (weight 5) + 20 crystals |" in transfer_markdown(pd.DataFrame([mixed]), "Ni")


def test_transfer_diagnostics_split_density_phase_and_offset(tmp_path):
    """Solid (O/N > 0.5) and liquid MAE, the mean signed error, the MAE left after an offset fitted on
    10 frames (exact here: every error is the same offset plus nothing), and the translated frames'
    median atomic volume over the pool's."""
    from nnpdistill.transfer import transfer_diagnostics

    frames = _ni_frames(4)
    write_frames(tmp_path / "t.h5", frames, {"element": "Ni"})
    v_translated = np.median(np.abs(np.linalg.det(frames.cell)) / 32)
    n = 40
    order = np.where(np.arange(n) < 10, 100.0, 5.0)  # 10 solid frames of 108 atoms, 30 liquid
    true = np.linspace(-3.4, -3.2, n)
    offset = np.where(order > 54, 0.001, 0.003)  # eV/atom: 1 meV in the solid, 3 in the liquid

    def diagnose(off):
        table = {"n_atoms": 108, "energy_true_eV_per_atom": true, "energy_pred_eV_per_atom": true + off,
                 "order_parameter": order, "volume_A3": 108 * 2 * v_translated}
        pd.DataFrame(table).to_csv(tmp_path / "s.csv", index=False)
        return transfer_diagnostics(tmp_path / "s.csv", tmp_path / "t.h5")

    d = diagnose(offset)
    assert d["volume_ratio_translated_to_pool"] == pytest.approx(0.5)
    assert d["mae_solid_meV_per_atom"] == pytest.approx(1.0)
    assert d["mae_liquid_meV_per_atom"] == pytest.approx(3.0)
    assert d["mean_error_meV_per_atom"] == pytest.approx(2.5)
    assert d["mae_offset_fitted_meV_per_atom"] <= 2.0  # errors of 1 and 3 about any offset in [1, 3]
    assert diagnose(np.full(n, 0.002))["mae_offset_fitted_meV_per_atom"] == pytest.approx(0.0, abs=1e-9)
