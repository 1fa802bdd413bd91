"""QUESTS selection (issue 16): the strategy's ranking equals the quests package's own
``msc_conditional`` frame for frame, and it finds a rare structure in its first picks."""

from __future__ import annotations

import numpy as np
import pytest
import quests  # noqa: F401  (a dependency: an ImportError here is a broken install, not a skip)
from ase.build import bulk

from nnpdistill import selection as sel
from nnpdistill.errors import NNPDistillError


def _frames(n, seed, rare_every=0):
    """n perturbed 2x2x2 FCC Ni frames; every ``rare_every``-th one strongly disordered (liquid-like)."""
    rng = np.random.default_rng(seed)
    base = bulk("Ni", "fcc", a=3.52, cubic=True).repeat((2, 2, 2))
    pos, cells = [], []
    for i in range(n):
        amp = 0.45 if rare_every and i % rare_every == rare_every - 1 else 0.04
        cell = base.cell[:] * (1 + rng.uniform(-0.01, 0.01))
        frac = base.get_scaled_positions()
        pos.append(frac @ cell + rng.normal(0, amp, (len(base), 3)))
        cells.append(cell)
    return pos, cells


def test_rank_equals_the_quests_package_msc_conditional():
    from quests.compression.fps import msc_conditional

    pos, cells = _frames(36, 0, rare_every=7)
    desc, offsets = sel.quests_descriptors(pos, cells, k=16, cutoff_A=5.0)
    assert desc.shape == (36 * 32, 31) and offsets[-1] == desc.shape[0]
    ent = sel.quests_entropies(desc, offsets)
    reference = [0, 5, 11]
    ours = sel.quests_rank(desc, offsets, ent, reference, size=12)
    candidates = [i for i in range(36) if i not in reference]
    per_frame = [desc[offsets[i]:offsets[i + 1]] for i in range(36)]
    theirs = msc_conditional([per_frame[i] for i in candidates], ent[candidates], 12,
                             reference=[per_frame[i] for i in reference])
    assert ours.tolist() == [candidates[j] for j in theirs]
    # no reference: the package's msc
    from quests.compression.fps import msc

    assert sel.quests_rank(desc, offsets, ent, [], size=6).tolist() == list(msc(per_frame, ent, 6))


def test_rare_disordered_frames_come_first_and_ranking_is_nested():
    pos, cells = _frames(60, 1, rare_every=15)  # frames 14, 29, 44, 59 are disordered
    desc, offsets = sel.quests_descriptors(pos, cells, k=16)
    ent = sel.quests_entropies(desc, offsets)
    order = sel.quests_rank(desc, offsets, ent, [0, 1, 2], size=10)
    assert set(order[:4].tolist()) == {14, 29, 44, 59}
    first = sel.select_ranked(order, [0, 1, 2], 4)
    second = sel.select_ranked(order, [0, 1, 2, *first], 4)
    assert first.tolist() == [14, 29, 44, 59] and set(second) == set(order[4:8].tolist())
    with pytest.raises(NNPDistillError, match="rank more frames"):
        sel.select_ranked(order, [0, 1, 2, *order[:8]], 4)


def test_descriptors_are_invariant_to_translation_and_atom_order():
    pos, cells = _frames(2, 2)
    rng = np.random.default_rng(3)
    perm = rng.permutation(32)
    moved = [pos[0] + np.array([0.7, -1.3, 2.1]), pos[0][perm]]
    d0, _ = sel.quests_descriptors([pos[0]], [cells[0]], k=16)
    d1, _ = sel.quests_descriptors(moved[:1], [cells[0]], k=16)
    d2, _ = sel.quests_descriptors(moved[1:], [cells[0]], k=16)
    np.testing.assert_allclose(d1, d0, atol=1e-10)
    np.testing.assert_allclose(d2, d0[perm], atol=1e-10)


def test_rank_frames_writes_the_order_of_a_pool_store_and_select_takes_it(tmp_path):
    import pandas as pd

    from nnpdistill.distill import next_selection, rank_frames, read_ranking
    from nnpdistill.frames import Frames, write_frames

    pos, cells = _frames(30, 4, rare_every=10)
    n = len(pos)
    write_frames(tmp_path / "pool.h5", Frames(numbers=np.full((n, 32), 28), positions=np.array(pos),
                                             cell=np.array(cells), energy=np.zeros(n)), {"element": "Ni"})
    initial = pd.DataFrame({"frame_index": [0, 1, 2, 3], "iteration_added": 0})
    cfg = {"quests_k": 16, "quests_cutoff_A": 5.0, "quests_bandwidth_per_A": 0.015}
    df = rank_frames("quests", tmp_path / "pool.h5", initial, 8, tmp_path / "ranking.csv", cfg,
                     progress=False)
    desc, offsets = sel.quests_descriptors(pos, cells, k=16)
    expected = sel.quests_rank(desc, offsets, sel.quests_entropies(desc, offsets), [0, 1, 2, 3], 8)
    assert read_ranking(tmp_path / "ranking.csv").tolist() == expected.tolist() == df["frame_index"].tolist()
    assert set(expected[:3].tolist()) == {9, 19, 29}  # the disordered frames first
    nxt = next_selection("quests", initial, 1, 5, n_pool=n, seed=0, ranking=expected)
    assert nxt["frame_index"].tolist()[4:] == sorted(expected[:5].tolist())
    with pytest.raises(NNPDistillError, match="not a ranked one"):
        rank_frames("random", tmp_path / "pool.h5", initial, 8, tmp_path / "r.csv")
    with pytest.raises(NNPDistillError, match="needs the pool's ranking"):
        next_selection("quests", initial, 1, 5, n_pool=n, seed=0)
