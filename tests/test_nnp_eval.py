"""NNP evaluation: batched periodic evaluation, invariances, derivatives, save/load, seeds, bad data."""

import numpy as np
import pytest
import torch
from ase.build import bulk

from nnpdistill.errors import DatasetError, NNPDistillError
from nnpdistill.nnp.batch import evaluate
from nnpdistill.nnp.builder import NNPModel, NNPSettings, build_model, combine_members
from nnpdistill.nnp.calculator import NNPCalculator
from nnpdistill.nnp.train import TrainSettings, train_member
from nnpdistill.units import HARTREE_EV

SETTINGS = NNPSettings(element="Ni", hidden_layers=(16, 8), self_energy_eV=-4.4)


@pytest.fixture(scope="module")
def model():
    m = build_model(SETTINGS, n_members=3, seed=7, dtype=torch.float64)
    # non-trivial standardisation so that it is exercised everywhere
    m.aev_mean.normal_(0.0, 0.1, generator=torch.Generator().manual_seed(1))
    return m


def _frame(rep, seed, a=3.52, rattle=0.08):
    at = bulk("Ni", "fcc", a=a, cubic=True).repeat(rep)
    at.rattle(rattle, seed=seed)
    return at


def test_batched_equals_per_frame_and_torchani(model):
    # cells of 4, 8 and 32 atoms: the 6 Å cutoff exceeds half the 3.5 Å cell
    frames = [_frame((1, 1, 1), 1), _frame((1, 1, 2), 2), _frame((2, 2, 2), 3)]
    for at in frames:  # one frame: torchani's own periodic evaluation is the reference
        r = evaluate(model, at.numbers[None], at.positions[None], at.cell[:][None])
        species = torch.tensor(at.numbers[None])
        coords = torch.tensor(at.positions[None])
        cell = torch.tensor(at.cell[:])
        aevs = model.aev_computer(species * 0, coords, cell, torch.tensor([True] * 3))[0]
        ref = model.atomic_energies_from_aevs(aevs).mean(0).sum().item()
        assert r.energy[0] == pytest.approx(ref, abs=1e-10)
    # batches of equal-size frames with different cells vs one frame at a time
    base = _frame((2, 2, 2), 0)
    pos, cel = [], []
    for k in range(5):
        at = base.copy()
        at.set_cell(at.cell[:] * (1 + 0.03 * k), scale_atoms=True)
        at.rattle(0.05, seed=k)
        pos.append(at.positions)
        cel.append(at.cell[:])
    pos, cel, num = np.array(pos), np.array(cel), np.full((5, 32), 28)
    batched = evaluate(model, num, pos, cel, forces=True, stress=True, batch_frames=4)
    for k in range(5):
        one = evaluate(model, num[k:k + 1], pos[k:k + 1], cel[k:k + 1], forces=True, stress=True)
        assert batched.energy[k] == pytest.approx(one.energy[0], abs=1e-10)
        np.testing.assert_allclose(batched.forces[k], one.forces[0], atol=1e-10)
        np.testing.assert_allclose(batched.stress[k], one.stress[0], atol=1e-12)
        np.testing.assert_allclose(batched.member_energies[:, k], one.member_energies[:, 0], atol=1e-10)
    assert np.ptp(batched.energy) > 1e-3  # frames really differ


def test_supercell_same_energy_per_atom(model):
    at = _frame((1, 1, 1), 5)
    big = at.repeat((2, 3, 2))
    e1 = evaluate(model, at.numbers[None], at.positions[None], at.cell[:][None]).energy[0] / len(at)
    e2 = evaluate(model, big.numbers[None], big.positions[None], big.cell[:][None]).energy[0] / len(big)
    assert e1 == pytest.approx(e2, abs=1e-10)


def test_forces_match_finite_differences(model):
    at = _frame((2, 2, 2), 9)
    r = evaluate(model, at.numbers[None], at.positions[None], at.cell[:][None], forces=True)
    h = 1e-5
    for atom, axis in [(0, 0), (5, 1), (17, 2)]:
        p = at.positions.copy()
        p[atom, axis] += h
        ep = evaluate(model, at.numbers[None], p[None], at.cell[:][None]).energy[0]
        p[atom, axis] -= 2 * h
        em = evaluate(model, at.numbers[None], p[None], at.cell[:][None]).energy[0]
        assert r.forces[0, atom, axis] == pytest.approx(-(ep - em) / (2 * h), abs=1e-6)
    assert np.abs(r.forces).max() > 1e-2
    np.testing.assert_allclose(r.forces[0].sum(0), 0.0, atol=1e-10)  # translation invariance


