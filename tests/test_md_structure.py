"""Structure analysis of frames: the orientation-independent solid-like atom criterion (q6 bond order)
that the reweighting uses to call a frame solid, against crystals, rotations and a liquid."""

import numpy as np
import pytest
import torch
from ase.build import bulk

from nnpdistill.md.order import order_parameter
from nnpdistill.md.structure import solid_like_fraction


def _frac(at) -> float:
    return float(solid_like_fraction(at.positions[None], at.cell[:][None])[0])


def test_crystals_are_solid_in_any_orientation_and_a_liquid_is_not():
    fcc = bulk("Ni", "fcc", a=3.52, cubic=True).repeat(3)
    assert _frac(fcc) == 1.0
    hot = fcc.copy()
    hot.rattle(0.12, seed=1)  # about the thermal amplitude of Ni near its melting point
    assert _frac(hot) > 0.95
    # a crystal along [110] in the box: the box-aligned order parameter sees none of it, q6 all of it
    turned = bulk("Ni", "fcc", a=3.52, orthorhombic=True).repeat((3, 3, 6))
    pos, cell = torch.tensor(turned.positions[None]), torch.tensor(turned.cell[:][None])
    o = order_parameter(pos, cell, gradient=False)[0]
    assert len(turned) == 108 and float(o[0]) < 1e-6 and _frac(turned) == 1.0
    # rigidly rotated (positions and cell): the same number, not just "solid"
    q, _ = np.linalg.qr(np.random.default_rng(2).normal(size=(3, 3)))
    rot = hot.copy()
    rot.set_cell(hot.cell[:] @ q.T)
    rot.positions = hot.positions @ q.T
    assert _frac(rot) == pytest.approx(_frac(hot))
    assert _frac(bulk("Ni", "hcp", a=2.49, c=2.49 * 1.633).repeat((4, 4, 4))) == 1.0  # close packed too
    liquid = fcc.copy()
    liquid.positions = np.random.default_rng(3).random((108, 3)) @ fcc.cell[:]
    assert _frac(liquid) < 0.05
    # frames are independent of the batch they come in
    batch = solid_like_fraction(np.stack([hot.positions, liquid.positions, fcc.positions]),
                                np.stack([hot.cell[:], liquid.cell[:], fcc.cell[:]]), chunk_frames=2)
    np.testing.assert_allclose(batch, [_frac(hot), _frac(liquid), 1.0])
    with pytest.raises(ValueError, match="neighbours"):
        solid_like_fraction(np.zeros((1, 8, 3)), np.eye(3)[None] * 5)
