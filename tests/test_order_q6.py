"""The q6 bond-order correlation as a MOMT bias coordinate: its spherical harmonics against the addition
theorem, its value on crystals in any orientation and on a random (liquid-like) cell, rigid-motion and
permutation invariance, its position and strain derivatives against finite differences, the neighbour list
with a skin against a fresh one, and the biased forces and stress built on it."""

import math

import numpy as np
import pytest
import torch
from ase.build import bulk

from nnpdistill.errors import ConfigError
from nnpdistill.md.order import make_order, order_parameter
from nnpdistill.md.order_q6 import WEIGHT_M, Q6Order, q6_order, switch_radii_A, y6
from nnpdistill.md.structure import solid_like_fraction

torch.set_num_threads(1)
A = 3.52
R_ON, R_OFF = switch_radii_A(A, (1.15, 1.30))


def _t(at):
    return torch.tensor(at.positions[None]), torch.tensor(at.cell[:][None])


def _q6(at) -> float:
    return float(q6_order(*_t(at), R_ON, R_OFF, gradient=False)[0][0])


def _unit(n, seed):
    u = torch.randn(n, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    return u / u.norm(dim=-1, keepdim=True)


def test_harmonics_obey_the_addition_theorem():
    # Σ_{m=-6}^{6} Y6m(a) Y6m(b)* = 13/(4π) P6(a·b): normalisation and relative phases of every m
    a, b = _unit(50, 1), _unit(50, 2)
    ra, ia = y6(a)
    rb, ib = y6(b)
    lhs = (WEIGHT_M * (ra * rb + ia * ib)).sum(-1)
    t = (a * b).sum(-1)
    p6 = (231 * t**6 - 315 * t**4 + 105 * t**2 - 5) / 16
    assert torch.allclose(lhs, 13 / (4 * math.pi) * p6, atol=1e-13)
    # even degree: a bond and its reverse carry the same harmonics (the half neighbour list relies on it)
    assert torch.allclose(torch.stack(y6(-a)), torch.stack(y6(a)), atol=1e-14)
    # the poles are regular (no angle is formed)
    assert torch.isfinite(torch.stack(y6(torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, -1.0]])))).all()


def test_crystals_give_n_in_any_orientation_and_a_random_cell_much_less():
    fcc = bulk("Ni", "fcc", a=A, cubic=True).repeat(3)
    assert _q6(fcc) == pytest.approx(108.0, abs=1e-9)
    # a crystal along [110] in the box: the box-aligned order parameter sees none of it, q6 all of it
    turned = bulk("Ni", "fcc", a=A, orthorhombic=True).repeat((3, 3, 6))
    assert float(order_parameter(*_t(turned), gradient=False)[0][0]) < 1e-6
    assert _q6(turned) == pytest.approx(108.0, abs=1e-9)
    hot = fcc.copy()
    hot.rattle(0.12, seed=1)  # about the thermal amplitude of Ni near its melting point
    assert 0.8 * 108 < _q6(hot) < 108
    gas = fcc.copy()
    gas.positions = np.random.default_rng(3).random((108, 3)) @ fcc.cell[:]
    assert _q6(gas) < 0.4 * 108
    # it orders frames as the thresholded ten Wolde criterion does, but is continuous
    frames = [fcc, hot, gas]
    sl = solid_like_fraction(np.stack([f.positions for f in frames]), np.stack([f.cell[:] for f in frames]))
    assert sl[0] >= sl[1] > sl[2] and _q6(fcc) > _q6(hot) > _q6(gas)


def test_invariant_under_rigid_motion_and_permutation():
    at = bulk("Ni", "fcc", a=A, cubic=True).repeat(3)
    at.rattle(0.2, seed=4)
    ref = _q6(at)
    q, _ = np.linalg.qr(np.random.default_rng(5).normal(size=(3, 3)))
    moved = at.copy()
    moved.set_cell(at.cell[:] @ q.T)
    moved.positions = (at.positions + [0.7, -1.3, 2.1]) @ q.T  # translated, then rotated with the cell
    assert _q6(moved) == pytest.approx(ref, abs=1e-10)
    perm = at[np.random.default_rng(6).permutation(len(at))]
    assert _q6(perm) == pytest.approx(ref, abs=1e-10)
    wrapped = at.copy()
    wrapped.positions += 3.0 * at.cell[0]  # a lattice translation of one walker's atoms
    assert _q6(wrapped) == pytest.approx(ref, abs=1e-10)


