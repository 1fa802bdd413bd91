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


def test_cells_between_the_cubic_sizes_are_perfect_crystals_of_the_same_lattice():
    """144, 192 and 216 atoms (3x3x4, 3x4x4, 3x3x6 conventional cells, for finite-size studies between 108
    and 256):
    every atom sits on an FCC site of the same lattice (the EAM energy per atom and the pressure of the
    cubic 108-atom cell), both order parameters read O = N, and the box-aligned {111} vectors are the
    lattice's whatever the shape; a size with no near-cubic shape is refused by name."""
    from nnpdistill.errors import ConfigError
    from nnpdistill.md.order import fcc_cells, g_vectors, make_order
    from nnpdistill.md.run import potential_from_eam
    from nnpdistill.md.setup import fcc_state

    assert fcc_cells(108) == (3, 3, 3) and fcc_cells(144) == (3, 3, 4) and fcc_cells(192) == (3, 4, 4)
    assert fcc_cells(216) == (3, 3, 6) and fcc_cells(64) == (2, 2, 4)
    pot = potential_from_eam("Ni", None, 1.0, None, "cpu")
    ev = pot.factory()
    a = pot.lattice_A
    ref = None
    for n in (108, 144, 192, 216):
        st = fcc_state(1, n, a, pot.mass_amu, 300.0, torch.Generator().manual_seed(0))
        assert st.positions.shape == (1, n, 3)
        shape = torch.tensor(fcc_cells(n), dtype=torch.float64)
        assert torch.allclose(torch.diagonal(st.cells[0]), a * shape)
        out = ev(st.positions, st.cells)
        e, p = out.energy.item() / n, torch.diagonal(out.stress[0]).mean().item()
        ref = ref or (e, p)
        assert e == pytest.approx(ref[0], abs=1e-10) and p == pytest.approx(ref[1], abs=1e-10)
        assert out.forces.abs().max() < 1e-10
        for kind in ("fcc_box", "q6_bonds"):
            O = make_order(kind, n, a)(st.positions, st.cells, gradient=False)[0]
            assert O.item() == pytest.approx(n, rel=1e-9), (kind, n)
        g = g_vectors(st.cells, fcc_cells(n))[0]
        assert torch.allclose(g.abs(), torch.full((4, 3), 2 * np.pi / a, dtype=torch.float64))
    with pytest.raises(ConfigError, match="N = 28 atoms has no near-cubic shape"):
        fcc_cells(28)
    with pytest.raises(ConfigError, match="near-cubic multiple of 4"):
        fcc_cells(110)


def _solid_like_fraction_scipy(positions, cells, n_neighbors=12, d_min=0.7, min_bonds=7):
    """The criterion written plainly with scipy's spherical harmonics over m = -6..6 (the reference the
    polynomial m >= 0 form must reproduce)."""
    from scipy.special import sph_harm_y

    out = []
    for pos, cell in zip(positions, cells, strict=True):
        d = (pos[:, None] - pos[None]) @ np.linalg.inv(cell)
        vec = (d - np.round(d)) @ cell
        dist = np.linalg.norm(vec, axis=-1)
        np.fill_diagonal(dist, np.inf)
        idx = np.argsort(dist, axis=1)[:, :n_neighbors]
        unit = np.take_along_axis(vec, idx[..., None], axis=1)
        unit /= np.linalg.norm(unit, axis=-1, keepdims=True)
        theta, phi = np.arccos(np.clip(unit[..., 2], -1, 1)), np.arctan2(unit[..., 1], unit[..., 0])
        q = np.stack([sph_harm_y(6, m, theta, phi).mean(axis=1) for m in range(-6, 7)], 1)  # (N, 13)
        q /= np.linalg.norm(q, axis=1, keepdims=True)
        overlap = np.real(np.einsum("im,ijm->ij", q, np.conj(q[idx])))
        out.append(((overlap > d_min).sum(1) >= min_bonds).mean())
    return np.array(out)


def test_polynomial_harmonics_reproduce_scipy_on_crystals_melting_by_degrees():
    """Y6m from polynomials (m >= 0 only, the m < 0 half folded in) against scipy's sph_harm_y over all 13
    m: the same harmonics to 1e-13 on random directions, and the same solid-like fraction on FCC and HCP
    crystals rattled from 0 to 0.6 Å, where the fraction passes from 1 to near 0 (so every bond decision
    near d_min is exercised)."""
    from scipy.special import sph_harm_y

    from nnpdistill.md.structure import _q6_positive_m

    rng = np.random.default_rng(7)
    u = rng.normal(size=(500, 3))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    theta, phi = np.arccos(u[:, 2]), np.arctan2(u[:, 1], u[:, 0])
    ref = np.stack([sph_harm_y(6, m, theta, phi) for m in range(7)])
    np.testing.assert_allclose(_q6_positive_m(u), ref, rtol=0, atol=1e-13)
    frames = []
    for at in (bulk("Ni", "fcc", a=3.52, cubic=True).repeat(3), bulk("Ni", "hcp", a=2.49).repeat((4, 4, 3))):
        for k, amp in enumerate(np.linspace(0.0, 0.6, 7)):
            r = at.copy()
            r.rattle(amp, seed=k)
            frames.append(r)
    for batch in ([f for f in frames if len(f) == 108], [f for f in frames if len(f) != 108]):
        pos, cell = np.stack([f.positions for f in batch]), np.stack([f.cell[:] for f in batch])
        fast, ref = solid_like_fraction(pos, cell), _solid_like_fraction_scipy(pos, cell)
        np.testing.assert_array_equal(fast, ref)
        assert fast[0] == 1.0 and fast[-1] < 0.2 and len(np.unique(fast)) >= 4
