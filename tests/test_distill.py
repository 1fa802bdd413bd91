"""The distillation steps: iterations add exactly their budget, never repeat, stop when converged,
and the exported dataset carries an auditable manifest."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from nnpdistill.distill import (
    export_distilled,
    initial_selection,
    learning_curve,
    read_selection,
    same_selection,
    select_iteration,
    subsample_pool,
    write_selection,
)
from nnpdistill.errors import NNPDistillError
from nnpdistill.frames import Frames, FrameStore, write_frames

CFG = {
    "n_per_iteration": 10,
    "score": "max",
    "grid_bins": [3, 3],
    "guard_bins": [4, 4],
    "guard_max_per_cell": None,
    "target_mae_meV_per_atom": None,
    "target_uq_eV": None,
}


def _scores(n=100, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "frame_index": np.arange(n),
            "energy_true_eV_per_atom": rng.normal(-4.5, 0.2, n),
            "abs_error_meV_per_atom": rng.random(n) * 5,
            "uq_max_eV": rng.random(n),
            "uq_mean_eV": rng.random(n),
            "order_parameter": rng.random(n) * 32,
            "volume_A3": rng.normal(350, 5, n),
        }
    )


@pytest.mark.parametrize("strategy", ["uncertainty", "random", "grid", "fps", "ceiling"])
def test_iterations_spend_budget_without_repeats_and_are_seeded(strategy):
    scores = _scores()
    runs = []
    for _ in range(2):
        sel = initial_selection(100, 10, seed=5)
        for it in (1, 2, 3):
            sel, _ = select_iteration(strategy, sel, scores, it, CFG, seed=it, n_pool=100)
        runs.append(sel)
    assert len(runs[0]) == 40 and runs[0]["frame_index"].is_unique
    assert runs[0]["iteration_added"].value_counts().sort_index().tolist() == [10, 10, 10, 10]
    pd.testing.assert_frame_equal(runs[0], runs[1])


def test_uncertainty_takes_the_most_uncertain():
    scores = _scores()
    sel = initial_selection(100, 10, seed=5)
    new, _ = select_iteration("uncertainty", sel, scores, 1, CFG, seed=0, n_pool=100)
    added = new.loc[new["iteration_added"] == 1, "frame_index"]
    rest = scores.drop(index=sel["frame_index"]).drop(index=added)
    assert scores.loc[added, "uq_max_eV"].min() >= rest["uq_max_eV"].max()


def test_ceiling_takes_the_largest_true_errors_of_the_current_ensemble():
    """The ceiling against a direct computation: the ensemble's energies of every pool frame, their
    errors against the labels, the largest among the unselected ones."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from test_nnp_md import _model
    from test_nnp_train import make_frames

    from nnpdistill.nnp.batch import evaluate
    from nnpdistill.nnp.predict import predict_pool

    pool = make_frames(60, 4, amp=(0.02, 0.2))
    model = _model()
    scores = predict_pool(model, pool, progress=False).scores
    sel = initial_selection(60, 10, seed=5)
    new, _ = select_iteration("ceiling", sel, scores, 1, CFG, seed=0, n_pool=60)
    added = set(new.loc[new["iteration_added"] == 1, "frame_index"])
    e = evaluate(model.to(torch.float64), pool["numbers"], pool["positions"], pool["cell"]).energy
    err = np.abs(e - pool["energy"]) / 32
    err[sel["frame_index"].to_numpy()] = -1.0
    assert added == set(np.argsort(-err)[:10].tolist())
    assert len(added) == 10 and not added & set(sel["frame_index"])


def test_converged_iteration_adds_nothing():
    scores = _scores()
    sel = initial_selection(100, 10, seed=5)
    cfg = dict(CFG, target_mae_meV_per_atom=100.0)
    new, reason = select_iteration("uncertainty", sel, scores, 1, cfg, seed=0, n_pool=100)
    assert len(new) == 10 and reason.startswith("converged")


def test_scores_must_cover_the_pool():
    scores = _scores().iloc[:-1]
    with pytest.raises(NNPDistillError, match="exactly once"):
        select_iteration("uncertainty", initial_selection(100, 10, 0), scores, 1, CFG, seed=0, n_pool=100)


