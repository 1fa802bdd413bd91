"""Training a small ensemble on labelled Ni frames: accuracy on held-out frames, member diversity,
uncertainty larger away from the training data, determinism, pool prediction and metrics.

Labels come from the package's EAM engine (Zhang 2016 Ni), per-atom energies included.
"""

import numpy as np
import pandas as pd
import pytest
import torch
from ase.build import bulk

from nnpdistill.nnp.builder import NNPSettings
from nnpdistill.nnp.metrics import energy_metrics, uncertainty_error_correlation
from nnpdistill.nnp.predict import load_ensemble, predict_pool, read_prediction, write_prediction
from nnpdistill.nnp.train import TrainSettings, split_indices, train_member
from nnpdistill.potentials import EAMCalculator

SETTINGS = NNPSettings(element="Ni", hidden_layers=(32, 24))
TRAIN = TrainSettings(train_fraction=0.5, max_epochs=150, batch_frames=8, lr=3e-3, early_stop_patience=30,
                      progress_every=0)


def make_frames(n, seed, structure="fcc", amp=(0.03, 0.10), strain=(-0.03, 0.03)):
    rng = np.random.default_rng(seed)
    if structure == "fcc":
        base = bulk("Ni", "fcc", a=3.52, cubic=True).repeat((2, 2, 2))
    else:  # bcc at the same volume per atom: unlike the training data
        base = bulk("Ni", "bcc", a=(2 * 3.52**3 / 4) ** (1 / 3), cubic=True).repeat((2, 2, 2))
    calc = EAMCalculator("Ni")
    out = {k: [] for k in ("numbers", "positions", "cell", "energy", "forces", "energies")}
    for _ in range(n):
        at = base.copy()
        at.set_cell(at.cell[:] * (1 + rng.uniform(*strain)), scale_atoms=True)
        at.positions += rng.normal(0, rng.uniform(*amp), at.positions.shape)
        at.calc = calc
        out["numbers"].append(at.numbers)
        out["positions"].append(at.positions)
        out["cell"].append(at.cell[:])
        out["energy"].append(at.get_potential_energy())
        out["forces"].append(at.get_forces())
        out["energies"].append(at.get_potential_energies())
    d = {k: np.array(v) for k, v in out.items()}
    d["meta"] = {"order_parameter": rng.uniform(0, 1, n)}
    return d


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    torch.set_num_threads(1)
    data = make_frames(100, 0)
    out = tmp_path_factory.mktemp("ens")
    results = [train_member(data, SETTINGS, TRAIN, seed=s, out_dir=out / f"m{s}") for s in range(3)]
    return data, out, results


def test_split_is_seeded():
    a, b = split_indices(50, 0.2, 3)
    assert len(a) == 10 and len(b) == 40 and not set(a) & set(b)
    np.testing.assert_array_equal(a, split_indices(50, 0.2, 3)[0])
    assert not np.array_equal(a, split_indices(50, 0.2, 4)[0])


def test_ensemble_accuracy_diversity_and_uncertainty(trained, tmp_path):
    data, out, results = trained
    model = load_ensemble([out / f"m{s}" / "model.pt" for s in range(3)])
    held_out = make_frames(40, 1)
    pred = predict_pool(model, held_out, progress=False)
    mae = pred.scores["abs_error_meV_per_atom"].mean()
    spread = 1000 * np.std(held_out["energy"] / 32)
    assert mae < 5.0, f"held-out MAE {mae:.2f} meV/atom (label spread {spread:.1f})"
    # members differ: different weights and splits give different per-atom energies
    assert pred.uq_eV.mean() > 1e-5
    assert len({tuple(r.train_index) for r in results}) == 3
    # unlike frames (BCC) are more uncertain than frames like the training data
    unlike = predict_pool(model, make_frames(20, 2, structure="bcc"), progress=False)
    assert unlike.scores["uq_mean_eV"].mean() > 2 * pred.scores["uq_mean_eV"].mean()
    # learning curve and files
    curve = pd.read_csv(out / "m0" / "learning_curve.csv")
    assert {"epoch", "valid_rmse_meV_per_atom", "lr"} <= set(curve.columns)
    assert curve["valid_rmse_meV_per_atom"].min() < curve["valid_rmse_meV_per_atom"].iloc[0]
    # writing and reading scores; metrics
    write_prediction(pred, tmp_path / "s.csv", tmp_path / "a.npz")
    back = read_prediction(tmp_path / "s.csv", tmp_path / "a.npz")
    assert list(back.scores.columns[:8]) == ["frame_index", "n_atoms", "energy_true_eV_per_atom",
                                             "energy_pred_eV_per_atom", "abs_error_meV_per_atom",
                                             "energy_std_eV_per_atom", "uq_max_eV", "uq_mean_eV"]
    assert "order_parameter" in back.scores
    np.testing.assert_allclose(back.uq_eV, pred.uq_eV)
    m = energy_metrics(back.scores, order_bins=4)
    assert m.loc[0, "mae_meV_per_atom"] == pytest.approx(mae, rel=1e-6)
    assert (m["subset"] == "order_parameter_bin").sum() == 4
    corr = uncertainty_error_correlation(pred.uq_eV, pred.energy_pred_eV, pred.energy_true_eV)
    assert np.isfinite(corr["spearman_rho"])