def test_stress_matches_strain_derivative(model):
    at = _frame((1, 1, 2), 4)
    at.set_cell(at.cell[:] @ np.array([[1, 0.03, 0], [0, 1, 0.02], [0, 0, 1]]), scale_atoms=True)
    r = evaluate(model, at.numbers[None], at.positions[None], at.cell[:][None], stress=True)
    vol, h = at.get_volume(), 1e-6
    for i, j in [(0, 0), (1, 2), (0, 1), (2, 2)]:
        es = []
        for sign in (1, -1):
            eps = np.zeros((3, 3))
            eps[i, j] = eps[j, i] = sign * h / (1 if i == j else 2)
            d = np.eye(3) + eps
            es.append(evaluate(model, at.numbers[None], (at.positions @ d)[None],
                               (at.cell[:] @ d)[None]).energy[0])
        numeric = (es[0] - es[1]) / (2 * h) / vol
        assert r.stress[0, i, j] == pytest.approx(numeric, abs=1e-7)
    assert np.abs(r.stress).max() > 1e-4


def test_ase_calculator_units_and_stress(model):
    at = _frame((2, 2, 2), 2)
    at.calc = NNPCalculator(model)
    e = at.get_potential_energy()
    r = evaluate(model, at.numbers[None], at.positions[None], at.cell[:][None])
    assert e == pytest.approx(r.energy[0], abs=1e-10)
    assert at.get_potential_energies().sum() == pytest.approx(e, abs=1e-9)
    # self-energy enters in eV: the networks add Hartree-sized offsets, so e/N is near -4.4 eV +- O(Ha)
    assert model.self_energy_hartree().item() * HARTREE_EV == pytest.approx(-4.4, abs=1e-12)
    s = at.get_stress(voigt=False)
    assert s.shape == (3, 3)


def test_save_load_exact_and_combine(model, tmp_path):
    model.save(tmp_path / "m.pt")
    back = NNPModel.load(tmp_path / "m.pt")
    at = _frame((2, 2, 2), 3)
    a = evaluate(model, at.numbers[None], at.positions[None], at.cell[:][None], forces=True)
    b = evaluate(back, at.numbers[None], at.positions[None], at.cell[:][None], forces=True)
    np.testing.assert_array_equal(a.member_energies, b.member_energies)
    np.testing.assert_array_equal(a.forces, b.forces)
    assert back.settings == model.settings
    singles = [build_model(SETTINGS, 1, seed=s, dtype=torch.float64) for s in (1, 2)]
    ens = combine_members(singles)
    e = evaluate(ens, at.numbers[None], at.positions[None], at.cell[:][None]).member_energies
    for k, s in enumerate(singles):
        np.testing.assert_array_equal(e[k], evaluate(s, at.numbers[None], at.positions[None],
                                                     at.cell[:][None]).member_energies[0])
    with pytest.raises(NNPDistillError, match="self_energy_eV"):
        combine_members([singles[0], build_model(SETTINGS.replace(self_energy_eV=-1.0), 1, seed=3,
                                                                  dtype=torch.float64)])


def test_same_seed_same_model_other_seed_differs():
    a = build_model(SETTINGS, 1, seed=11)
    b = build_model(SETTINGS, 1, seed=11)
    c = build_model(SETTINGS, 1, seed=12)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(va, vb), k
    pairs = zip(a.state_dict().values(), c.state_dict().values(), strict=True)
    assert not all(torch.equal(x, y) for x, y in pairs)


def _labelled(n=6, z=28):
    at = _frame((1, 1, 2), 0)
    return {"numbers": np.full((n, 8), z), "positions": np.repeat(at.positions[None], n, 0),
            "cell": np.repeat(at.cell[:][None], n, 0), "energy": np.linspace(-35, -34, n)}


def test_bad_datasets_raise_clear_errors():
    ts = TrainSettings(max_epochs=1)
    with pytest.raises(DatasetError, match="atomic numbers \\[13\\]"):
        train_member(_labelled(z=13), SETTINGS, ts)
    d = _labelled()
    d["energy"] = None
    with pytest.raises(DatasetError, match="no energy labels"):
        train_member(d, SETTINGS, ts)
    d = _labelled()
    d["energy"] = d["energy"].copy()
    d["energy"][2] = np.nan
    with pytest.raises(DatasetError, match="missing"):
        train_member(d, SETTINGS, ts)
    d = _labelled()
    d["cell"] = d["cell"][:3]
    with pytest.raises(DatasetError, match="cell shape"):
        train_member(d, SETTINGS, ts)
    d = _labelled()
    d["forces"] = np.zeros((6, 7, 3))
    with pytest.raises(DatasetError, match="forces shape"):
        train_member(d, SETTINGS, ts)
    with pytest.raises(DatasetError, match="no force labels"):
        train_member(_labelled(), SETTINGS, TrainSettings(max_epochs=1, force_weight=0.1))
    model = build_model(SETTINGS, 1)
    d = _labelled(z=13)
    with pytest.raises(DatasetError, match="model is for Ni"):
        evaluate(model, d["numbers"], d["positions"], d["cell"])
