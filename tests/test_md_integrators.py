"""Statistical tests of the batched Langevin + stochastic cell rescaling integrator on exactly solvable
models (Einstein crystal with a volume term; ideal gas). Many walkers give statistics fast; tolerances
are 5 standard errors estimated from walker-to-walker scatter of the time averages."""

import math

import pytest
import torch

from nnpdistill.errors import ConfigError
from nnpdistill.md.integrators import LangevinNPT, MDState, maxwell_boltzmann, plain_forces, pressure_bar
from nnpdistill.md.models import EinsteinCrystal, fcc_sites_frac
from nnpdistill.units import BAR_EV_PER_A3, KB_EV_PER_K

torch.set_num_threads(1)
MASS = 58.69


def _state(B, L, a, T, gen):
    sites = fcc_sites_frac(L)
    N = sites.shape[0]
    cell = torch.eye(3, dtype=torch.float64) * a * L
    pos = (sites @ cell).expand(B, N, 3).clone()
    masses = torch.full((N,), MASS, dtype=torch.float64)
    mom = maxwell_boltzmann(masses, T, (B, N), gen)
    return MDState(pos, mom, cell.expand(B, 3, 3).clone(), masses), sites


def _run(integ, state, model, n_equil, n_prod, every=5):
    fn = plain_forces(model)
    f, s, aux = fn(state.positions, state.cells)
    rec = []
    for i in range(n_equil + n_prod):
        f, s, aux = integ.step(state, fn, f, s)
        if i >= n_equil and i % every == 0:
            rec.append((state.temperature_K(), state.volumes(), aux.energy, pressure_bar(state, s)))
    return [torch.stack(x) for x in zip(*rec, strict=True)]  # each (T, B)


def _mean_and_err(x):
    """Grand mean of (time, walker) samples and its standard error from the walker means."""
    wm = x.mean(0)
    return float(wm.mean()), float(wm.std() / math.sqrt(wm.numel()))


def test_nvt_einstein_temperature_and_energy():
    gen = torch.Generator().manual_seed(1)
    T = 800.0
    state, sites = _state(64, 2, 3.52, T, gen)
    model = EinsteinCrystal(sites, k_eV_per_A2=2.0)
    integ = LangevinNPT(2.0, T, thermostat_tau_fs=50.0, barostat_tau_fs=None, generator=gen)
    temps, _, energy, _ = _run(integ, state, model, 500, 2000)
    t_mean, t_err = _mean_and_err(temps)
    assert abs(t_mean - T) < 5 * t_err + 1e-9, (t_mean, t_err)
    # ⟨U⟩ = 3N kT/2 exactly for the Einstein crystal
    n = sites.shape[0]
    u_mean, u_err = _mean_and_err(energy / (1.5 * n * KB_EV_PER_K))
    assert abs(u_mean - T) < 5 * u_err, (u_mean, u_err)
    # kinetic temperature fluctuations: Var(T)/T² = 2/(3N)
    var_rel = float(temps.var(0).mean()) / T**2
    assert abs(var_rel - 2 / (3 * n)) < 0.1 * 2 / (3 * n)
    assert t_err < 3.0  # statistics are tight enough to catch a 2 % temperature error


def test_npt_einstein_volume_distribution():
    gen = torch.Generator().manual_seed(2)
    T, P_bar = 1000.0, 1.0e4
    L, a = 2, 3.52
    v0 = (a * L) ** 3
    b0 = 1.0  # eV/Å³ (160 GPa)
    state, sites = _state(64, L, a, T, gen)
    model = EinsteinCrystal(sites, k_eV_per_A2=1.0, bulk_modulus_eV_per_A3=b0, v0_A3=v0)
    integ = LangevinNPT(4.0, T, pressure_bar=P_bar, thermostat_tau_fs=100.0, barostat_tau_fs=200.0,
                        compressibility_per_bar=BAR_EV_PER_A3 / b0, generator=gen)
    temps, vols, _, press = _run(integ, state, model, 500, 3000)
    p0 = P_bar * BAR_EV_PER_A3
    v_expect = v0 * (1 - p0 / b0)
    var_expect = KB_EV_PER_K * T * v0 / b0
    v_mean, v_err = _mean_and_err(vols)
    assert abs(v_mean - v_expect) < 5 * v_err, (v_mean, v_expect, v_err)
    var_w = vols.var(0)
    var_mean, var_err = float(var_w.mean()), float(var_w.std() / math.sqrt(var_w.numel()))
    assert abs(var_mean - var_expect) < 5 * var_err + 0.02 * var_expect, (var_mean, var_expect, var_err)
    p_mean, p_err = _mean_and_err(press)
    assert abs(p_mean - P_bar) < 5 * p_err, (p_mean, p_err)
    t_mean, t_err = _mean_and_err(temps)
    assert abs(t_mean - T) < 5 * t_err


