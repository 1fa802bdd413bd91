"""Reweighting with a known bias recovers canonical averages; plots and the CLI run end to end."""


import json

import numpy as np
import pandas as pd
import pytest
import torch

from nnpdistill.cli import main as cli_main
from nnpdistill.errors import ConfigError
from nnpdistill.md.models import EinsteinCrystal, fcc_sites_frac
from nnpdistill.md.momt import Bias2D
from nnpdistill.md.plotting import plot_sampling
from nnpdistill.md.reweight import melting_temperature, reweight
from nnpdistill.md.run import MOMTParams, Potential, RunSettings, run_sampling
from nnpdistill.md.setup import MDParams
from nnpdistill.units import KB_EV_PER_K

torch.set_num_threads(1)


def _no_nan(name):
    raise AssertionError(f"{name} in JSON output")


def test_reweight_recovers_gamma_canonical():
    """Ω(H) ∝ H^(k−1): canonical ⟨H⟩_T = k k_B T, Var H = k (k_B T)². A linear bias ΔH = c H makes the
    MOMT run at T0 sample the canonical distribution at T1 = T0/(1+c); reweighting must undo it."""
    rng = np.random.default_rng(0)
    k, t0, t1 = 50, 2000.0, 1500.0
    H = rng.gamma(k, KB_EV_PER_K * t1, size=200_000)
    O = rng.uniform(0, 32, size=H.size)
    bias = Bias2D((0.0, float(H.max()) + 1), (-5.0, 37.0), 30, 8)
    c = t0 / t1 - 1
    bias.fit(lambda h, o: c * h)
    temps = [1300.0, 1500.0, 1700.0]
    table, _ = reweight(H, O, bias, t0, temps, n_atoms=1, n_bootstrap=0)
    expect = k * KB_EV_PER_K * np.array(temps)
    assert np.allclose(table["enthalpy_eV_per_atom"], expect, rtol=5e-3), table
    assert np.allclose(table["cp_config_kB_per_atom"], k, rtol=0.05)
    # a wrong reference temperature gives a visibly wrong answer
    bad, _ = reweight(H, O, bias, 1.2 * t0, temps, n_atoms=1, n_bootstrap=0)
    assert not np.allclose(bad["enthalpy_eV_per_atom"], expect, rtol=2e-2)


def test_melting_temperature_crossing():
    import pandas as pd

    t = pd.DataFrame({"temperature_K": [1000.0, 1500.0, 2000.0], "p_solid": [1.0, 0.75, 0.25],
                      "cp_config_kB_per_atom": [1.0, 3.0, 2.0], "n_eff": [500.0, 500.0, 500.0]})
    tm = melting_temperature(t)
    assert tm["t_melt_p_solid_K"] == pytest.approx(1750.0) and tm["t_melt_cp_peak_K"] == 1500.0
    # a peak at the edge, a crossing without support, and two crossings are reported in words
    edge = t.assign(cp_config_kB_per_atom=[3.0, 2.0, 1.0])
    assert melting_temperature(edge)["t_melt_cp_peak_K"] is None
    assert "edge" in melting_temperature(edge)["t_melt_cp_peak_reason"]
    thin = t.assign(n_eff=[500.0, 500.0, 3.0])
    assert melting_temperature(thin)["t_melt_p_solid_K"] is None
    twice = t.assign(p_solid=[0.25, 0.75, 0.25])
    assert "more than once" in melting_temperature(twice)["t_melt_p_solid_reason"]
    # one phase carries all the weight (the sixth 108-atom Ni run: P_solid = 1 over 1901-2300 K): its C_P
    # maximum holds no latent heat and is withheld, with the temperature kept beside the reason
    solid = t.assign(p_solid=[1.0, 1.0, 0.97])
    one = melting_temperature(solid)
    assert one["t_melt_cp_peak_K"] is None and one["t_melt_cp_peak_unsupported_K"] == 1500.0
    assert "not melting" in one["t_melt_cp_peak_reason"]
    assert melting_temperature(t.assign(p_solid=[1.0, 0.9, 0.8]))["t_melt_cp_peak_K"] == 1500.0  # both weigh
    # bootstrap replicas: the error comes from those crossing once inside the supported range; when fewer
    # than half do (the 108-atom Al run on the q6 coordinate: its crossing sat at the support's edge),
    # the summary says the error understates the uncertainty
    near_edge = t.assign(n_eff=[3.0, 500.0, 500.0])  # supported: 1500-2000 K
    boot = np.array([[1.0, 0.8, 0.3], [1.0, 0.7, 0.2], [1.0, 0.45, 0.1], [1.0, 0.4, 0.2]])
    tb = melting_temperature(near_edge, boot)
    assert tb["t_melt_p_solid_bootstrap_fraction"] == 0.5 and "t_melt_p_solid_caution" not in tb
    assert tb["t_melt_p_solid_err_K"] == pytest.approx(np.std([1800.0, 1700.0], ddof=1))
    tb = melting_temperature(near_edge, np.vstack([boot, [[1.0, 0.3, 0.1]]]))
    assert tb["t_melt_p_solid_bootstrap_fraction"] == 0.4 and "understates" in tb["t_melt_p_solid_caution"]
    with pytest.raises(ConfigError):
        reweight(np.array([]), np.array([]), Bias2D((0, 1), (0, 1), 4, 4), 1000.0, [1000.0], 1)


