"""Force committee (DP-GEN's model deviation): member forces are the members' own -dE/dr, the
deviation is the committee spread, it is rotation invariant, and the force_committee strategy takes
exactly the frames with the largest one."""

import numpy as np
import pandas as pd
import pytest
import torch
from ase.build import bulk

from nnpdistill.distill import select_iteration
from nnpdistill.errors import NNPDistillError
from nnpdistill.nnp.batch import evaluate
from nnpdistill.nnp.builder import NNPSettings, build_model, combine_members
from nnpdistill.nnp.force_committee import (
    FORCE_SCORE_COLUMNS,
    force_deviation,
    frame_force_scores,
    member_forces,
)
from nnpdistill.nnp.predict import SCORE_COLUMNS, predict_pool
from nnpdistill.selection import FORCE_STRATEGIES, MODEL_STRATEGIES

SETTINGS = NNPSettings(element="Ni", hidden_layers=(16, 8), self_energy_eV=-4.4)


@pytest.fixture(scope="module")
def model():
    return build_model(SETTINGS, n_members=3, seed=11, dtype=torch.float64)


def _frames(n, seed, rep=(2, 2, 2)):
    base = bulk("Ni", "fcc", a=3.52, cubic=True).repeat(rep)
    pos, cel = [], []
    for k in range(n):
        at = base.copy()
        at.set_cell(at.cell[:] * (1 + 0.02 * k), scale_atoms=True)
        at.rattle(0.1, seed=seed + k)
        pos.append(at.positions)
        cel.append(at.cell[:])
    return np.array(pos), np.array(cel)


def test_deviation_formula():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(4, 3, 5, 3))
    by_hand = np.sqrt(np.mean([np.sum((f[k] - f.mean(0)) ** 2, axis=-1) for k in range(4)], axis=0))
    np.testing.assert_allclose(force_deviation(f), by_hand, rtol=1e-14)
    # a force common to every member (e.g. a shared error) is not a disagreement
    np.testing.assert_allclose(force_deviation(f + rng.normal(size=(1, 3, 5, 3))), by_hand, rtol=1e-12)
    # two members +-d: the deviation is |d|
    d = rng.normal(size=(2, 5, 3))
    np.testing.assert_allclose(force_deviation(np.stack([d, -d])), np.linalg.norm(d, axis=-1), rtol=1e-14)
    assert not force_deviation(f[:1]).any()


def test_member_forces_are_each_members_gradient(model):
    pos, cel = _frames(2, seed=3)
    forces = member_forces(model, pos, cel, batch_frames=1)
    assert forces.shape == (3, 2, 32, 3)
    # the committee mean is the ensemble's force (batch.evaluate, one backward pass of the mean)
    mean = evaluate(model, np.full((2, 32), 28), pos, cel, forces=True).forces
    np.testing.assert_allclose(forces.mean(0), mean, atol=1e-10)
    # each member's force is minus its own energy's central finite difference
    h = 1e-5
    for atom, axis in ((0, 0), (17, 2)):
        plus, minus = pos[:1].copy(), pos[:1].copy()
        plus[0, atom, axis] += h
        minus[0, atom, axis] -= h
        ep = evaluate(model, np.full((1, 32), 28), plus, cel[:1]).member_energies.sum(-1)[:, 0]
        em = evaluate(model, np.full((1, 32), 28), minus, cel[:1]).member_energies.sum(-1)[:, 0]
        np.testing.assert_allclose(forces[:, 0, atom, axis], -(ep - em) / (2 * h), atol=1e-7)
    # the members really disagree (else the test would pass on copies of one member)
    assert force_deviation(forces).min() > 1e-4


def test_deviation_is_rotation_invariant(model):
    pos, cel = _frames(1, seed=5)
    q, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(3, 3)))
    a = frame_force_scores(model, pos, cel)
    b = frame_force_scores(model, pos @ q.T, cel @ q.T)
    for col in FORCE_SCORE_COLUMNS:
        np.testing.assert_allclose(a[col], b[col], rtol=1e-9)
    # and the forces themselves rotate with the frame
    np.testing.assert_allclose(member_forces(model, pos @ q.T, cel @ q.T),
                               member_forces(model, pos, cel) @ q.T, atol=1e-10)


