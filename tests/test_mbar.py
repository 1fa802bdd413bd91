"""MBAR over Wang-Landau stages: the Newton solver that re-solves bootstrap replicas from the full data's
free energies must land where pymbar does, also for stages tens of k_B T apart and replicas that drop
frames or a whole stage, and the estimate without a start stays pymbar's."""

import numpy as np
import pytest

from nnpdistill.md import mbar
from nnpdistill.md.mbar import mbar_log_density, newton_free_energies


def _stages(rng, a=(0.0, 0.25, 0.6, 1.5), k=60, n_per=1500):
    """Gamma draws H ~ Ω(H) e^{-(1 + a_j) H} per stage: exact f_j = k ln(1 + a_j) (energies in k_B T0)."""
    a = np.asarray(a)
    H = np.concatenate([rng.gamma(k, 1 / (1 + aj), size=n_per) for aj in a])
    return (1 + a)[:, None] * H[None, :], np.repeat(np.arange(a.size), n_per), k * np.log(1 + a)


def _pymbar_f(u_kn, stage, mult):
    idx = np.repeat(np.arange(stage.size), mult)
    idx = idx[np.argsort(stage[idx], kind="stable")]
    n_k = np.bincount(stage[idx], minlength=u_kn.shape[0])
    used = n_k > 0
    remap = np.cumsum(used) - 1
    m = mbar._import_mbar()(u_kn[used][:, idx], n_k[used], x_kindices=remap[stage[idx]],
                            solver_protocol="robust")
    return np.asarray(m.f_k)


def test_newton_replicas_match_pymbar_and_the_exact_free_energies():
    rng = np.random.default_rng(3)
    u_kn, stage, exact = _stages(rng)
    _, f_full = mbar_log_density(u_kn, stage)
    assert np.allclose(f_full - f_full[0], exact - exact[0], atol=0.1)
    assert exact[-1] - exact[0] > 50  # stages tens of k_B T apart, as Wang-Landau stages are
    walker = np.tile(np.arange(10), stage.size // 10)
    for r in range(4):
        mult = np.bincount(rng.integers(0, 10, 10), minlength=10)[walker]
        if r == 3:  # a replica without one stage's frames
            mult = np.where(stage == 2, 0, mult)
        log_den, f = mbar_log_density(u_kn, stage, mult, f_full)
        ref = _pymbar_f(u_kn, stage, mult)
        used = np.isfinite(f)
        assert used.sum() == (3 if r == 3 else 4)
        np.testing.assert_allclose(f[used] - f[used][0], ref - ref[0], atol=1e-7)
        # the density: ln Σ_k N_k exp(f_k − u_kn) with those f_k
        n_k = np.bincount(stage, weights=mult, minlength=4)[used]
        a = np.log(n_k)[:, None] + f[used][:, None] - u_kn[used]
        np.testing.assert_allclose(log_den, np.log(np.exp(a).sum(0)), rtol=1e-10, atol=1e-12)


def test_newton_reports_failure_and_pymbar_takes_over(monkeypatch):
    rng = np.random.default_rng(5)
    u_kn, stage, _ = _stages(rng, a=(0.0, 0.5), n_per=400)
    n_k = np.bincount(stage).astype(float)
    w = np.ones(stage.size)
    assert newton_free_energies(u_kn, n_k, w, np.zeros(2), max_iter=0) is None
    f = newton_free_energies(u_kn, n_k, w, np.zeros(2))  # cold, but a convex problem: it converges
    _, f_ref = mbar_log_density(u_kn, stage)
    assert f == pytest.approx(f_ref - f_ref[0], abs=1e-7)
    calls = []
    monkeypatch.setattr(mbar, "newton_free_energies", lambda *a, **k: calls.append(1))  # returns None
    _, f_fallback = mbar_log_density(u_kn, stage, np.ones(stage.size, int), f_ref)
    assert calls and f_fallback == pytest.approx(f_ref, abs=1e-7)


def test_newton_from_zero_finds_stages_tens_of_kT_apart():
    """The estimator choice solves each candidate from f = 0: on stages up to 55 k_B T apart (and a bias
    the size of Wang-Landau's, 151 stages) Newton lands on pymbar's free energies."""
    rng = np.random.default_rng(9)
    for a in ((0.0, 0.25, 0.6, 1.5), np.linspace(0.0, 0.3, 151) ** 2):
        u_kn, stage, _ = _stages(rng, a=a, n_per=300, k=400 if len(a) > 4 else 60)
        _, f_ref = mbar_log_density(u_kn, stage)
        _, f = mbar_log_density(u_kn, stage, initial_f_k=np.zeros(len(a)))
        assert f_ref[-1] - f_ref[0] > 30
        np.testing.assert_allclose(f - f[0], f_ref - f_ref[0], atol=1e-6)


def test_stage_biases_on_one_grid_evaluate_as_each_bias_does():
    """bias_values shares the spline weights between biases on one grid: every row must equal the bias's
    own value bitwise, inside the grid and beyond its enthalpy and order ranges, with fixed beyond-slopes
    and with the edge's own slope; biases on different grids still evaluate one by one."""
    import torch

    from nnpdistill.md.momt import Bias2D, bias_values

    rng = np.random.default_rng(1)
    H = torch.tensor(rng.uniform(-1.0, 11.0, 500))
    O = torch.tensor(rng.uniform(-5.0, 40.0, 500))
    for slopes in ((-0.2, 0.3), None):
        biases = []
        for k in range(5):
            b = Bias2D((0.0, 10.0), (0.0, 32.0), 12, 9, beyond_slopes=slopes)
            b.coef = torch.tensor(rng.normal(0, 0.5 * (k + 1), b.coef.shape))
            biases.append(b)
        ref = np.stack([b(H, O)[0].numpy() for b in biases])
        np.testing.assert_array_equal(bias_values(biases, H, O), ref)
    other = Bias2D((0.0, 12.0), (0.0, 32.0), 12, 9)
    mixed = [biases[0], other]
    np.testing.assert_array_equal(bias_values(mixed, H, O), np.stack([b(H, O)[0].numpy() for b in mixed]))
    assert bias_values([], H, O).shape == (0, 500)