def test_plots_and_cli_reweight(tmp_path):
    a = 3.52
    pot = Potential(lambda: EinsteinCrystal(fcc_sites_frac(2), 2.0, 1.0, (2 * a) ** 3), "Ni", 28, 58.69, a)
    stores = {}
    for method in ("npt_fcc", "npt_liq", "momt"):
        s = RunSettings(method=method, n_frames=40, n_walkers=4, frame_stride=5, temperature_K=1500.0, seed=1,
                        equilibration_steps=10, melt_steps=10, quench_steps=10, md=MDParams(timestep_fs=2.0),
                        momt=MOMTParams(t_min_K=800.0, t_max_K=3000.0, update_stride=3, n_h=8, n_o=8))
        bias = Bias2D((-1.0, 6.0), (-5.0, 37.0), 8, 8)
        stores[method] = run_sampling(tmp_path / f"{method}.h5", pot, s, 32, bias=bias)
    pngs = [tmp_path / f"{n}.png" for n in ("e", "v", "b", "t")]
    plot_sampling(stores, *pngs)
    assert all(p.stat().st_size > 5000 for p in pngs)
    csv = tmp_path / "rw.csv"
    rc = cli_main(["sample", "reweight", str(stores["momt"]), "--csv", str(csv), "--t-min-K", "1000",
                   "--t-max-K", "2000", "--n-temperatures", "11", "--skip-fraction", "0",
                   "--plots", str(tmp_path / "plots")])
    assert rc == 0 and csv.exists() and len(csv.read_text().splitlines()) == 12
    summary = json.loads((tmp_path / "rw.json").read_text(), parse_constant=_no_nan)
    assert "t_melt_p_solid_K" in summary and summary["n_production_frames"] > 0
    assert all((tmp_path / "plots" / f"{n}.png").stat().st_size > 5000
               for n in ("reweight", "free_energy", "flatness"))
    assert cli_main(["sample", "reweight", str(stores["npt_fcc"]), "--csv", str(csv)]) == 2  # not MOMT


def test_bootstrap_errors_cover_the_exact_answer():
    """Correlated frames (each walker repeats every draw 5 times) from the biased Gamma model: the block
    bootstrap's error bars contain the exact ⟨H⟩ and C_P where the data support the temperature, and
    they are honest (not tiny: an i.i.d. bootstrap would be √5 too small)."""
    rng = np.random.default_rng(1)
    k, t0, t1 = 40, 2000.0, 1600.0
    n_walkers, n_per = 8, 400
    draws = rng.gamma(k, KB_EV_PER_K * t1, size=(n_walkers, n_per))
    H = np.repeat(draws, 5, axis=1).T.reshape(-1)  # walker-minor order, as the run writes frames
    walker = np.tile(np.arange(n_walkers), n_per * 5)
    O = np.full(H.size, 30.0)
    bias = Bias2D((0.0, float(H.max()) + 1), (-5.0, 37.0), 30, 8)
    bias.fit(lambda h, o: (t0 / t1 - 1) * h)
    temps = np.array([1450.0, 1600.0, 1750.0])
    table, _ = reweight(H, O, bias, t0, temps, n_atoms=1, walker=walker, n_blocks=10, n_bootstrap=300)
    exact_h = k * KB_EV_PER_K * temps
    z_h = (table["enthalpy_eV_per_atom"] - exact_h) / table["enthalpy_err_eV_per_atom"]
    z_cp = (table["cp_config_kB_per_atom"] - k) / table["cp_config_err_kB_per_atom"]
    assert np.all(np.abs(z_h) < 3.5) and np.all(np.abs(z_cp) < 3.5), (z_h, z_cp)
    iid = np.sqrt(k) * KB_EV_PER_K * 1600.0 / np.sqrt(H.size)
    assert table["enthalpy_err_eV_per_atom"].iloc[1] > 1.6 * iid


def test_whole_walker_bootstrap_sees_walkers_that_never_leave_their_phase():
    """n_blocks = 1 resamples whole walkers. Walkers that stay in one phase all run (a long basin residence,
    as in a 108-atom MOMT run with a handful of crossings) carry one independent phase label each: the
    error of P_solid is then the binomial sqrt(p (1 - p) / n_walkers), which the walker bootstrap gives
    and ten blocks per walker understate by about sqrt(10)."""
    rng = np.random.default_rng(3)
    n_walkers, n_per = 40, 200
    solid_walker = rng.random(n_walkers) < 0.5
    walker = np.tile(np.arange(n_walkers), n_per)
    solid = solid_walker[walker]
    H = rng.normal(0.0, 0.01, walker.size) + np.where(solid, -1.0, 1.0)
    O = np.where(solid, 30.0, 5.0)
    bias = Bias2D((-2.0, 2.0), (-5.0, 37.0), 20, 8)
    bias.fit(lambda h, o: 0.0 * h)
    t0 = 1000.0
    errs = {}
    for nb in (1, 10):
        table, reps = reweight(H, O, bias, t0, [t0], n_atoms=1, walker=walker, n_blocks=nb, n_bootstrap=400,
                               solid=solid)
        assert table["p_solid"].iloc[0] == pytest.approx(solid_walker.mean())
        errs[nb] = float(table["p_solid_err"].iloc[0])
    p = solid_walker.mean()
    binomial = np.sqrt(p * (1 - p) / n_walkers)
    assert errs[1] == pytest.approx(binomial, rel=0.2)
    assert errs[10] == pytest.approx(binomial / np.sqrt(10), rel=0.25)
    with pytest.raises(ConfigError, match="n_blocks >= 1"):
        reweight(H, O, bias, t0, [t0], n_atoms=1, walker=walker, n_blocks=0)
    with pytest.raises(ConfigError, match="this run has one"):  # one walker: nothing to resample
        reweight(H, O, bias, t0, [t0], n_atoms=1, walker=np.zeros_like(walker), n_blocks=1)