def test_training_is_deterministic_and_cache_matches_uncached():
    data = make_frames(16, 5)
    ts = TrainSettings(train_fraction=0.5, max_epochs=3, batch_frames=4, progress_every=0)
    a = train_member(data, SETTINGS, ts, seed=3)
    b = train_member(data, SETTINGS, ts, seed=3)
    c = train_member(data, SETTINGS, TrainSettings(**{**ts.__dict__, "cache_aevs": False}), seed=3)
    for x, y, z in zip(a.model.state_dict().values(), b.model.state_dict().values(),
                       c.model.state_dict().values(), strict=True):
        assert torch.equal(x, y)
        torch.testing.assert_close(x, z, rtol=1e-4, atol=1e-5)
    curve_a = [h["valid_rmse_meV_per_atom"] for h in a.history]
    assert curve_a == [h["valid_rmse_meV_per_atom"] for h in b.history]


def test_force_training_runs_and_reduces_force_error():
    data = make_frames(12, 6)
    ts = TrainSettings(train_fraction=0.5, max_epochs=8, batch_frames=3, force_weight=0.1, progress_every=0,
                       early_stop_patience=100)
    r = train_member(data, SETTINGS, ts, seed=1)
    f = [h["valid_force_rmse_eV_per_A"] for h in r.history]
    assert np.all(np.isfinite(f)) and min(f) < f[0]


def test_loss_weights_pull_the_fit_towards_the_weighted_frames():
    """Frames with a loss_weight count that many times in the energy loss: four frames whose labels sit
    30 meV/atom above the EAM's (standing in for a target's own frames among translated ones) are fitted
    closer when they weigh 30 than when they weigh 1; weights of 1 give the same numbers as no weights;
    a zero or NaN weight is refused by name."""
    from nnpdistill.errors import DatasetError

    base, odd = make_frames(40, 11), make_frames(4, 12, strain=(0.04, 0.06))
    odd["energy"] = odd["energy"] + 0.030 * 32
    keys = ("numbers", "positions", "cell", "energy", "forces")
    data = {k: np.concatenate([base[k], odd[k]]) for k in keys}
    ts = TrainSettings(train_fraction=0.5, max_epochs=60, batch_frames=8, lr=3e-3, early_stop_patience=100,
                       progress_every=0)

    def fit(weight):
        meta = {} if weight is None else {"loss_weight": np.r_[np.ones(40), np.full(4, float(weight))]}
        r = train_member({**data, "meta": meta}, SETTINGS, ts, seed=2, valid_source=make_frames(4, 13))
        pred = predict_pool(r.model, {**odd, "meta": {}}, progress=False)
        return r, float(pred.scores["abs_error_meV_per_atom"].mean())

    plain, err_plain = fit(None)
    ones, err_ones = fit(1.0)
    heavy, err_heavy = fit(30.0)
    for x, y in zip(plain.model.state_dict().values(), ones.model.state_dict().values(), strict=True):
        assert torch.equal(x, y)
    print(f"odd frames: {err_plain:.1f} meV/atom unweighted, {err_heavy:.1f} at weight 30")
    assert err_heavy < 0.5 * err_plain, (err_plain, err_heavy)
    for bad in (0.0, np.nan):
        with pytest.raises(DatasetError, match="loss_weight"):
            train_member({**data, "meta": {"loss_weight": np.r_[np.ones(43), bad]}}, SETTINGS, ts, seed=2)