def test_npt_ideal_gas_volume():
    """Ideal gas: ⟨V⟩ = (N+1) kT/P0, Var V = (N+1)(kT/P0)²; checks the barostat's kinetic pressure."""
    gen = torch.Generator().manual_seed(3)
    T, P_bar = 1000.0, 1.0e4
    state, sites = _state(128, 1, 5.0, T, gen)  # 4 atoms
    n = sites.shape[0]
    model = EinsteinCrystal(sites, k_eV_per_A2=0.0)
    integ = LangevinNPT(4.0, T, pressure_bar=P_bar, thermostat_tau_fs=100.0, barostat_tau_fs=200.0,
                        compressibility_per_bar=1.0 / P_bar, generator=gen)
    _, vols, _, _ = _run(integ, state, model, 500, 3000)
    kt_p = KB_EV_PER_K * T / (P_bar * BAR_EV_PER_A3)
    v_mean, v_err = _mean_and_err(vols)
    assert abs(v_mean - (n + 1) * kt_p) < 5 * v_err, (v_mean, (n + 1) * kt_p, v_err)
    # with N instead of N+1 the mean would be off by kT/P0: make sure the test can see that
    assert 5 * v_err < 0.5 * kt_p
    rel_var = float(vols.var()) / ((n + 1) * kt_p**2)
    assert abs(rel_var - 1) < 0.1


def test_nve_energy_conservation():
    gen = torch.Generator().manual_seed(4)
    state, sites = _state(4, 2, 3.52, 500.0, gen)
    model = EinsteinCrystal(sites, k_eV_per_A2=2.0)
    integ = LangevinNPT(1.0, 500.0, thermostat_tau_fs=None, barostat_tau_fs=None, generator=gen)
    fn = plain_forces(model)
    f, s, aux = fn(state.positions, state.cells)
    e0 = aux.energy + state.kinetic_energy()
    drift = []
    for _ in range(2000):
        f, s, aux = integ.step(state, fn, f, s)
        drift.append((aux.energy + state.kinetic_energy() - e0).abs().max())
    assert float(max(drift)) < 1e-3 * float(e0.abs().max() + 1)


def test_orthorhombic_mode_runs_and_keeps_pressure():
    gen = torch.Generator().manual_seed(5)
    T = 600.0
    L, a = 2, 3.52
    v0 = (a * L) ** 3
    state, sites = _state(16, L, a, T, gen)
    model = EinsteinCrystal(sites, k_eV_per_A2=1.0, bulk_modulus_eV_per_A3=1.0, v0_A3=v0)
    integ = LangevinNPT(4.0, T, pressure_bar=1.0, thermostat_tau_fs=100.0, barostat_tau_fs=200.0,
                        compressibility_per_bar=BAR_EV_PER_A3, barostat_mode="orthorhombic", generator=gen)
    _, vols, _, _ = _run(integ, state, model, 200, 1000)
    assert abs(float(vols.mean()) - v0) < 0.02 * v0
    off = state.cells - torch.diag_embed(torch.diagonal(state.cells, dim1=1, dim2=2))
    assert float(off.abs().max()) == 0.0


def test_bad_settings():
    with pytest.raises(ConfigError, match="timestep_fs"):
        LangevinNPT(0.0, 300.0)
    with pytest.raises(ConfigError, match="temperature_K"):
        LangevinNPT(1.0, -5.0)
    with pytest.raises(ConfigError, match="barostat_mode"):
        LangevinNPT(1.0, 300.0, barostat_mode="triclinic")


def test_same_seed_same_trajectory():
    outs = []
    for _ in range(2):
        gen = torch.Generator().manual_seed(9)
        state, sites = _state(4, 2, 3.52, 700.0, gen)
        model = EinsteinCrystal(sites, k_eV_per_A2=1.0, bulk_modulus_eV_per_A3=1.0, v0_A3=350.0)
        integ = LangevinNPT(2.0, 700.0, thermostat_tau_fs=100.0, barostat_tau_fs=200.0, generator=gen)
        _run(integ, state, model, 0, 100)
        outs.append(state.positions.clone())
    assert torch.equal(outs[0], outs[1])