def _einstein(a=3.52):
    return Potential(lambda: EinsteinCrystal(fcc_sites_frac(2), 1.0, 1.0, (2 * a) ** 3), "Ni", 28, 58.69, a)


def test_frozen_bias_momt_reweights_to_exact_and_to_plain_npt(tmp_path):
    """MOMT on the Einstein crystal with a frozen multithermal bias. Its potential enthalpy has (3N+1)/2
    quadratic degrees of freedom (3N springs, the volume), so ⟨H⟩_T = H_min + (3N+1)/2 k_B T exactly.
    Reweighting the production frames must give that at T0 and at other temperatures, within error
    bars, and agree at T0 with a plain NPT run."""
    from nnpdistill.md.reweight import reweight_store

    pot = _einstein()
    n, t0 = 32, 1500.0
    dof = (3 * n + 1) / 2
    h_mid = dof * KB_EV_PER_K * t0
    bias = Bias2D((0.0, 3 * h_mid), (-5.0, 37.0), 12, 6)
    bias.fit(lambda h, o: 0.25 * (h - h_mid) - 0.02 * (h - h_mid) ** 2 / h_mid)  # T_eff 1150-1400 K
    common = dict(n_frames=2400, n_walkers=8, frame_stride=20, temperature_K=t0, seed=3,
                  equilibration_steps=400, md=MDParams(timestep_fs=5.0))
    momt = RunSettings(method="momt", momt=MOMTParams(t_min_K=500.0, t_max_K=4000.0, n_h=12, n_o=6,
                                                      production_fraction=1.0), **common)
    run_sampling(tmp_path / "momt.h5", pot, momt, n, bias=bias)
    temps = np.array([1150.0, 1300.0, t0])
    table, summary = reweight_store(tmp_path / "momt.h5", temps, skip_fraction=0.0, n_blocks=10,
                                    n_bootstrap=200)
    assert summary["clipped_production_frames"] == 0 and summary["n_production_frames"] == 2400
    # a model without a phase transition: no melting point, and the summary says why instead of a number
    assert summary["t_melt_p_solid_K"] is None and summary["t_melt_p_solid_reason"]
    exact = dof * KB_EV_PER_K * temps / n  # H_min = P0 V0 (1 bar) is negligible here
    z = (table["enthalpy_eV_per_atom"] - exact) / table["enthalpy_err_eV_per_atom"]
    assert np.all(np.abs(z) < 4.0), (table, z)
    assert np.all(table["n_eff"] > 100)
    # plain NPT at T0 with the same model
    run_sampling(tmp_path / "npt.h5", pot, RunSettings(method="npt_fcc", **common), n)
    from nnpdistill.frames import FrameStore

    with FrameStore(tmp_path / "npt.h5") as st:
        h_npt = st.meta("enthalpy_eV").reshape(-1, 8) / n
    blocks = h_npt.reshape(10, -1).mean(1)
    npt_mean, npt_err = h_npt.mean(), blocks.std(ddof=1) / np.sqrt(10)
    rw, rw_err = table["enthalpy_eV_per_atom"].iloc[-1], table["enthalpy_err_eV_per_atom"].iloc[-1]
    assert abs(rw - npt_mean) < 4 * np.hypot(rw_err, npt_err), (rw, rw_err, npt_mean, npt_err)
    assert abs(npt_mean - exact[-1]) < 4 * npt_err


def test_two_state_melting_point_and_monotonic_curves():
    """A two-state 'metal' with a known density of states: Ω(H) = Ω_s(H) + g Ω_s(H − L), Ω_s ∝ H^(k−1)
    (latent heat L, entropy of fusion k_B ln g), so P_solid(T) = 1 / (1 + g e^(−L/k_B T)) exactly and
    T_m = L / (k_B ln g). Frames drawn exactly from the biased ensemble of a linear frozen bias (T_eff
    near T_m) must give T_m within its error bar, a P_solid that falls and an ⟨H⟩ that rises with T."""
    rng = np.random.default_rng(7)
    n_atoms, k = 108, 160
    latent, ln_g = 108 * 0.17, 108 * 0.17 / (KB_EV_PER_K * 1850.0)  # T_m = 1850 K, L = 0.17 eV/atom
    t_m = latent / (KB_EV_PER_K * ln_g)
    t0, t_eff = 2000.0, 1850.0
    beta_eff = 1 / (KB_EV_PER_K * t_eff)
    p_liq = 1 / (1 + np.exp(-ln_g + beta_eff * latent))  # liquid weight at T_eff
    n_walkers, n_per = 16, 500
    liquid = rng.random((n_per, n_walkers)) < p_liq
    H = rng.gamma(k, 1 / beta_eff, size=(n_per, n_walkers)) + latent * liquid
    O = np.where(liquid, 0.05, 0.9) * n_atoms + rng.normal(0, 2, size=H.shape)
    walker = np.tile(np.arange(n_walkers), n_per)
    bias = Bias2D((0.0, float(H.max()) + 10), (-5.0, n_atoms + 5.0), 40, 8)
    bias.fit(lambda h, o: (t0 / t_eff - 1) * h)
    temps = np.linspace(1700.0, 2000.0, 61)
    table, boot = reweight(H.reshape(-1), O.reshape(-1), bias, t0, temps, n_atoms, walker=walker,
                           n_bootstrap=200)
    exact_ps = 1 / (1 + np.exp(ln_g - latent / (KB_EV_PER_K * temps)))
    z = (table["p_solid"] - exact_ps) / table["p_solid_err"]
    assert np.all(np.abs(z[table["n_eff"] > 200]) < 4), z
    tm = melting_temperature(table, boot)
    err = tm["t_melt_p_solid_err_K"]
    assert err and abs(tm["t_melt_p_solid_K"] - t_m) < 3 * err, tm
    assert tm["t_melt_p_solid_err_K"] < 20.0
    assert np.all(np.diff(table["p_solid"]) < 0) and np.all(np.diff(table["enthalpy_eV_per_atom"]) > 0)
    assert tm["t_melt_cp_peak_K"] == pytest.approx(t_m, abs=40.0)  # the latent-heat peak