def test_predict_pool_adds_the_columns_only_when_asked(model):
    pos, cel = _frames(5, seed=7)
    pool = {"numbers": np.full((5, 32), 28), "positions": pos, "cell": cel,
            "energy": np.linspace(-140.0, -139.0, 5)}
    plain = predict_pool(model, pool, progress=False)
    assert list(plain.scores.columns[:len(SCORE_COLUMNS)]) == list(SCORE_COLUMNS)
    assert not set(FORCE_SCORE_COLUMNS) & set(plain.scores.columns)
    with_forces = predict_pool(model, pool, progress=False, forces=True)
    pd.testing.assert_frame_equal(with_forces.scores.drop(columns=list(FORCE_SCORE_COLUMNS)), plain.scores)
    direct = frame_force_scores(model, pos, cel)
    for col in FORCE_SCORE_COLUMNS:
        np.testing.assert_allclose(with_forces.scores[col], direct[col], rtol=1e-12)
    assert (with_forces.scores[FORCE_SCORE_COLUMNS[0]] >= with_forces.scores[FORCE_SCORE_COLUMNS[1]]).all()


def test_force_committee_takes_the_largest_deviations():
    assert "force_committee" in FORCE_STRATEGIES and "force_committee" in MODEL_STRATEGIES
    rng = np.random.default_rng(4)
    n = 200
    scores = pd.DataFrame({
        "frame_index": np.arange(n),
        "energy_true_eV_per_atom": rng.normal(size=n),
        "abs_error_meV_per_atom": rng.random(n),
        "uq_max_eV": rng.random(n),
        "uq_mean_eV": rng.random(n),
        "uq_force_max_eV_per_A": rng.random(n),
    })
    previous = pd.DataFrame({"frame_index": np.arange(0, 200, 10), "iteration_added": 0})
    cfg = {"n_per_iteration": 15}
    out, _ = select_iteration("force_committee", previous, scores, 1, cfg, seed=0, n_pool=n)
    new = out.loc[out["iteration_added"] == 1, "frame_index"].to_numpy()
    free = scores.loc[~scores["frame_index"].isin(previous["frame_index"])]
    expected = np.sort(free.nlargest(15, "uq_force_max_eV_per_A")["frame_index"].to_numpy())
    np.testing.assert_array_equal(np.sort(new), expected)
    assert len(set(new) & set(previous["frame_index"])) == 0
    # not the energy spread's pick, not the true error's: it reads its own column
    for other in ("uq_max_eV", "abs_error_meV_per_atom"):
        assert set(expected) != set(np.sort(free.nlargest(15, other)["frame_index"]))
    # scores without the force column are refused by name
    with pytest.raises(NNPDistillError, match="uq_force_max_eV_per_A"):
        select_iteration("force_committee", previous, scores.drop(columns="uq_force_max_eV_per_A"), 1, cfg,
                         seed=0, n_pool=n)


def test_predict_cli_forces_writes_the_force_scores_and_their_correlation(model, tmp_path):
    """`nnpdistill predict --forces`: the scores gain the two force columns (equal to the stage function's)
    and the metrics the Spearman correlation of the force deviation with the frames' energy errors; on a
    pool with total energies only (no per-atom labels, as DFT gives) the uncertainty plot says so instead
    of failing."""
    from nnpdistill.cli import main
    from nnpdistill.frames import Frames, write_frames
    from nnpdistill.nnp.builder import NNPModel

    members = []
    for k in range(3):
        path = tmp_path / f"m{k}.pt"
        build_model(SETTINGS, n_members=1, seed=20 + k, dtype=torch.float64).save(path)
        members.append(str(path))
    pos, cel = _frames(6, seed=9)
    pool = Frames(numbers=np.full((6, 32), 28), positions=pos, cell=cel,
                  energy=np.linspace(-141.0, -139.0, 6), meta={"order_parameter": np.linspace(0.0, 30.0, 6)})
    write_frames(tmp_path / "pool.h5", pool, {"element": "Ni"})
    assert main(["predict", str(tmp_path / "pool.h5"), "--members", *members, "--scores",
                 str(tmp_path / "scores.csv"), "--forces", "--quiet"]) == 0
    scores = pd.read_csv(tmp_path / "scores.csv")
    ensemble = combine_members([NNPModel.load(p) for p in members])
    direct = frame_force_scores(ensemble, pos, cel)
    for col in FORCE_SCORE_COLUMNS:
        np.testing.assert_allclose(scores[col], direct[col], rtol=1e-6)
    metrics = pd.read_csv(tmp_path / "metrics.csv")
    assert np.isfinite(metrics.loc[0, "spearman_force_uq_vs_frame_error"])