def test_batches_mix_frame_sizes_on_the_energy_path(tmp_path, monkeypatch):
    """With cached descriptors and an energy-only loss a batch holds frames of every size, so a size that
    few frames have (cold crystals, native frames) does not make batches of its own that pull the whole
    network towards it (translated Pd with 20 cold crystals at weight 0.05: pool MAE 2.06 meV/atom with
    batches per size, 0.42 mixed); the force path keeps one size per batch; a set of one size keeps the
    per-size batches, so its trained bytes are unchanged."""
    import dataclasses

    from nnpdistill.frames import Frames, write_frames
    from nnpdistill.nnp import train as tr

    seen = []
    batches = tr._batches

    def spy(positions, batch, gen, flat, by_group):
        out = batches(positions, batch, gen, flat, by_group)
        seen.append((by_group, [len(set(flat.group_of[b].tolist())) for b in out]))
        return out

    monkeypatch.setattr(tr, "_batches", spy)
    fcc, bcc = make_frames(24, 1), make_frames(8, 2, structure="bcc")
    h5 = tmp_path / "two_sizes.h5"
    write_frames(h5, [Frames(**fcc), Frames(**bcc)], {"element": "Ni"})
    ts = TrainSettings(train_fraction=0.75, max_epochs=3, batch_frames=8, progress_every=0)
    train_member(str(h5), SETTINGS, ts, seed=0)
    assert not any(by_group for by_group, _ in seen)
    assert max(max(n) for _, n in seen) == 2  # some batch holds both sizes
    seen.clear()
    train_member(str(h5), SETTINGS, dataclasses.replace(ts, force_weight=0.1), seed=0)
    assert all(by_group and max(n) == 1 for by_group, n in seen)
    seen.clear()
    train_member(fcc, SETTINGS, ts, seed=0)
    assert seen and all(by_group for by_group, _ in seen)


def test_calibration_curve_bins_by_uncertainty_and_measures_errors():
    """Errors drawn as N(0, spread): per bin the RMS error equals the mean spread (calibrated) and the MAE
    is sqrt(2/pi) of it; an uncertainty unrelated to the error gives flat bins."""
    from nnpdistill.nnp.metrics import calibration_curve

    rng = np.random.default_rng(0)
    uq = rng.uniform(0.001, 0.02, 200_000)  # eV
    true = rng.normal(0, 1, uq.size)
    pred = true + rng.normal(0, 1, uq.size) * uq
    c = calibration_curve(uq, pred, true, n_bins=8)
    assert list(c["n_atoms"]) == [25_000] * 8
    assert (np.diff(c["uq_mean_meV"]) > 0).all() and (c["uq_lo_meV"] <= c["uq_mean_meV"]).all()
    rel = np.sqrt((c["rmse_meV"] ** 2) / (c["uq_mean_meV"] ** 2))
    assert np.allclose(rel, 1.0, atol=0.06)  # rms error ~ mean spread (the first, widest bin: +5 %)
    # Gaussian errors: MAE = sqrt(2/pi) RMS (a bin mixes spreads, which lowers it a little: widest bin -5 %)
    assert np.allclose(c["mae_meV"] / c["rmse_meV"], np.sqrt(2 / np.pi), atol=0.045)
    flat = calibration_curve(rng.permutation(uq), pred, true, n_bins=8)
    assert flat["rmse_meV"].max() / flat["rmse_meV"].min() < 1.1
    assert calibration_curve(uq[:5], pred[:5], true[:5], n_bins=8).empty


def test_predict_cli_with_only_required_arguments_writes_what_the_workflow_writes(trained, tmp_path):
    """One front door: `nnpdistill predict POOL --members ... --scores` writes the workflow's outputs
    beside the scores (per-atom values, metrics, parity and uncertainty plots), the same bytes as the
    stage function the rule calls, and metrics that agree with the scores they summarise."""
    from nnpdistill.cli import main
    from nnpdistill.frames import Frames, write_frames
    from nnpdistill.nnp.predict import score_pool

    _, out, _ = trained
    pool = write_frames(tmp_path / "pool.h5", Frames(**make_frames(12, 5)), {"element": "Ni"})
    members = [str(out / f"m{s}" / "model.pt") for s in range(3)]
    cli = tmp_path / "cli"
    cli.mkdir()
    assert main(["predict", str(pool), "--members", *members, "--scores", str(cli / "scores.csv"),
                 "--quiet"]) == 0
    for name in ("scores.csv", "atomic.npz", "metrics.csv", "parity.png", "uq_vs_error.png"):
        assert (cli / name).stat().st_size > 0, name
    stage = tmp_path / "stage"
    stage.mkdir()
    score_pool(members, pool, stage / "scores.csv", stage / "atomic.npz", metrics=stage / "metrics.csv")
    for name in ("scores.csv", "metrics.csv"):
        assert (cli / name).read_bytes() == (stage / name).read_bytes(), name
    scores, metrics = pd.read_csv(cli / "scores.csv"), pd.read_csv(cli / "metrics.csv")
    mae = scores["abs_error_meV_per_atom"].mean()
    assert metrics.loc[0, "mae_meV_per_atom"] == pytest.approx(mae, rel=1e-5)
    assert metrics["spearman_uq_vs_atomic_error"].between(-1, 1).all()
    # --no-metrics: scores and per-atom values only
    bare = tmp_path / "bare"
    bare.mkdir()
    assert main(["predict", str(pool), "--members", *members, "--scores", str(bare / "s.csv"), "--quiet",
                 "--no-metrics"]) == 0
    assert sorted(p.name for p in bare.iterdir()) == ["atomic.npz", "s.csv"]