@pytest.mark.parametrize("kernel,solid", [("torch", None), ("cpp", None), ("torch", (0.7, 0.1)),
                                          ("cpp", (0.7, 0.1))])
def test_position_and_strain_derivatives_match_finite_differences(kernel, solid):
    at = bulk("Ni", "fcc", a=A, cubic=True).repeat(2)  # 32 atoms: cutoff near half the cell, images count
    at.rattle(0.15, seed=7)
    pos, cell = _t(at)
    O, g, d_eps = q6_order(pos, cell, R_ON, R_OFF, kernel=kernel, solid=solid)

    def q6(p, c):
        return q6_order(p, c, R_ON, R_OFF, False, kernel=kernel, solid=solid)[0]

    h = 1e-6
    for n, k in [(0, 0), (5, 1), (31, 2)]:
        p, m = pos.clone(), pos.clone()
        p[0, n, k] += h
        m[0, n, k] -= h
        fd = (q6(p, cell) - q6(m, cell)) / (2 * h)
        assert abs(float(fd[0] - g[0, n, k])) < 1e-6, (float(fd[0]), float(g[0, n, k]))
    assert float(g.sum(1).abs().max()) < 1e-10  # no net force from a translation-invariant coordinate
    assert torch.allclose(d_eps, d_eps.transpose(1, 2))
    for i, j in [(0, 0), (1, 2), (2, 2), (0, 1)]:
        e = torch.zeros(3, 3, dtype=torch.float64)
        e[i, j] = e[j, i] = h if i == j else 0.5 * h
        ep, em = torch.eye(3, dtype=torch.float64) + e, torch.eye(3, dtype=torch.float64) - e
        fd = (q6(pos @ ep, cell @ ep) - q6(pos @ em, cell @ em)) / (2 * h)
        assert abs(float(fd[0] - d_eps[0, i, j])) < 1e-6, (i, j, float(fd[0]), float(d_eps[0, i, j]))
    assert 0 < float(O[0]) < 32


@pytest.mark.parametrize("kernel", ["torch", "cpp"])
def test_verlet_skin_gives_the_fresh_lists_numbers(kernel):
    at = bulk("Ni", "fcc", a=A, cubic=True).repeat(3)
    pos, cell = _t(at)
    pos, cell = pos.repeat(3, 1, 1), cell.repeat(3, 1, 1)
    gen = torch.Generator().manual_seed(8)
    order = Q6Order(R_ON, R_OFF, skin_A=0.4, kernel=kernel)
    for step in range(6):  # atoms drift and the cell breathes, as in NPT; the list is rebuilt when needed
        pos = pos + 0.05 * torch.randn(pos.shape, dtype=torch.float64, generator=gen)
        cell = cell * (1.0 + 0.004 * (step % 3 - 1))
        O, g, d = order(pos, cell)
        O0, g0, d0 = q6_order(pos, cell, R_ON, R_OFF, kernel=kernel)
        assert torch.allclose(O, O0, atol=1e-11) and torch.allclose(g, g0, atol=1e-11)
        assert torch.allclose(d, d0, atol=1e-10)
    assert order.verlet.n_builds > 3  # it did rebuild (3 walkers at the start, more after)


def test_make_order_and_bad_input():
    assert isinstance(make_order("q6_bonds", 108, A), Q6Order)
    pos, cell = _t(bulk("Ni", "fcc", a=A, cubic=True).repeat(3))
    O, g, d = make_order("fcc_box", 108, A)(pos, cell)
    assert float(O[0]) == pytest.approx(108.0) and d is None  # the box-aligned one adds no stress
    with pytest.raises(ConfigError, match="momt.order must be one of"):
        make_order("q4", 108, A)
    with pytest.raises(ConfigError, match="q6_switch_nn"):
        switch_radii_A(A, (1.3, 1.2))
    with pytest.raises(ConfigError, match="0 < r_on < r_off"):
        Q6Order(3.0, 2.0)
    for bad in ((0.65, 0.0), (1.2, 0.05), (0.0, 0.1)):
        with pytest.raises(ConfigError, match="momt.q6_solid"):
            make_order("q6_solid", 108, A, q6_solid=bad)
    from nnpdistill.md.settings import MOMTParams, RunSettings, settings_from_config

    with pytest.raises(ConfigError, match="momt.order must be one of"):
        RunSettings("momt", momt=MOMTParams(order="q4")).validate()
    # the paper's coordinate keeps the fingerprint (checkpoints, store attrs) it had before the option
    assert "order" not in RunSettings("momt").fingerprint()["momt"]
    q6 = settings_from_config({"momt": {"order": "q6_bonds", "q6_switch_nn": [1.1, 1.3]}}, "momt", 0)
    assert q6.fingerprint()["momt"]["order"] == "q6_bonds"
    assert q6.fingerprint()["momt"]["q6_switch_nn"] == [1.1, 1.3]
    assert "q6_solid" not in q6.fingerprint()["momt"]  # read by q6_solid only: q6_bonds runs keep theirs
    solid = settings_from_config({"momt": {"order": "q6_solid", "q6_solid": [0.6, 0.04]}}, "momt", 0)
    assert solid.fingerprint()["momt"]["q6_solid"] == [0.6, 0.04]
    with pytest.raises(ConfigError, match="momt.q6_solid"):
        settings_from_config({"momt": {"order": "q6_solid", "q6_solid": [0.6, -1.0]}}, "momt", 0)


