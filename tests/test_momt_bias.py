"""Order parameter, B-spline bias and biased forces/stress against finite differences; bad input."""

import json
import math

import numpy as np
import pytest
import torch

from nnpdistill.errors import ConfigError
from nnpdistill.md.models import EinsteinCrystal, fcc_sites_frac
from nnpdistill.md.momt import Bias2D, MOMTForce, WangLandau, check_temperatures
from nnpdistill.md.order import make_order, order_parameter
from nnpdistill.units import BAR_EV_PER_A3

torch.set_num_threads(1)


def _fcc(L=2, a=3.52, B=3, noise=0.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    cell = torch.eye(3, dtype=torch.float64) * a * L
    pos = (fcc_sites_frac(L) @ cell).expand(B, -1, -1).clone()
    pos = pos + noise * torch.randn(pos.shape, generator=g, dtype=torch.float64)
    return pos, cell.expand(B, 3, 3).clone()


def test_order_parameter_limits():
    for L in (2, 3):
        pos, cell = _fcc(L)
        O, _ = order_parameter(pos, cell)
        assert torch.allclose(O, torch.full_like(O, 4.0 * L**3), atol=1e-9)
    g = torch.Generator().manual_seed(1)
    B, N = 400, 32
    cell = torch.eye(3, dtype=torch.float64).expand(B, 3, 3) * 7.0
    pos = torch.rand((B, N, 3), generator=g, dtype=torch.float64) * 7.0
    O, _ = order_parameter(pos, cell)
    assert abs(float(O.mean()) - 1.0) < 0.1  # random positions: O ≈ 1 (exactly 1 in expectation)
    # lattice translations of single atoms (unwrapped coordinates) leave O unchanged
    pos2 = pos.clone()
    pos2[:, 0, 0] += 7.0
    assert torch.allclose(order_parameter(pos2, cell)[0], O, atol=1e-10)


def test_order_gradient_finite_difference():
    pos, cell = _fcc(2, noise=0.3, seed=2)
    cell = cell + 0.05 * torch.tensor([[0, 1, 0], [0, 0, 0.5], [0.2, 0, 0]], dtype=torch.float64)
    O, grad = order_parameter(pos, cell)
    h = 1e-5
    for b, n, k in [(0, 0, 0), (1, 5, 2), (2, 31, 1), (0, 17, 1)]:
        p, m = pos.clone(), pos.clone()
        p[b, n, k] += h
        m[b, n, k] -= h
        fd = (order_parameter(p, cell)[0][b] - order_parameter(m, cell)[0][b]) / (2 * h)
        assert abs(float(fd - grad[b, n, k])) < 1e-6 * max(1.0, abs(float(fd)))
    assert float(grad.abs().max()) > 0.1  # non-trivial gradient was tested


def test_order_affine_invariance():
    pos, cell = _fcc(3, noise=0.2, seed=3)
    eps = torch.tensor([[0.03, 0.01, 0.0], [0.01, -0.02, 0.005], [0.0, 0.005, 0.04]], dtype=torch.float64)
    F = torch.eye(3, dtype=torch.float64) + eps
    O1, _ = order_parameter(pos, cell)
    O2, _ = order_parameter(pos @ F, cell @ F)
    assert torch.allclose(O1, O2, atol=1e-10)
    O3, _ = order_parameter(pos @ F, cell)  # positions alone deformed: O changes
    assert float((O3 - O1).abs().max()) > 1e-3


def _random_bias(seed=4):
    g = torch.Generator().manual_seed(seed)
    bias = Bias2D((-170.0, -140.0), (-5.0, 37.0), 12, 10)
    bias.coef = 2.0 * torch.randn(bias.coef.shape, generator=g, dtype=torch.float64)
    return bias


def test_bias_derivatives_and_continuity():
    bias = _random_bias()
    g = torch.Generator().manual_seed(5)
    H = -170 + 30 * torch.rand(50, generator=g, dtype=torch.float64)
    O = -5 + 42 * torch.rand(50, generator=g, dtype=torch.float64)
    v, dh, do = bias(H, O)
    e = 1e-6
    fd_h = (bias(H + e, O)[0] - bias(H - e, O)[0]) / (2 * e)
    fd_o = (bias(H, O + e)[0] - bias(H, O - e)[0]) / (2 * e)
    assert torch.allclose(fd_h, dh, atol=1e-6) and torch.allclose(fd_o, do, atol=1e-6)
    # beyond the enthalpy range: linear continuation, still the gradient of the value (a conservative force)
    far = torch.cat([bias.h_lo - 3 - 10 * torch.rand(5, generator=g, dtype=torch.float64),
                     bias.h_hi + 3 + 10 * torch.rand(5, generator=g, dtype=torch.float64)])
    oo = O[:10]
    v2, dh2, do2 = bias(far, oo)
    fd_h2 = (bias(far + e, oo)[0] - bias(far - e, oo)[0]) / (2 * e)
    fd_o2 = (bias(far, oo + e)[0] - bias(far, oo - e)[0]) / (2 * e)
    assert torch.allclose(fd_h2, dh2, atol=1e-6) and torch.allclose(fd_o2, do2, atol=1e-6)
    edge = bias(torch.full((10,), bias.h_hi, dtype=torch.float64), oo)[1]
    assert torch.allclose(dh2[5:], edge[5:], atol=1e-9) and float(dh2.abs().max()) > 1e-3  # the edge slope
    # C1 across a node: derivative from both sides agrees
    node = torch.tensor([bias.h_lo + 5 * bias.dh], dtype=torch.float64)
    o = torch.tensor([3.3], dtype=torch.float64)
    d_left = bias(node - 1e-9, o)[1]
    d_right = bias(node + 1e-9, o)[1]
    assert abs(float(d_left - d_right)) < 1e-6
    # the WL increment spreads exactly amount (weights sum to 1) and raises the bias where it lands
    before = bias(H[:1], O[:1])[0]
    total = float(bias.coef.sum())
    bias.add(H[:1], O[:1], 0.5)
    assert abs(float(bias.coef.sum()) - total - 0.5) < 1e-10
    assert float(bias(H[:1], O[:1])[0] - before) > 0


def _energy_eff(model, bias, p0, pos, cell, order="fcc_box"):
    res = model(pos, cell)
    V = torch.linalg.det(cell).abs()
    O = make_order(order, pos.shape[1], 3.52)(pos, cell, gradient=False)[0]
    return res.energy + bias(res.energy + p0 * V, O)[0]


@pytest.mark.parametrize("order", ["fcc_box", "q6_bonds"])
def test_biased_forces_and_stress_finite_difference(order):
    pos, cell = _fcc(2, noise=0.15, seed=6, B=2)
    sites = fcc_sites_frac(2)
    v0 = float(torch.linalg.det(cell[0]))
    model = EinsteinCrystal(sites, k_eV_per_A2=3.0, bulk_modulus_eV_per_A3=0.5, v0_A3=v0 * 1.02)
    p0 = 5.0e4 * BAR_EV_PER_A3
    e0 = model(pos, cell).energy + p0 * torch.linalg.det(cell)
    bias = Bias2D((float(e0.min()) - 3.0, float(e0.max()) + 3.0), (-5.0, 37.0), 10, 12)
    bias.coef = 0.3 * torch.randn(bias.coef.shape, generator=torch.Generator().manual_seed(7),
                                  dtype=torch.float64)
    fn = MOMTForce(model, bias, p0, t_ref_K=2000.0, t_min_K=1.0, t_max_K=1e9,
                   order=make_order(order, 32, 3.52))
    forces, stress, aux = fn(pos, cell)
    assert float((aux.s - 1).abs().max()) > 0.05 and float(aux.order.min()) > 5  # bias is active
    assert float(bias(aux.enthalpy, aux.order)[2].abs().max()) > 1e-2  # and so is its O-slope
    h = 1e-5
    for b, n, k in [(0, 0, 0), (1, 7, 2), (0, 31, 1)]:
        p, m = pos.clone(), pos.clone()
        p[b, n, k] += h
        m[b, n, k] -= h
        fd = -(_energy_eff(model, bias, p0, p, cell, order)
               - _energy_eff(model, bias, p0, m, cell, order))[b] / (2 * h)
        assert abs(float(fd - forces[b, n, k])) < 1e-6, (float(fd), float(forces[b, n, k]))
    # stress: (1/V) dE_eff/dε + P0 (s-1)... i.e. σ_eff = (1/V) ∂(U + ΔH)/∂ε with H = U + P0 V
    V = torch.linalg.det(cell)
    for i, j in [(0, 0), (1, 1), (0, 1), (2, 0)]:
        eps = torch.zeros(3, 3, dtype=torch.float64)
        eps[i, j] = eps[j, i] = 0.5 * h if i != j else h
        Fp, Fm = torch.eye(3, dtype=torch.float64) + eps, torch.eye(3, dtype=torch.float64) - eps
        dE = (_energy_eff(model, bias, p0, pos @ Fp, cell @ Fp, order)
              - _energy_eff(model, bias, p0, pos @ Fm, cell @ Fm, order))
        fd = dE / (2 * h) / V
        assert torch.allclose(fd, stress[:, i, j], atol=1e-8), (fd, stress[:, i, j])


def test_temperature_clip():
    pos, cell = _fcc(2, noise=0.1, B=2)
    model = EinsteinCrystal(fcc_sites_frac(2), k_eV_per_A2=3.0)
    e = model(pos, cell).energy
    bias = Bias2D((float(e.min()) - 1, float(e.max()) + 1), (-5.0, 37.0), 6, 6)
    bias.coef[:] = 50.0 * torch.arange(8, dtype=torch.float64)[:, None]  # steep: s ≫ 1
    fn = MOMTForce(model, bias, 0.0, t_ref_K=2000.0, t_min_K=1000.0, t_max_K=3000.0)
    _, _, aux = fn(pos, cell)
    assert torch.allclose(aux.s, torch.full_like(aux.s, 2.0))  # T_eff clipped at t_min_K


def test_bad_input_errors():
    with pytest.raises(ConfigError, match="t_min_K < t_max_K"):
        check_temperatures(2000.0, 3000.0, 1000.0)
    with pytest.raises(ConfigError, match="reference temperature"):
        check_temperatures(5000.0, 1000.0, 3000.0)
    with pytest.raises(ConfigError, match="h_min < h_max"):
        Bias2D((-100.0, -100.0), (-5, 37), 10, 10)
    with pytest.raises(ConfigError, match="at least 4 nodes"):
        Bias2D((-100.0, -90.0), (-5, 37), 0, 10)
    with pytest.raises(ConfigError, match="N = 4 L"):
        order_parameter(torch.zeros(1, 30, 3, dtype=torch.float64),
                        torch.eye(3, dtype=torch.float64)[None] * 7)
    with pytest.raises(ConfigError, match="ln_f_initial"):
        WangLandau(_random_bias(), 2000.0, ln_f_initial=0.0)


def test_wang_landau_halves_when_flat():
    bias = Bias2D((0.0, 3.0), (0.0, 3.0), 4, 4)
    wl = WangLandau(bias, 1000.0, ln_f_initial=1.0, min_updates_per_stage=1)
    H = torch.tensor([0.0, 1.0, 2.0, 3.0], dtype=torch.float64)
    wl.update(H, torch.zeros(4, dtype=torch.float64))  # 4 nodes visited once each: flat
    assert math.isclose(wl.ln_f, 0.5) and float(wl.hist.sum()) == 0.0 and float(wl.visits.sum()) == 4.0


def test_wang_landau_ln_f_shrinks_and_never_rises():
    """The audit's failure: ln f stayed at 1 for a whole run and the 1/t branch raised it. A walk that
    keeps finding new nodes (never flat) must still shrink ln f (stage cap), and ln f never rises."""
    bias = Bias2D((0.0, 10.0), (0.0, 10.0), 20, 20)
    wl = WangLandau(bias, 1000.0, ln_f_initial=1.0, min_updates_per_stage=100, max_updates_per_stage=200)
    gen = torch.Generator().manual_seed(0)
    history = []
    for i in range(3000):
        # a walk whose range widens over time: always some rarely visited nodes, never flat
        width = 1.0 + 9.0 * min(1.0, i / 2500)
        H = torch.rand(4, generator=gen, dtype=torch.float64) * width
        O = torch.rand(4, generator=gen, dtype=torch.float64) * width
        wl.update(H, O)
        history.append(wl.ln_f)
        if wl.one_over_t:
            assert wl.ln_f <= int((wl.visits > 0).sum()) / wl.n_deposits + 1e-15
    assert all(b <= a for a, b in zip(history, history[1:], strict=False)), "ln f rose"
    assert history[-1] < 0.05 and wl.one_over_t


def test_honour_clip_bounds_the_slope_and_keeps_the_visited_bias():
    """Φ = honour_clip(ΔH): 1 + ∂Φ/∂H stays inside [s_min, s_max] (so a run on Φ needs no clip), and Φ
    equals ΔH (up to a constant per column it cannot have) where the slope was inside already."""
    bias = Bias2D((0.0, 10.0), (0.0, 4.0), 24, 6)
    bias.fit(lambda h, o: 0.08 * (h - 5.0) ** 2 - 0.5 * (h - 5.0) + 0.1 * o)  # s from 0.1 to 1.3
    s_min, s_max = 0.6, 1.25
    visits = torch.zeros(24, 6, dtype=torch.float64)
    visits[12, :] = 1.0
    phi = bias.honour_clip(s_min, s_max, visits)
    H = torch.linspace(0.3, 9.7, 200, dtype=torch.float64)
    for o in (0.5, 2.0, 3.5):
        O = torch.full_like(H, o)
        _, d_h, _ = phi(H, O)
        s = 1 + d_h
        assert float(s.min()) > s_min - 0.03 and float(s.max()) < s_max + 0.03
        _, d0, _ = bias(H, O)
        inside = ((1 + d0) > s_min + 0.05) & ((1 + d0) < s_max - 0.05)
        diff = phi(H, O)[0] - bias(H, O)[0]
        assert float(diff[inside].abs().max()) < 0.02, "Φ moved where no clip acted"
    # the unclipped bias does leave the range: the test is not vacuous
    assert float((1 + bias(H, torch.zeros_like(H))[1]).min()) < s_min - 0.2


def test_cold_margin_moves_the_grid_low_edge_down_the_solid_line():
    """h_cold_margin_K: the derived grid's low edge moves down the solid's H(T) line by exactly that many
    kelvin (room for a crystal colder than t_min_K); the high edge and the starting bias's clip stay."""
    from nnpdistill.md.setup import PhaseLines, initial_bias

    lines = PhaseLines(t_solid_K=(1700.0, 1850.0), h_solid_eV=(-148.0, -146.5), h_solid_std_eV=(0.3, 0.35),
                       t_liquid_K=(2000.0, 2300.0), h_liquid_eV=(-141.0, -138.0),
                       h_liquid_std_eV=(0.4, 0.45), o_solid=27.0, o_liquid=4.0)
    lo0, hi0 = lines.h_range()
    lo, hi = lines.h_range(cold_margin_K=400.0)
    assert lo0 == pytest.approx(-148.0 - 4 * 0.3) and hi == hi0 == pytest.approx(-138.0 + 4 * 0.45)
    assert lo == pytest.approx(lo0 - 400.0 * 1.5 / 150.0)  # slope 0.01 eV/K
    bias = initial_bias(lines, 32, 2000.0, 1700.0, 2300.0, 20, 16, h_cold_margin_K=400.0)
    assert (bias.h_lo, bias.h_hi) == pytest.approx((lo, hi))
    # below the old edge the starting bias keeps T_eff = t_min_K: dΔH/dH = T0/T_min - 1 (solid side)
    H = torch.tensor([lo0 - 2.0, lo0 - 1.0], dtype=torch.float64)
    _, dh, _ = bias(H, torch.full_like(H, 30.0))
    assert dh.tolist() == pytest.approx([2000.0 / 1700.0 - 1.0] * 2, rel=0.05)


def test_beyond_the_grid_a_clip_honouring_bias_runs_at_the_window_edges():
    """With the clip's slopes (staged and frozen biases), a walker below the enthalpy grid runs at T_min and
    one above at T_max, the bias is continuous at the edge and still the gradient of its value, and the
    O-force there is the edge's, bounded however far the walker went (with the edge's own slope it grows
    with the distance: what held a third of a 108-atom Ni run in an over-ordered crystal below the grid)."""
    t0, t_min, t_max = 2000.0, 1700.0, 2300.0
    s_min, s_max = t0 / t_max, t0 / t_min
    bias = _random_bias().honour_clip(s_min, s_max)
    assert bias.beyond_slopes == pytest.approx((s_max - 1.0, s_min - 1.0))
    old = Bias2D((bias.h_lo, bias.h_hi), (bias.o_lo, bias.o_hi), bias.n_h, bias.n_o, bias.coef)
    g = torch.Generator().manual_seed(9)
    O = bias.o_lo + (bias.o_hi - bias.o_lo) * torch.rand(6, generator=g, dtype=torch.float64)
    below = bias.h_lo - torch.tensor([0.5, 2.0, 8.0, 20.0, 40.0, 80.0], dtype=torch.float64)
    above = bias.h_hi + torch.tensor([0.5, 2.0, 8.0, 20.0, 40.0, 80.0], dtype=torch.float64)
    for H, t_expected in ((below, t_min), (above, t_max)):
        v, d_h, d_o = bias(H, O)
        np.testing.assert_allclose(t0 / (1.0 + d_h.numpy()), t_expected, rtol=1e-12)
        e = 1e-6
        fd_h = (bias(H + e, O)[0] - bias(H - e, O)[0]) / (2 * e)
        fd_o = (bias(H, O + e)[0] - bias(H, O - e)[0]) / (2 * e)
        assert torch.allclose(fd_h, d_h, atol=1e-6) and torch.allclose(fd_o, d_o, atol=1e-6)
        edge_h = torch.full_like(H, bias.h_lo if t_expected == t_min else bias.h_hi)
        v_edge, _, d_o_edge = bias(edge_h, O)
        assert torch.allclose(d_o, d_o_edge, atol=1e-12)  # the edge's O-force, whatever the distance
        assert torch.allclose(v, v_edge + d_h * (H - edge_h), atol=1e-9)  # continuous at the edge
    # the old continuation's O-force grows with the distance below the grid (the test is not vacuous)
    far = old(torch.full((2,), bias.h_lo - 80.0, dtype=torch.float64), O[:2])[2]
    near = old(torch.full((2,), bias.h_lo - 0.5, dtype=torch.float64), O[:2])[2]
    assert float((far - near).abs().max()) > 1e-3
    # inside the grid both continuations are the same numbers
    H_in = bias.h_lo + (bias.h_hi - bias.h_lo) * torch.rand(50, generator=g, dtype=torch.float64)
    O_in = bias.o_lo + (bias.o_hi - bias.o_lo) * torch.rand(50, generator=g, dtype=torch.float64)
    for a, b in zip(bias(H_in, O_in), old(H_in, O_in), strict=True):
        assert torch.equal(a, b)
    # the slopes travel with the bias: state dict, and the stored stage and frozen-bias JSON
    assert Bias2D.from_state_dict(bias.state_dict()).beyond_slopes == bias.beyond_slopes
    from nnpdistill.md.momt_store import read_stages
    from nnpdistill.md.run import _bias_json, read_bias

    wl = WangLandau(bias, t0)
    back, _ = read_bias({"momt_frozen_bias_json": _bias_json(bias, wl)}, frozen=True)
    stages = {"h_range_eV": [bias.h_lo, bias.h_hi], "o_range": [bias.o_lo, bias.o_hi], "n_h": bias.n_h,
              "n_o": bias.n_o, "n_walkers": 1,
              "stages": [{"start_round": 0, "ln_f": 1.0, "coef": bias.coef.tolist(),
                          "beyond_slopes": list(bias.beyond_slopes)}]}
    (staged,), _, _, _ = read_stages({"momt_stages_json": json.dumps(stages)})
    for b in (back, staged):
        for a, c in zip(b(below, O), bias(below, O), strict=True):
            assert torch.equal(a, c)
    # a store made before the slopes keeps its own continuation
    del stages["stages"][0]["beyond_slopes"]
    (legacy,), _, _, _ = read_stages({"momt_stages_json": json.dumps(stages)})
    assert legacy.beyond_slopes is None
    with pytest.raises(ConfigError, match="beyond_slopes"):
        Bias2D((0.0, 1.0), (0.0, 1.0), 4, 4, beyond_slopes=(-1.5, 0.0))


def test_a_walker_past_the_enthalpy_grid_deposits_on_its_edge():
    """Wang-Landau deposits of a walker below (or above) the enthalpy grid land on the edge it left, with
    the weights of the clamped point, so the bias there rises and its O-gradient pushes the walker away
    from where it sits (the over-ordered-crystal sink of the 108-atom Ni runs fills); the histogram counts
    the edge node; a walker beyond the order-parameter range deposits nothing."""
    t0, s_min, s_max = 2000.0, 2000.0 / 2300.0, 2000.0 / 1700.0
    grid = Bias2D((-511.0, -454.0), (-5.0, 113.0), 12, 10)
    wl = WangLandau(grid, t0, ln_f_initial=1.0)
    H = torch.tensor([-513.0, -440.0, -480.0], dtype=torch.float64)  # below, above, beyond O
    O = torch.tensor([99.0, 5.0, 130.0], dtype=torch.float64)
    for _ in range(20):
        wl.update(H, O)
    assert wl.n_deposits == 40  # two walkers a round: the one beyond O deposits nothing
    on_edge = grid(torch.tensor([grid.h_lo, grid.h_hi], dtype=torch.float64), O[:2])[0]
    assert float(on_edge.min()) > 0.5  # the edge rose where the walkers are (20 x kT0 x weights ~ 0.86 eV)
    ih, io, _ = grid.node_index(torch.tensor([grid.h_lo, grid.h_hi]), O[:2])
    assert float(wl.visits[ih[0], io[0]]) == 20 and float(wl.visits[ih[1], io[1]]) == 20
    # the walker below the grid, on the clip-honouring snapshot, is pushed off its O: the bias is a
    # maximum in O where it deposited
    acting = grid.honour_clip(s_min, s_max)
    do = grid.do
    v = [acting(H[:1], O[:1] + k * do)[0].item() for k in (-1.5, 0.0)]
    assert v[1] > v[0] + 0.5