def _pool(path, n=30):
    rng = np.random.default_rng(1)
    frames = Frames(
        numbers=np.full((n, 4), 28),
        positions=rng.random((n, 4, 3)) * 3.5,
        cell=np.tile(np.eye(3) * 3.5, (n, 1, 1)),
        energy=rng.normal(size=n),
        forces=rng.normal(size=(n, 4, 3)),
        energies=rng.normal(size=(n, 4)),
        stress=rng.normal(size=(n, 3, 3)),
        meta={"order_parameter": rng.random(n)},
    )
    write_frames(path, frames, {"element": "Ni", "potential": "x", "potential_sha256": "abc"})


def test_export_and_subsample(tmp_path):
    _pool(tmp_path / "pool.h5")
    sel = initial_selection(30, 6, seed=2)
    write_selection(sel, tmp_path / "sel.csv")
    assert same_selection(tmp_path / "sel.csv", tmp_path / "sel.csv")
    manifest = export_distilled(
        tmp_path / "sel.csv",
        tmp_path / "pool.h5",
        tmp_path / "d.h5",
        tmp_path / "d.extxyz",
        tmp_path / "m.json",
        strategy="random",
        iteration=0,
        seeds={"campaign_seed": 1},
    )
    assert json.loads((tmp_path / "m.json").read_text()) == manifest
    assert manifest["indices"] == sorted(sel["frame_index"].tolist()) and manifest["n_pool_frames"] == 30
    with FrameStore(tmp_path / "d.h5") as d, FrameStore(tmp_path / "pool.h5") as p:
        np.testing.assert_array_equal(d.read().positions, p.read(manifest["indices"]).positions)
        np.testing.assert_array_equal(d.read().energy, p.read(manifest["indices"]).energy)
    idx = subsample_pool(tmp_path / "pool.h5", tmp_path / "sub.h5", 7, seed=3)
    assert np.array_equal(idx, subsample_pool(tmp_path / "pool.h5", tmp_path / "sub2.h5", 7, seed=3))
    assert (tmp_path / "sub.h5").read_bytes() == (tmp_path / "sub2.h5").read_bytes()
    with pytest.raises(NNPDistillError, match="cannot draw"):
        subsample_pool(tmp_path / "pool.h5", tmp_path / "sub3.h5", 31, seed=3)


def test_learning_curve_collects_metrics(tmp_path):
    entries = {}
    for it in (0, 1):
        write_selection(initial_selection(100, 10 + 10 * it, seed=it), tmp_path / f"s{it}.csv")
        pd.DataFrame(
            {
                "subset": ["all"],
                "mae_meV_per_atom": [5.0 - it],
                "rmse_meV_per_atom": [6.0],
                "uq_mean_eV": [0.01],
                "spearman_uq_vs_atomic_error": [0.4],
            }
        ).to_csv(tmp_path / f"m{it}.csv")
        entries[f"uncertainty/{it}/selection"] = tmp_path / f"s{it}.csv"
        entries[f"uncertainty/{it}/momt_32"] = tmp_path / f"m{it}.csv"
    curve = learning_curve(entries, n_pool=100)
    assert curve["fraction_of_pool"].tolist() == [0.1, 0.2]
    assert curve["mae_meV_per_atom"].tolist() == [5.0, 4.0]
    assert read_selection(tmp_path / "s1.csv")["frame_index"].is_unique


