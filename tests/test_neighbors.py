"""Half neighbour lists over all periodic images and the Verlet rebuild criterion."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase.neighborlist import primitive_neighbor_list

from nnpdistill.neighbors import VerletList, build_pairs, build_pairs_vesin

torch.set_num_threads(1)


def _as_full_set(seg):
    i, j, s = (t.tolist() for t in seg)
    half = set(zip(i, j, map(tuple, s), strict=True))
    assert len(half) == len(i)  # no duplicates
    return half | {(b, a, tuple(-v for v in sv)) for a, b, sv in half}


@pytest.mark.parametrize("n,scale,seed", [(1, 2.4, 0), (4, 3.5, 1), (32, 7.0, 2), (50, 12.0, 3)])
@pytest.mark.parametrize("builder", [build_pairs, build_pairs_vesin])
def test_matches_ase_on_triclinic_cells_including_self_images(n, scale, seed, builder):
    rng = np.random.default_rng(seed)
    h = np.eye(3) * scale + rng.normal(0, 0.12 * scale, (3, 3))
    x = rng.random((n, 3)) @ h + rng.normal(0, 2.0, (n, 3))  # some atoms outside the cell
    rc = 6.9
    i, j, S = primitive_neighbor_list("ijS", [True] * 3, h, x, rc, self_interaction=False)
    ref = set(zip(i.tolist(), j.tolist(), map(tuple, S.tolist()), strict=True))
    seg = builder(torch.tensor(x)[None], torch.tensor(h)[None], rc)[0]
    assert _as_full_set(seg) == ref
    assert torch.all(seg[0][1:] >= seg[0][:-1])  # sorted by i


def test_batched_build_equals_single():
    rng = np.random.default_rng(4)
    xs = [rng.random((20, 3)) * 8 for _ in range(3)]
    hs = [np.diag([8.0, 8.5, 9.0]) + rng.normal(0, 0.3, (3, 3)) for _ in range(3)]
    many = build_pairs(torch.tensor(np.stack(xs)), torch.tensor(np.stack(hs)), 5.0, max_candidates=10_000)
    for b in range(3):
        one = build_pairs(torch.tensor(xs[b])[None], torch.tensor(hs[b])[None], 5.0)[0]
        assert _as_full_set(many[b]) == _as_full_set(one)


def test_verlet_rebuild_criterion_covers_cell_strain():
    rng = np.random.default_rng(5)
    L = 9.0
    x = torch.tensor(rng.random((1, 40, 3)) * L)
    h = torch.eye(3, dtype=torch.float64)[None] * L
    nl = VerletList(4.0, skin_A=0.6)
    nl.update(x, h)
    assert nl.n_builds == 1
    nl.update(x + 0.05, h)  # rigid small shift: reuse
    assert nl.n_builds == 1
    # compress the cell by 8 %: pairs from outside rc+skin come within rc -> must rebuild
    d = torch.eye(3, dtype=torch.float64) * 0.92
    nl.update(x @ d, h @ d)
    assert nl.n_builds == 2
    x2 = x.clone()
    x2[0, 3] += 0.31  # one atom moved more than skin/2
    nl.update(x2 @ d, h @ d)
    assert nl.n_builds == 3