def test_melting_estimate_is_withheld_when_walkers_do_not_cross(tmp_path):
    """Two-state frames written as a MOMT store in which every walker stays in its phase: the P_solid
    crossing exists, but the phase balance was never sampled, so the summary withholds it."""
    from nnpdistill.frames import Frames, write_frames
    from nnpdistill.md.reweight import reweight_store
    from nnpdistill.md.run import _bias_json

    rng = np.random.default_rng(3)
    n_atoms, n_walkers, n_per = 4, 8, 200
    liquid = np.tile(np.arange(n_walkers) % 2 == 1, n_per)  # walkers 1, 3, 5, 7 liquid for ever
    H = rng.gamma(40, KB_EV_PER_K * 1000.0, size=liquid.size) + 0.5 * liquid
    O = np.where(liquid, 0.1, 3.8) * np.ones(liquid.size)
    bias = Bias2D((0.0, float(H.max()) + 1), (-1.0, 5.0), 12, 6)
    F = liquid.size
    meta = {"enthalpy_eV": H, "order_parameter": O, "walker": np.tile(np.arange(n_walkers), n_per),
            "production": np.ones(F, dtype=np.int64), "clipped": np.zeros(F, dtype=np.int64)}
    fr = Frames(numbers=np.full((F, n_atoms), 28), positions=rng.normal(size=(F, n_atoms, 3)),
                cell=np.tile(np.eye(3) * 5, (F, 1, 1)), meta=meta)

    class _WL:
        visits = torch.zeros(12, 6)
        ln_f, n_updates, kT0 = 0.01, 1, 0.1

    attrs = {"method": "momt", "n_atoms": n_atoms, "settings": {"temperature_K": 1000.0},
             "momt_bias_json": _bias_json(bias, _WL()), "momt_frozen_bias_json": _bias_json(bias, _WL()),
             "momt_history_json": json.dumps({"freeze_round": 0, "ln_f": []})}
    write_frames(tmp_path / "stuck.h5", fr, {"element": "Ni", **attrs})
    _, summary = reweight_store(tmp_path / "stuck.h5", np.linspace(700, 1300, 31), skip_fraction=0.0,
                                min_n_eff=5, phase_by="order_parameter")  # a 4-atom model: its O is the phase
    assert summary["production_phase_switches"] == 0 and summary["basin_crossings_used"] == 0
    assert summary["walkers_crossing"] == 0 and summary["crossing_band"] == pytest.approx([0.1, 0.9])
    none = "crossed between the liquid and a crystal the cell holds without a defect 0 times"
    assert summary["t_melt_p_solid_K"] is None and none in summary["t_melt_p_solid_reason"]
    assert 700 < summary["t_melt_p_solid_unsupported_K"] < 1300  # there was a crossing: withheld, not lost
    assert summary["estimator"] == "frozen" and "record stages (momt.stage_rounds)" in \
        summary["t_melt_p_solid_reason"]
    # the liquid walkers now hover about the threshold (O/N 0.5 +- 0.2): their label flickers, no one crosses
    fr.meta["order_parameter"] = np.where(liquid, n_atoms * (0.5 + 0.2 * rng.uniform(-1, 1, F)), 3.8)
    write_frames(tmp_path / "flicker.h5", fr, {"element": "Ni", **attrs})
    _, flick = reweight_store(tmp_path / "flicker.h5", np.linspace(700, 1300, 31), skip_fraction=0.0,
                              min_n_eff=5, phase_by="order_parameter")
    assert flick["production_phase_switches"] > 100 and flick["basin_crossings_used"] == 0
    assert flick["t_melt_p_solid_K"] is None and none in flick["t_melt_p_solid_reason"]
    with pytest.raises(ConfigError, match="needs a run with Wang-Landau stages"):
        reweight_store(tmp_path / "stuck.h5", np.linspace(700, 1300, 31), estimator="mbar")
    with pytest.raises(ConfigError, match="more than 12 atoms"):
        reweight_store(tmp_path / "stuck.h5", np.linspace(700, 1300, 31), phase_by="solid_atoms")
    with pytest.raises(ConfigError, match="crossing band 0.30-1.10"):
        reweight_store(tmp_path / "stuck.h5", np.linspace(700, 1300, 31), phase_by="order_parameter",
                       o_solid_fraction=0.7)
    with pytest.raises(ConfigError, match="unknown reweight settings"):
        reweight_store(tmp_path / "stuck.h5", np.linspace(700, 1300, 31), phase="solid")