def test_descriptor_selectors_find_a_rare_cluster_that_random_misses(tmp_path):
    """A pool of 200 slightly distorted FCC frames and 3 strongly disordered, expanded ones (the rare
    cluster, liquid-like): farthest-point sampling on the frames' pooled AEVs (fps_aev) picks one in its
    first batch of 10, and so do DIRECT sampling on the same descriptors and the
    uncertainty loop of an ensemble trained on FCC only; random's first batch (this seed) does not."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from test_nnp_train import SETTINGS, TRAIN, make_frames

    from nnpdistill.nnp.aev_cache import compute_pool_aevs, frame_descriptors
    from nnpdistill.nnp.predict import load_ensemble, predict_pool
    from nnpdistill.nnp.train import train_member

    fcc, hot = make_frames(200, 11), make_frames(3, 12, amp=(0.3, 0.4), strain=(0.05, 0.06))
    keys = ("numbers", "positions", "cell", "energy", "forces", "energies")
    pool = {k: np.concatenate([fcc[k], hot[k]]) for k in keys}
    write_frames(tmp_path / "pool.h5", Frames(**pool), {"element": "Ni"})
    rare = {200, 201, 202}
    compute_pool_aevs(tmp_path / "pool.h5", SETTINGS, tmp_path / "aev.h5")
    desc = frame_descriptors(tmp_path / "aev.h5")
    assert desc.shape == (203, 2 * (desc.shape[1] // 2))
    start = initial_selection(203, 10, seed=1)
    assert not rare & set(start["frame_index"])
    cfg = {**CFG, "n_per_iteration": 10}

    def first_batch(strategy, scores, descriptors=None):
        sel, _ = select_iteration(strategy, start, scores, 1, cfg, seed=1, n_pool=203,
                                  descriptors=descriptors)
        return set(sel.loc[sel["iteration_added"] == 1, "frame_index"])

    train_member({k: v[start["frame_index"].to_numpy()] for k, v in pool.items()}, SETTINGS,
                 TRAIN, seed=0, out_dir=tmp_path / "m0")
    train_member({k: v[start["frame_index"].to_numpy()] for k, v in pool.items()}, SETTINGS,
                 TRAIN, seed=1, out_dir=tmp_path / "m1")
    scores = predict_pool(load_ensemble([tmp_path / "m0/model.pt", tmp_path / "m1/model.pt"]),
                          tmp_path / "pool.h5", progress=False).scores
    assert rare & first_batch("fps_aev", scores, desc)
    assert rare & first_batch("direct", scores, desc)
    assert first_batch("direct", scores, desc) == first_batch("direct", scores, desc)  # seeded
    assert rare & first_batch("uncertainty", scores)
    assert rare & first_batch("uncertainty_diverse", scores, desc)
    assert rare <= first_batch("ceiling", scores)
    assert not rare & first_batch("random", scores)
    with pytest.raises(NNPDistillError, match="frame descriptors"):
        first_batch("fps_aev", scores)


def test_direct_takes_one_frame_per_cluster_nearest_its_centre():
    """Five well-separated blobs of 400, 200, 100, 20 and 5 frames: DIRECT's clustering step with a budget
    of five takes one frame from each (the smallest blob included, which random picks would likely miss),
    each the frame nearest its blob's centre; with one blob already represented, the next four picks
    cover the others. Its encoding (standardise, PCA by Kaiser's rule, weight by explained variance) does
    not depend on the units of the descriptors."""
    from nnpdistill.selection import direct_features, select_direct

    rng = np.random.default_rng(0)
    sizes = [400, 200, 100, 20, 5]
    centres = rng.normal(0, 10, size=(5, 3))
    x = np.concatenate([c + rng.normal(0, 0.3, size=(n, 3)) for c, n in zip(centres, sizes, strict=True)])
    blob = np.repeat(np.arange(5), sizes)
    picks = select_direct(x, [], 5, seed=3)
    assert sorted(blob[picks]) == [0, 1, 2, 3, 4]
    for i in picks:
        members = np.flatnonzero(blob == blob[i])
        assert i == members[np.argmin(np.linalg.norm(x[members] - x[members].mean(0), axis=1))]
    more = select_direct(x, [0], 4, seed=3)
    assert sorted(blob[more]) == [1, 2, 3, 4] and 0 not in more
    assert np.array_equal(select_direct(x, [0], 4, seed=3), more)
    # the encoding: units do not matter; components kept = eigenvalues of the correlation matrix > 1
    d = rng.normal(size=(300, 5)) @ rng.normal(size=(5, 5))
    f = direct_features(d)
    g = direct_features(d * np.array([1e3, 1.0, 1e-2, 5.0, 7.0]) + 3.0)
    assert np.allclose(np.abs(f), np.abs(g))
    eig = np.linalg.eigvalsh(np.corrcoef(d, rowvar=False))
    assert f.shape[1] == max(1, int((eig > 1.0).sum()))


def test_dataset_card_records_what_happened_with_checksums_and_transfer(tmp_path):
    """The card's budgets come from the manifest (what happened), its checksums are the files', the
    shipped potential's licence is named, and the transfer table rides along; JSON and Markdown."""
    import hashlib

    from nnpdistill.card import SHIPPED_LICENCE, dataset_card, potential_licence, write_dataset_card

    _pool(tmp_path / "pool.h5", n=100)
    sel = initial_selection(100, 10, seed=5)
    for it in (1, 2):
        sel, _ = select_iteration("random", sel, _scores(), it, CFG, seed=it, n_pool=100)
    write_selection(sel, tmp_path / "sel.csv")
    export_distilled(tmp_path / "sel.csv", tmp_path / "pool.h5", tmp_path / "d.h5", tmp_path / "d.extxyz",
                     tmp_path / "m.json", strategy="random", iteration=2, seeds={"campaign_seed": 7})
    pd.DataFrame([{"element": "Al", "ground_state": "fcc", "scale_rule": "fcc_lattice", "scale_factor": 1.15,
                   "scale_multipliers": "1", "n_frames": 30, "pool": "momt_108",
                   "pool_mae_translated_meV_per_atom": 1.2, "pool_mae_control_meV_per_atom": 1.0,
                   "mae_ratio": 1.2, "mae_ratio_target": 1.2, "max_nn_error_A": 0.01,
                   "max_energy_error_meV_per_atom": 9.0, "order_right": True, "control_max_nn_error_A": 0.0,
                   "control_max_energy_error_meV_per_atom": 1.0, "control_order_right": True,
                   "meets_mae_target": True, "meets_crystal_target": True}]).to_csv(tmp_path / "t.csv",
                                                                                     index=False)
    card = dataset_card(tmp_path / "m.json", tmp_path / "d.h5", tmp_path / "d.extxyz", tmp_path / "pool.h5",
                        distill_settings={"score": "max"}, nnp_settings={"n_members": 5},
                        transfer_csv=tmp_path / "t.csv")
    d = card["distilled"]
    assert (d["n_initial"], d["n_iterations"], d["n_per_iteration"]) == (10, 2, 10) and card["n_frames"] == 30
    assert d["campaign_seed"] == 7 and d["ensemble_members"] == 5
    for name in ("d.h5", "d.extxyz"):
        assert card["files"][name] == hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()
    assert card["transfer"][0]["element"] == "Al" and card["atoms_per_frame"] == {"4": 30}
    assert potential_licence("Ni_Nb_Zhang2016.eam.fs") == SHIPPED_LICENCE
    assert "user's own" in card["reference"]["licence"]  # the test pool names potential "x"
    write_dataset_card(card, tmp_path / "card.json", tmp_path / "card.md")
    assert json.loads((tmp_path / "card.json").read_text()) == json.loads(json.dumps(card))
    md = (tmp_path / "card.md").read_text()
    assert "10 initial frames + 2 × 10" in md and "| Al | fcc |" in md


def test_a_converged_iteration_copies_the_previous_members_bytes(tmp_path):
    """rule train_member (nnp.member.make_member): when the loop's selection did not change, the member
    is the previous iteration's, byte for byte, without training; a changed selection trains."""
    from nnpdistill.nnp.builder import NNPSettings
    from nnpdistill.nnp.member import make_member
    from nnpdistill.nnp.train import TrainSettings

    prev, here = tmp_path / "iter_1", tmp_path / "iter_2"
    (prev / "members" / "0").mkdir(parents=True)
    here.mkdir()
    (prev / "members" / "0" / "model.pt").write_bytes(b"weights of iteration 1")
    (prev / "members" / "0" / "learning_curve.csv").write_text("epoch,valid_rmse_meV_per_atom\n1,2.0\n")
    sel = initial_selection(30, 6, seed=2)
    write_selection(sel, prev / "selection.csv")
    write_selection(sel.iloc[::-1], here / "selection.csv")  # same frames, another order
    out = here / "members" / "0"
    args = (here / "train.h5", NNPSettings(element="Ni"), TrainSettings())
    assert make_member(*args, seed=1, out_dir=out, previous=prev, member="0") == "copied"
    for name in ("model.pt", "learning_curve.csv"):
        assert (out / name).read_bytes() == (prev / "members" / "0" / name).read_bytes()
    write_selection(initial_selection(30, 7, seed=2), here / "selection.csv")
    with pytest.raises(Exception, match="train.h5"):  # a changed selection trains (here: no file)
        make_member(*args, seed=1, out_dir=tmp_path / "new", previous=prev, member="0")


def test_select_cli_is_the_rules_step(tmp_path):
    """`nnpdistill select` and rule select_frames run one function (distill.select_step): iteration 0 is
    the seeded initial subset, iteration 1 adds the frames of largest frame score not yet chosen."""
    from nnpdistill.cli import main

    _pool(tmp_path / "pool.h5", n=30)
    scores = _scores(30, seed=4)
    scores.to_csv(tmp_path / "scores.csv", index=False)
    common = ["select", "--pool", str(tmp_path / "pool.h5"), "--seed", "3"]
    assert main([*common, "--out", str(tmp_path / "it0.csv"), "--n-initial", "6"]) == 0
    it0 = read_selection(tmp_path / "it0.csv")
    pd.testing.assert_frame_equal(it0, initial_selection(30, 6, 3))
    assert main([*common, "--out", str(tmp_path / "it1.csv"), "--previous", str(tmp_path / "it0.csv"),
                 "--scores", str(tmp_path / "scores.csv"), "--n-add", "5", "--iteration", "1"]) == 0
    it1 = read_selection(tmp_path / "it1.csv")
    added = set(it1["frame_index"]) - set(it0["frame_index"])
    rest = scores[~scores["frame_index"].isin(it0["frame_index"])]
    assert added == set(rest.nlargest(5, "uq_max_eV")["frame_index"])
    # --scores is needed after iteration 0: a clear error (exit 2), nothing written
    assert main([*common, "--out", str(tmp_path / "x.csv"), "--previous", str(tmp_path / "it0.csv")]) == 2
    assert not (tmp_path / "x.csv").exists()


def test_dataset_card_says_when_the_distilled_set_misses_the_pools_cold_frames(tmp_path):
    """The card's temperature coverage: a distilled set drawn from the hot part of a pool (as at seeds 2024
    and 2025 of the taste campaign) gets the share of the pool colder than its coldest frame and a warning;
    one drawn across the pool gets the figures and no warning; a pool without t_eff_K gets none."""
    from nnpdistill.card import card_markdown, dataset_card, temperature_coverage
    from nnpdistill.frames import FrameStore

    n = 100
    _pool(tmp_path / "plain.h5", n=n)
    with FrameStore(tmp_path / "plain.h5") as st:
        fr = st.read()
    fr.meta["t_eff_K"] = np.linspace(1000.0, 3000.0, n)  # frame k at 1000 + 20.2 k K
    write_frames(tmp_path / "pool.h5", fr, {"element": "Ni", "potential": "x", "potential_sha256": "abc"})
    for name, rows in (("hot", np.arange(40, 100, 2)), ("wide", np.arange(0, 100, 3))):
        write_selection(pd.DataFrame({"frame_index": rows, "iteration_added": 0}), tmp_path / f"{name}.csv")
        export_distilled(tmp_path / f"{name}.csv", tmp_path / "pool.h5", tmp_path / f"{name}.h5",
                         tmp_path / f"{name}.extxyz", tmp_path / f"{name}.json", strategy="random",
                         iteration=0, seeds={"campaign_seed": 1})
    hot = temperature_coverage(tmp_path / "pool.h5", tmp_path / "hot.h5")
    assert hot["pool_share_colder_than_distilled"] == pytest.approx(0.40)  # frames 0-39 lie below frame 40
    assert hot["distilled_t_eff_min_K"] == pytest.approx(1000.0 + 2000.0 * 40 / 99)
    assert hot["pool_t_eff_K_5_50_95"][1] == pytest.approx(2000.0) and "coldest 40 %" in hot["warning"]
    wide = temperature_coverage(tmp_path / "pool.h5", tmp_path / "wide.h5")
    assert wide["pool_share_colder_than_distilled"] == 0.0 and wide["warning"] is None
    assert temperature_coverage(tmp_path / "plain.h5", tmp_path / "hot.h5") is None
    card = dataset_card(tmp_path / "hot.json", tmp_path / "hot.h5", tmp_path / "hot.extxyz",
                        tmp_path / "pool.h5", distill_settings={}, nnp_settings={})
    assert card["temperature_coverage"] == hot
    md = card_markdown(card)
    assert "40.0 % of the pool is colder" in md and "**Warning**: the distilled set holds no frame" in md