def test_an_atom_losing_its_last_neighbours_gets_no_force_spike():
    # two atoms alone in a big box, their distance just inside r_off: the weight sums go to zero there
    cell = torch.eye(3, dtype=torch.float64)[None] * 20.0
    for gap in (1e-3, 1e-6):
        pos = torch.tensor([[[0.0, 0.0, 0.0], [R_OFF - gap, 0.0, 0.0]]], dtype=torch.float64)
        O, g, d = q6_order(pos, cell, R_ON, R_OFF)
        assert torch.isfinite(g).all() and float(g.abs().max()) < 10.0, (gap, g)
        assert 0.0 <= float(O[0]) < 2.0


def test_cpp_kernel_matches_the_torch_code_and_is_deterministic():
    """The C++ kernel's value and analytic derivatives against the torch code's autograd ones: walkers in
    distorted triclinic cells (a crystal, a rattled crystal, a random gas whose sparse atoms have weight
    sums below the floor of 1), lists of different lengths (padding), and bitwise repeatable."""
    at = bulk("Ni", "fcc", a=A, cubic=True).repeat(3)
    gen = torch.Generator().manual_seed(3)
    pos = torch.tensor(at.positions)[None].repeat(3, 1, 1)
    pos[1] += 0.3 * torch.randn(pos[1].shape, dtype=torch.float64, generator=gen)
    pos[2] = torch.rand(pos[2].shape, dtype=torch.float64, generator=gen) * 16.0  # a sparse gas
    eye = torch.eye(3, dtype=torch.float64)
    strain = eye + 0.04 * torch.randn(3, 3, 3, dtype=torch.float64, generator=gen)
    cell = torch.tensor(at.cell.array)[None] @ strain
    cell[2] = eye * 16.0 @ strain[2]
    pos = pos @ strain
    ref = Q6Order(R_ON, R_OFF, kernel="torch")(pos, cell)
    out = Q6Order(R_ON, R_OFF, kernel="cpp")(pos, cell)
    assert float(out[0][0]) == pytest.approx(108.0, abs=1e-9)  # a strained crystal stays a crystal
    for a, b in zip(ref, out, strict=True):
        assert torch.allclose(a, b, rtol=0, atol=1e-12), float((a - b).abs().max())
    again = Q6Order(R_ON, R_OFF, kernel="cpp")(pos, cell)
    assert all(torch.equal(a, b) for a, b in zip(out, again, strict=True))
    # clear errors and the automatic choice: float32 stays on the torch code unless cpp is asked for
    with pytest.raises(ConfigError, match="q6 kernel must be one of"):
        Q6Order(R_ON, R_OFF, kernel="fortran")
    with pytest.raises(ConfigError, match="float64"):
        Q6Order(R_ON, R_OFF, kernel="cpp")(pos.float(), cell.float())
    auto = Q6Order(R_ON, R_OFF, kernel="auto")
    auto(pos.float(), cell.float())
    assert auto.kernel == "torch"