def test_solid_atoms_see_a_crystal_the_box_aligned_order_parameter_misses(tmp_path):
    """The phase split of the reweighting: 108-atom frames of an FCC crystal along [110] in the box
    (box-aligned O ~ 0, as for the misoriented crystals of the 108-atom Ni runs) beside a liquid (random
    positions) and a box-aligned crystal: phase_by solid_atoms calls both crystals solid, order_parameter
    only the aligned one; the summary says how many frames the order parameter called liquid."""
    from ase.build import bulk

    from nnpdistill.frames import Frames, write_frames
    from nnpdistill.md.order import order_parameter
    from nnpdistill.md.reweight import reweight_store
    from nnpdistill.md.run import _bias_json

    rng = np.random.default_rng(5)
    turned = bulk("Ni", "fcc", a=3.52, orthorhombic=True).repeat((3, 3, 6))
    aligned = bulk("Ni", "fcc", a=3.52, cubic=True).repeat(3)
    kinds = np.tile([0, 1, 2], 40)  # turned crystal, aligned crystal, liquid; 3 walkers
    pos, cell = [], []
    for k in kinds:
        at = (turned, aligned, aligned)[k].copy()
        p = at.positions + rng.normal(0, 0.08, at.positions.shape)
        if k == 2:
            p = rng.random((108, 3)) @ at.cell[:]
        pos.append(p)
        cell.append(at.cell[:])
    pos, cell = np.array(pos), np.array(cell)
    O = order_parameter(torch.tensor(pos), torch.tensor(cell), gradient=False)[0].numpy()
    assert O[kinds == 0].max() < 5 and O[kinds == 1].min() > 80  # the order parameter misses the turned one
    H = np.where(kinds == 2, -470.0, -500.0) + rng.normal(0, 0.5, kinds.size)
    bias = Bias2D((-520.0, -450.0), (-5.0, 113.0), 12, 6)

    class _WL:
        visits = torch.zeros(12, 6)
        ln_f, n_updates, kT0 = 0.01, 1, 0.17

    meta = {"enthalpy_eV": H, "order_parameter": O, "walker": np.tile([0, 1, 2], 40),
            "production": np.ones(kinds.size, dtype=np.int64),
            "clipped": np.zeros(kinds.size, dtype=np.int64)}
    attrs = {"method": "momt", "n_atoms": 108, "settings": {"temperature_K": 2000.0},
             "momt_bias_json": _bias_json(bias, _WL()), "momt_frozen_bias_json": _bias_json(bias, _WL()),
             "momt_history_json": json.dumps({"freeze_round": 0, "ln_f": []})}
    frames = Frames(numbers=np.full((kinds.size, 108), 28), positions=pos, cell=cell, meta=meta)
    write_frames(tmp_path / "turned.h5", frames, {"element": "Ni", **attrs})
    temps = np.linspace(1800, 2200, 5)
    _, by_atoms = reweight_store(tmp_path / "turned.h5", temps, skip_fraction=0.0, n_bootstrap=0)
    _, by_order = reweight_store(tmp_path / "turned.h5", temps, skip_fraction=0.0, n_bootstrap=0,
                                 phase_by="order_parameter")
    assert by_atoms["phase_by"] == "solid_atoms"  # the schema's default
    assert by_atoms["solid_fraction_used"] == pytest.approx(2 / 3)
    assert by_order["solid_fraction_used"] == pytest.approx(1 / 3)
    assert by_atoms["solid_below_order_cut"] == pytest.approx(1 / 3)
    assert by_order["solid_below_order_cut"] is None
    # a run biased on the q6 coordinate (momt.order q6_bonds) stores it as bias_order: the weights use it,
    # not the box-aligned order_parameter beside it
    bias.coef = torch.linspace(0.0, 3.0, bias.n_o + 2, dtype=torch.float64).repeat(bias.n_h + 2, 1)
    attrs["momt_frozen_bias_json"] = attrs["momt_bias_json"] = _bias_json(bias, _WL())
    write_frames(tmp_path / "box.h5", frames, {"element": "Ni", **attrs})
    moved = Frames(numbers=frames.numbers, positions=pos, cell=cell,
                   meta={**meta, "bias_order": O, "order_parameter": np.zeros_like(O)})
    write_frames(tmp_path / "q6.h5", moved, {"element": "Ni", **attrs})
    table_box, s_box = reweight_store(tmp_path / "box.h5", temps, skip_fraction=0.0, n_bootstrap=0)
    table_q6, s_q6 = reweight_store(tmp_path / "q6.h5", temps, skip_fraction=0.0, n_bootstrap=0)
    pd.testing.assert_frame_equal(table_box, table_q6)
    assert (s_box["bias_coordinate"], s_q6["bias_coordinate"]) == ("fcc_box", "q6_bonds")
    moved.meta["bias_order"] = np.zeros_like(O)  # had it read order_parameter, the weights would not move
    write_frames(tmp_path / "q6_zero.h5", moved, {"element": "Ni", **attrs})
    table_zero, _ = reweight_store(tmp_path / "q6_zero.h5", temps, skip_fraction=0.0, n_bootstrap=0)
    assert not np.allclose(table_zero["enthalpy_eV_per_atom"], table_box["enthalpy_eV_per_atom"])


def _two_state_frames(rng, t_effs, n_per, n_atoms=108, k=160, t_m=1850.0, latent_per_atom=0.17):
    """Frames drawn exactly from the two-state model of the test above under linear biases with effective
    temperatures ``t_effs`` (one stage each): H, O, stage, and the exact P_solid(T) function."""
    latent = n_atoms * latent_per_atom
    ln_g = latent / (KB_EV_PER_K * t_m)
    H, O, stage = [], [], []
    for s, t_eff in enumerate(t_effs):
        beta_eff = 1 / (KB_EV_PER_K * t_eff)
        p_liq = 1 / (1 + np.exp(-ln_g + beta_eff * latent))
        liquid = rng.random(n_per) < p_liq
        H.append(rng.gamma(k, 1 / beta_eff, size=n_per) + latent * liquid)
        O.append(np.where(liquid, 0.05, 0.9) * n_atoms + rng.normal(0, 2, size=n_per))
        stage.append(np.full(n_per, s))

    def exact(temps):
        return 1 / (1 + np.exp(ln_g - latent / (KB_EV_PER_K * np.asarray(temps))))

    return np.concatenate(H), np.concatenate(O), np.concatenate(stage), exact


