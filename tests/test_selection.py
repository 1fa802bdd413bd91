"""Selection strategies: no repeats, exact budgets, determinism, and each does what it says."""

import numpy as np
import pytest

from nnpdistill.errors import NNPDistillError
from nnpdistill.selection import (
    grid_cells,
    initial_random,
    select_ceiling,
    select_fps,
    select_grid,
    select_random,
    select_uncertainty,
)


def test_initial_random_is_seeded_and_unique():
    a = initial_random(1000, 50, seed=3)
    assert np.array_equal(a, initial_random(1000, 50, seed=3))
    assert not np.array_equal(a, initial_random(1000, 50, seed=4))
    assert np.unique(a).size == 50
    with pytest.raises(NNPDistillError):
        initial_random(10, 11, seed=0)


@pytest.mark.parametrize("strategy", ["random", "grid", "uncertainty", "fps", "ceiling"])
def test_iterated_selection_never_repeats_and_spends_budget(strategy):
    rng = np.random.default_rng(0)
    n = 400
    energy, order, scores = rng.normal(size=n), rng.uniform(0, 32, n), rng.random(n)
    features = rng.normal(size=(n, 4))
    cells = grid_cells(energy, order, 4, 4)
    selected = initial_random(n, 20, seed=1)
    for it in range(5):
        if strategy == "random":
            new = select_random(n, selected, 30, seed=it)
        elif strategy == "grid":
            new = select_grid(cells, selected, 30, seed=it)
        elif strategy == "uncertainty":
            new = select_uncertainty(scores, selected, 30, cells=cells, max_per_cell=3)
        elif strategy == "ceiling":
            new = select_ceiling(scores, selected, 30)
        else:
            new = select_fps(features, selected, 30, seed=it)
        assert new.size == 30
        assert np.intersect1d(new, selected).size == 0
        assert np.unique(new).size == new.size
        selected = np.concatenate([selected, new])
    assert selected.size == 20 + 5 * 30


def test_uncertainty_picks_top_scores_and_guard_spreads():
    scores = np.array([0.1, 0.9, 0.8, 0.7, 0.2, 0.95])
    assert select_uncertainty(scores, [5], 2).tolist() == [1, 2]
    cells = np.array([0, 1, 1, 1, 2, 3])
    # frames 1, 2, 3 share a cell: the guard allows one of them, then the best of the rest
    assert select_uncertainty(scores, [5], 2, cells=cells, max_per_cell=1).tolist() == [1, 4]


def test_power_acquisition_draws_in_proportion_to_score_power():
    """One draw picks frame i with probability w_i / sum(w), w = score ** beta (checked within 4 sigma
    over 4,000 seeds); large beta becomes top-k, beta 0 is uniform; seeded and never repeats."""
    scores = np.array([0.1, 0.2, 0.3, 0.4])
    for beta in (1.0, 2.0):
        w = scores**beta / np.sum(scores**beta)
        counts = np.zeros(4)
        n = 4000
        for seed in range(n):
            counts[select_uncertainty(scores, [], 1, acquisition="power", power_beta=beta, seed=seed)] += 1
        sigma = np.sqrt(n * w * (1 - w))
        assert np.all(np.abs(counts - n * w) < 4 * sigma), (beta, counts, n * w)
    assert select_uncertainty(scores, [], 2, acquisition="power", power_beta=200.0, seed=3).tolist() == [2, 3]
    flat = np.zeros(4)
    for seed in range(2000):
        flat[select_uncertainty(scores, [], 1, acquisition="power", power_beta=0.0, seed=seed)] += 1
    assert np.all(np.abs(flat - 500) < 4 * np.sqrt(2000 * 0.25 * 0.75))
    rng = np.random.default_rng(0)
    big = rng.random(500)
    a = select_uncertainty(big, [0, 1, 2], 50, acquisition="power", seed=7)
    assert np.array_equal(a, select_uncertainty(big, [0, 1, 2], 50, acquisition="power", seed=7))
    assert a.size == 50 and np.unique(a).size == 50 and not set(a.tolist()) & {0, 1, 2}
    with pytest.raises(NNPDistillError, match="seed"):
        select_uncertainty(big, [], 5, acquisition="power")
    with pytest.raises(NNPDistillError, match="acquisition"):
        select_uncertainty(big, [], 5, acquisition="softmax", seed=1)


def test_grid_is_equal_per_cell():
    cells = np.repeat(np.arange(5), [100, 50, 20, 10, 4])
    picks = select_grid(cells, [], 20, seed=0)
    assert np.bincount(cells[picks], minlength=5).tolist() == [4, 4, 4, 4, 4]
    picks = select_grid(cells, [], 30, seed=0)  # the 4-frame cell runs out; the rest spread evenly
    counts = np.bincount(cells[picks], minlength=5)
    assert counts[4] == 4 and counts.sum() == 30 and counts[:4].max() - counts[:4].min() <= 1
    assert np.array_equal(select_grid(cells, [], 30, seed=0), picks)


def test_fps_picks_farthest():
    x = np.array([[0.0], [1.0], [10.0], [5.0]])
    assert select_fps(x, [0], 1, seed=0).tolist() == [2]
    assert select_fps(x, [0, 2], 1, seed=0).tolist() == [3]


def test_bad_inputs():
    with pytest.raises(NNPDistillError, match="repeat"):
        select_random(10, [1, 1], 2, seed=0)
    with pytest.raises(NNPDistillError, match="out of range"):
        select_random(10, [10], 2, seed=0)
    with pytest.raises(NNPDistillError, match="NaN"):
        select_uncertainty(np.array([np.nan, 1.0]), [], 1)


def test_diverse_uncertainty_spreads_a_batch_that_top_k_piles_onto_one_spot():
    """25 near-copies of one configuration with the highest scores and a distinct group of 10 slightly
    less uncertain frames: top-k spends a batch of 10 on the copies; batch-diverse acquisition (40
    candidates clustered into 10 groups) takes frames of the other group too, each the most uncertain
    of its group; seeded, exact budget, disjoint from the selection; candidates = 1 is plain top-k."""
    from nnpdistill.selection import select_diverse_uncertainty

    rng = np.random.default_rng(4)
    copies = rng.normal([0.0, 0.0], 0.01, (25, 2))
    other = rng.normal([5.0, 5.0], 0.5, (10, 2))
    rest = rng.normal([-5.0, 5.0], 2.0, (65, 2))
    x = np.concatenate([copies, other, rest])
    scores = np.concatenate([rng.uniform(0.9, 1.0, 25), rng.uniform(0.8, 0.85, 10), rng.uniform(0, 0.5, 65)])
    selected = [99, 98]
    top = select_uncertainty(scores, selected, 10)
    assert set(top) <= set(range(25))
    picks = select_diverse_uncertainty(scores, x, selected, 10, seed=2)
    assert picks.size == 10 and np.unique(picks).size == 10 and not set(picks) & set(selected)
    assert set(picks) & set(range(25, 35)) and set(picks) & set(range(25))
    assert np.array_equal(picks, select_diverse_uncertainty(scores, x, selected, 10, seed=2))
    assert np.array_equal(select_diverse_uncertainty(scores, x, selected, 10, seed=2, candidates=1), top)
    # every pick is the most uncertain of the candidates nearest it (its k-means group): here the top
    # frame of the copies and of the other group are both taken
    assert int(np.argmax(scores[:25])) in picks and 25 + int(np.argmax(scores[25:35])) in picks
    with pytest.raises(NNPDistillError, match="diverse_candidates"):
        select_diverse_uncertainty(scores, x, selected, 10, seed=2, candidates=0.5)