def test_q6_solid_counts_solid_like_atoms_where_the_q6_sum_does_not():
    """A 256-atom crystal disordered step by step (random displacements 0 to 0.7 Å, from the crystal through
    partial order to a liquid-like cell): the smooth count q6_solid/N follows ten Wolde's solid-like
    fraction, the independent per-frame criterion, within 0.06 at every step, where the q6 sum O/N credits
    disordered atoms with their partial overlaps and strays from it by more than 0.2. A crystal counts
    N F(1); both kernels agree to 1e-12 (O: 1e-13 relative), derivatives included; a rigid rotation and
    shift change nothing."""
    at = bulk("Ni", "fcc", a=A, cubic=True).repeat(4)
    pos0, cell = _t(at)
    n = len(at)
    gen = torch.Generator().manual_seed(5)
    solid = (0.65, 0.05)
    count_dev, sum_dev = [], []
    for amp in (0.0, 0.1, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.7):
        pos = pos0 + amp * torch.randn(pos0.shape, dtype=torch.float64, generator=gen)
        count = Q6Order(R_ON, R_OFF, kernel="torch", solid=solid)(pos, cell)
        total = float(Q6Order(R_ON, R_OFF, kernel="torch")(pos, cell, False)[0][0])
        fraction = float(solid_like_fraction(pos.numpy(), cell.numpy())[0])
        count_dev.append(abs(float(count[0][0]) / n - fraction))
        sum_dev.append(abs(total / n - fraction))
        out = Q6Order(R_ON, R_OFF, kernel="cpp", solid=solid)(pos, cell)
        for a, b in zip(count, out, strict=True):
            assert torch.allclose(a, b, rtol=1e-13, atol=1e-12), (amp, float((a - b).abs().max()))
        if amp == 0.0:
            assert float(count[0][0]) == pytest.approx(n * 0.5 * (1 + math.tanh(0.35 / 0.05)), rel=1e-12)
        if amp == 0.3:
            rot = torch.tensor([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
            moved = Q6Order(R_ON, R_OFF, kernel="torch", solid=solid)(pos @ rot + 1.3, cell @ rot, False)[0]
            assert float(moved[0]) == pytest.approx(float(count[0][0]), abs=1e-10)
    assert max(count_dev) < 0.06, count_dev
    assert max(sum_dev) > 0.2, sum_dev


def test_fitting_orientations_and_the_turned_crystal_a_cubic_cell_holds():
    """A 3x3x3 FCC cell (108 atoms) holds a perfect crystal in two kinds of orientation: aligned with the box,
    and turned so that its cube edges lie along <221> (all three of length 3a): built here site by site,
    it has exactly 108 sites, no two closer than the nearest-neighbour distance, a box-aligned order
    parameter of N/4 (it shares one {111} plane set with the aligned crystal, the axis it is turned about)
    and a fitted one of N. 2x2x2, 3x3x4 and 4x4x4 cells hold only the aligned crystal."""
    import itertools

    from nnpdistill.md.order import fitted_order, fitting_orientations, order_parameter

    assert [len(fitting_orientations(n)) for n in (2, (3, 3, 4), 4)] == [1, 1, 1]
    assert len(fitting_orientations(3)) == 5  # aligned + the four <221> variants
    a = 3.52
    R = np.array([[2, 2, 1], [1, -2, 2], [2, -1, -2]]) / 3.0  # rows: the crystal's cube edges in the box
    assert np.allclose(R @ R.T, np.eye(3)) and np.isclose(np.linalg.det(R), 1.0)
    basis = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    sites = np.array([np.add(c, b) for c in itertools.product(range(-6, 7), repeat=3) for b in basis]) * a
    box = 3 * a
    frac = (sites @ R) / box  # crystal coordinates -> box frame
    inside = np.all((frac >= -1e-9) & (frac < 1 - 1e-9), axis=1)
    pos = frac[inside] * box
    assert len(pos) == 108
    d = pos[:, None] - pos[None]
    d -= box * np.round(d / box)
    r = np.linalg.norm(d, axis=-1) + np.eye(108) * 99
    assert r.min() == pytest.approx(a / np.sqrt(2))  # a perfect crystal across the periodic boundary
    cell = np.eye(3) * box
    turned = fitted_order(pos[None], cell[None], 3)[0]
    boxed = order_parameter(torch.tensor(pos[None]), torch.tensor(cell[None]), gradient=False)[0].item() / 108
    assert turned == pytest.approx(1.0) and boxed == pytest.approx(0.25)
    aligned = (np.array([np.add(c, b) for c in itertools.product(range(3), repeat=3) for b in basis]) * a)
    assert fitted_order(aligned[None], cell[None], 3)[0] == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    assert fitted_order(rng.random((4, 108, 3)) * box, np.tile(cell, (4, 1, 1)), 3).max() < 0.1  # a gas