def test_mbar_stage_free_energies_and_combined_averages_are_exact():
    """Ω(H) ∝ H^(k−1) sampled under three linear biases Φ_j = a_j H (exact Gamma draws): the stage free
    energies are f_j − f_0 = k ln((1 + a_j)/(1 + a_0)); MBAR must find them, and the combined frames must
    give ⟨H⟩_T = k k_B T over a range no single stage covers. One stage reduces to the frozen estimator."""
    from nnpdistill.md.mbar import mbar_log_density

    rng = np.random.default_rng(11)
    k, t0 = 60, 2000.0
    beta0 = 1 / (KB_EV_PER_K * t0)
    a = np.array([0.0, 0.25, 0.6])  # T_eff = 2000, 1600, 1250 K
    n_per = 3000
    H = np.concatenate([rng.gamma(k, 1 / (beta0 * (1 + aj)), size=n_per) for aj in a])
    stage = np.repeat(np.arange(3), n_per)
    O = rng.uniform(0, 32, size=H.size)
    u_kn = beta0 * (1 + a)[:, None] * H[None, :]
    _, f = mbar_log_density(u_kn, stage)
    assert np.allclose(f - f[0], k * np.log((1 + a) / (1 + a[0])), atol=0.05), f
    biases = []
    for aj in a:
        b = Bias2D((0.0, float(H.max()) + 1), (-5.0, 37.0), 30, 8)
        b.fit(lambda h, o, aj=aj: aj * h)
        biases.append(b)
    temps = np.array([1150.0, 1400.0, 1800.0, 2100.0])
    table, _ = reweight(H, O, None, t0, temps, n_atoms=1, n_bootstrap=40, stage=stage, stage_biases=biases,
                        walker=np.tile(np.arange(8), H.size // 8))
    z = (table["enthalpy_eV_per_atom"] - k * KB_EV_PER_K * temps) / table["enthalpy_err_eV_per_atom"]
    assert np.all(np.abs(z) < 4), (table, z)
    assert np.all(table["enthalpy_err_eV_per_atom"] > 0)
    # one stage: MBAR is the frozen-bias estimator
    one = stage == 1
    t_mbar, _ = reweight(H[one], O[one], None, t0, temps, 1, n_bootstrap=0, stage=np.zeros(n_per, int),
                         stage_biases=[biases[1]])
    t_frozen, _ = reweight(H[one], O[one], biases[1], t0, temps, 1, n_bootstrap=0)
    assert np.allclose(t_mbar["enthalpy_eV_per_atom"], t_frozen["enthalpy_eV_per_atom"], rtol=1e-12)
    with pytest.raises(ConfigError, match="either one frozen bias or the staged biases"):
        reweight(H, O, biases[0], t0, temps, 1, stage=stage, stage_biases=biases)


def test_mbar_over_stages_finds_the_melting_point_no_stage_brackets():
    """Two-state frames from three stages whose effective temperatures (1650, 1750, 2050 K) each leave the
    phase balance lopsided: combined by MBAR they give T_m = 1850 K within the error bar, with P_solid
    falling and ⟨H⟩ rising monotonically."""
    rng = np.random.default_rng(5)
    n_atoms = 108
    H, O, stage, exact = _two_state_frames(rng, [1650.0, 1750.0, 2050.0], 2000, n_atoms)
    t0 = 2000.0
    biases = []
    for t_eff in (1650.0, 1750.0, 2050.0):
        b = Bias2D((0.0, float(H.max()) + 10), (-5.0, n_atoms + 5.0), 40, 8)
        b.fit(lambda h, o, c=t0 / t_eff - 1: c * h)
        biases.append(b)
    temps = np.linspace(1700.0, 2000.0, 31)
    walker = np.tile(np.arange(16), H.size // 16)
    table, boot = reweight(H, O, None, t0, temps, n_atoms, walker=walker, n_bootstrap=60, stage=stage,
                           stage_biases=biases)
    z = (table["p_solid"] - exact(temps)) / table["p_solid_err"]
    assert np.all(np.abs(z[table["n_eff"] > 200]) < 4), z
    tm = melting_temperature(table, boot)
    err = tm["t_melt_p_solid_err_K"]
    assert err and abs(tm["t_melt_p_solid_K"] - 1850.0) < 3 * err
    assert np.all(np.diff(table["p_solid"]) < 0) and np.all(np.diff(table["enthalpy_eV_per_atom"]) > 0)


def test_staged_momt_run_reweights_to_the_exact_einstein_enthalpy(tmp_path):
    """MOMT with Wang-Landau stages on the Einstein crystal (⟨H⟩_T = H_min + (3N+1)/2 k_B T exactly): MBAR
    over the recorded stages must match the exact ⟨H⟩(T) within error bars across 1100-2100 K, with more
    effective frames than the production phase alone, and no frame clipped. The order-parameter grid spans
    far beyond O's range, so the bias is multithermal only (the crystal has no phase to find in O; a bias
    learned in O drives its walkers to large displacements that a short run samples too thinly)."""
    from nnpdistill.md.reweight import reweight_store

    pot = _einstein()
    n, t0 = 32, 1500.0
    dof = (3 * n + 1) / 2
    h_mid = dof * KB_EV_PER_K * t0
    bias = Bias2D((0.0, 3 * h_mid), (-400.0, 432.0), 12, 4)
    momt = MOMTParams(t_min_K=1000.0, t_max_K=2200.0, n_h=12, n_o=4, production_fraction=0.3,
                      update_stride=5, ln_f_initial=0.25, stage_rounds=10, max_updates_per_stage=100)
    settings = RunSettings(method="momt", n_frames=4800, n_walkers=16, frame_stride=20, temperature_K=t0,
                           seed=4, equilibration_steps=400,
                           md=MDParams(timestep_fs=5.0, barostat_tau_fs=200.0), momt=momt)
    run_sampling(tmp_path / "staged.h5", pot, settings, n, bias=bias)
    temps = np.array([1100.0, 1300.0, 1500.0, 1800.0, 2100.0])
    exact = dof * KB_EV_PER_K * temps / n
    table, summary = reweight_store(tmp_path / "staged.h5", temps, skip_fraction=0.0, n_bootstrap=60,
                                    mbar_max_ln_f=1.0, mbar_skip_rounds=2)
    assert summary["estimator"] == "mbar" and summary["mbar"]["n_stages_used"] > 10
    assert summary["clipped_production_frames"] == 0
    # estimator auto: MBAR from ln f <= 1, 1/2, 1/4, ... and the production frames alone; the least
    # degenerate weights (largest median Kish n_eff over the temperatures) win, and the table is the winner's
    rows = summary["estimator_selection"]
    limits = [r["mbar_max_ln_f"] for r in rows if r["estimator"] == "mbar"]
    assert limits[0] == 1.0 and all(b == a / 2 for a, b in zip(limits, limits[1:], strict=False))
    assert rows[-1]["estimator"] == "frozen" and sum(r["chosen"] for r in rows) == 1
    chosen = next(r for r in rows if r["chosen"])
    assert chosen["median_n_eff"] == max(r["median_n_eff"] for r in rows)
    assert chosen["mbar_max_ln_f"] == summary["mbar"]["max_ln_f"]
    assert np.median(table["n_eff"]) == pytest.approx(chosen["median_n_eff"], rel=1e-9)
    assert [r["n_stages"] for r in rows[:-1]] == sorted((r["n_stages"] for r in rows[:-1]), reverse=True)
    z = (table["enthalpy_eV_per_atom"] - exact) / table["enthalpy_err_eV_per_atom"]
    assert np.all(np.abs(z) < 4), (table, z)
    assert np.all(np.abs(table["enthalpy_eV_per_atom"] - exact) < 5e-3)  # and within 5 meV/atom
    frozen, _ = reweight_store(tmp_path / "staged.h5", temps, skip_fraction=0.0, n_bootstrap=0,
                               estimator="frozen")
    assert np.all(table["n_eff"] > 2 * frozen["n_eff"])
    with pytest.raises(ConfigError, match="estimator must be auto, frozen or mbar"):
        reweight_store(tmp_path / "staged.h5", temps, estimator="wham")


def test_basin_bridge_finds_a_gap_between_the_phases():
    """Frames that fill the bias coordinate between the two phases connect them; a gap (each basin sampled
    on its own, as 256-atom Al in the tenth run) shows as an empty bin at the gap."""
    from nnpdistill.md.momt_store import basin_bridge

    rng = np.random.default_rng(0)
    liquid, crystal = rng.normal(25.0, 5.0, 4000), rng.normal(95.0, 5.0, 4000)
    between = rng.uniform(25.0, 95.0, 1000)
    O = np.concatenate([liquid, crystal, between])
    solid = O > 60.0
    joined = basin_bridge(O, solid, 3.0)
    assert joined["min_frames_per_bin"] >= 20 and joined["o_range"][0] < 30 < 90 < joined["o_range"][1]
    gapped = np.concatenate([liquid, crystal, between[(between < 55) | (between > 65)]])
    split = basin_bridge(gapped, gapped > 60.0, 3.0)
    assert split["min_frames_per_bin"] == 0
    a, b = split["sparsest_bin"]
    assert 55.0 - 3.5 < a and b < 65.0 + 3.5
    assert basin_bridge(O, np.ones_like(solid), 3.0)["min_frames_per_bin"] is None  # one phase only


def test_basin_crossings_count_passages_not_flicker():
    """A walker whose solid score flickers about the threshold (a partly melted crystal, as every 256-atom
    walker of the tenth run) changes its solid/liquid label many times but never crosses between the
    basins; one that melts, refreezes and melts again crosses three times. Checked against the counts
    written out by hand, and for a walker order that interleaves the two."""
    from nnpdistill.md.momt_store import count_basin_crossings, count_phase_switches

    rng = np.random.default_rng(1)
    flicker = 0.5 + 0.2 * rng.uniform(-1, 1, 400)  # never below 0.25 nor above 0.75
    trips = np.concatenate([np.full(50, 0.9), np.linspace(0.9, 0.05, 30), np.full(50, 0.05),
                            np.linspace(0.05, 0.95, 30), np.full(20, 0.95), np.linspace(0.95, 0.1, 20),
                            0.5 + 0.2 * rng.uniform(-1, 1, 200)])  # ends hovering: still liquid's basin
    walker = np.concatenate([np.zeros(400, int), np.ones(trips.size, int)])
    score = np.concatenate([flicker, trips])
    assert count_phase_switches(walker[:400], flicker > 0.5) > 100
    assert count_basin_crossings(walker[:400], flicker, 0.25, 0.75) == (0, 0)
    assert count_basin_crossings(walker, score, 0.25, 0.75) == (3, 1)
    order = np.argsort(np.concatenate([np.arange(400) * 2.0, np.arange(trips.size) * 2.0 + 1]), kind="stable")
    assert count_basin_crossings(walker[order], score[order], 0.25, 0.75) == (3, 1)
    with pytest.raises(ConfigError, match="lo < hi"):
        count_basin_crossings(walker, score, 0.75, 0.25)


def test_crossings_count_only_a_crystal_the_cell_holds_without_a_defect(tmp_path):
    """The 144-atom runs' failure, in 108-atom frames: a liquid that freezes into a crystal in an
    orientation the cell cannot hold (solid by ten Wolde's q6 criterion, every fitting orientation's O ~ 0)
    and melts again has not reached the solid coexistence measures. Walker 0 goes liquid -> turned ->
    liquid -> turned -> liquid (4 passages by the old count, none into a perfect crystal); walker 3 liquid ->
    turned -> aligned (1, through the turned one). By default (crossings_into: perfect_crystal) the estimate
    is withheld and the reason names the other crossings; any_solid counts all 5."""
    from ase.build import bulk

    from nnpdistill.frames import Frames, write_frames
    from nnpdistill.md.momt_store import count_basin_crossings
    from nnpdistill.md.order import order_parameter
    from nnpdistill.md.reweight import reweight_store
    from nnpdistill.md.run import _bias_json

    # hand-made labels first: 0 liquid, 1 perfect crystal, 2 another solid
    walker = np.repeat([0, 1], 6)
    score = np.array([0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.5, 0.0, 1.0])
    reg = np.array([0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1], bool)  # walker 1: liquid, other, start, ..., start
    assert count_basin_crossings(walker, score, 0.1, 0.9) == (7, 2)  # 4 + 3
    assert count_basin_crossings(walker, score, 0.1, 0.9, registered=reg) == (3, 1)
    with pytest.raises(ConfigError, match="perfect-crystal labels"):
        count_basin_crossings(walker, score, 0.1, 0.9, registered=reg[:5])

    rng = np.random.default_rng(11)
    turned = bulk("Ni", "fcc", a=3.52, orthorhombic=True).repeat((3, 3, 6))
    aligned = bulk("Ni", "fcc", a=3.52, cubic=True).repeat(3)
    L, T, A = 0, 1, 2
    seq = {0: [L] * 8 + [T] * 8 + [L] * 8 + [T] * 8 + [L] * 8, 1: [A] * 40, 2: [L] * 40,
           3: [L] * 10 + [T] * 10 + [A] * 20}
    kinds = np.array([seq[w][i] for i in range(40) for w in range(4)])  # frame rounds of 4 walkers
    walkers = np.tile(np.arange(4), 40)
    pos, cell = [], []
    for k in kinds:
        at = (aligned, turned, aligned)[k]
        hot = at.positions + rng.normal(0, 0.08, (108, 3))
        pos.append(rng.random((108, 3)) @ at.cell[:] if k == L else hot)
        cell.append(at.cell[:])
    pos, cell = np.array(pos), np.array(cell)
    O = order_parameter(torch.tensor(pos), torch.tensor(cell), gradient=False)[0].numpy()
    H = np.where(kinds == L, -470.0, -500.0) + rng.normal(0, 0.5, kinds.size)
    bias = Bias2D((-520.0, -450.0), (-5.0, 113.0), 12, 6)

    class _WL:
        visits = torch.zeros(12, 6)
        ln_f, n_updates, kT0 = 0.01, 1, 0.17

    meta = {"enthalpy_eV": H, "order_parameter": O, "walker": walkers,
            "production": np.ones(kinds.size, dtype=np.int64),
            "clipped": np.zeros(kinds.size, dtype=np.int64)}
    attrs = {"method": "momt", "n_atoms": 108, "settings": {"temperature_K": 2000.0},
             "momt_bias_json": _bias_json(bias, _WL()), "momt_frozen_bias_json": _bias_json(bias, _WL()),
             "momt_history_json": json.dumps({"freeze_round": 0, "ln_f": []})}
    write_frames(tmp_path / "frozen_out.h5", Frames(numbers=np.full((kinds.size, 108), 28), positions=pos,
                                                    cell=cell, meta=meta), {"element": "Ni", **attrs})
    temps = np.linspace(1800, 2200, 5)
    kw = {"skip_fraction": 0.0, "n_bootstrap": 0, "min_bridge_frames": 0, "min_n_eff": 1}
    _, s = reweight_store(tmp_path / "frozen_out.h5", temps, **kw)
    assert (s["basin_crossings_used"], s["walkers_crossing"]) == (5, 2)
    assert (s["crossings_into_perfect_crystal"], s["walkers_crossing_into_perfect_crystal"]) == (1, 1)
    assert s["crossings_into"] == "perfect_crystal"
    assert s["solid_not_perfect_crystal"] == pytest.approx(26 / 86)  # turned frames among the solid ones
    assert s["t_melt_p_solid_K"] is None
    why = s["t_melt_p_solid_reason"]
    assert "the liquid and a crystal the cell holds without a defect 1 times" in why and "4 more times" in why
    _, old = reweight_store(tmp_path / "frozen_out.h5", temps, crossings_into="any_solid", **kw)
    assert old["crossings_into"] == "any_solid" and old["crossings_into_perfect_crystal"] == 1
    assert "crossed between" not in (old["t_melt_p_solid_reason"] or "")
    # a run started from BCC or HCP: no FCC orientation to fit, the old count applies
    attrs["settings"] = {"temperature_K": 2000.0, "structure": "bcc"}
    write_frames(tmp_path / "bcc.h5", Frames(numbers=np.full((kinds.size, 108), 28), positions=pos, cell=cell,
                                             meta=meta), {"element": "Ni", **attrs})
    _, bcc = reweight_store(tmp_path / "bcc.h5", temps, **kw)
    assert bcc["crossings_into_perfect_crystal"] is None and bcc["solid_not_perfect_crystal"] is None
    assert "crossed between" not in (bcc["t_melt_p_solid_reason"] or "")
    with pytest.raises(ConfigError, match="crossings_into must be perfect_crystal or any_solid"):
        reweight_store(tmp_path / "bcc.h5", temps, crossings_into="liquid", **kw)
