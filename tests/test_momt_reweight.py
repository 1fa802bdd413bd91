"""Reweighting with a known bias recovers canonical averages; plots and the CLI run end to end."""


import numpy as np
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
    table = reweight(H, O, bias, t0, temps, n_atoms=1)
    expect = k * KB_EV_PER_K * np.array(temps)
    assert np.allclose(table["enthalpy_eV_per_atom"], expect, rtol=5e-3), table
    assert np.allclose(table["cp_config_kB_per_atom"], k, rtol=0.05)
    # a wrong reference temperature gives a visibly wrong answer
    bad = reweight(H, O, bias, 1.2 * t0, temps, n_atoms=1)
    assert not np.allclose(bad["enthalpy_eV_per_atom"], expect, rtol=2e-2)


def test_melting_temperature_crossing():
    import pandas as pd

    t = pd.DataFrame({"temperature_K": [1000.0, 1500.0, 2000.0], "p_solid": [1.0, 0.75, 0.25],
                      "cp_config_kB_per_atom": [1.0, 3.0, 2.0]})
    tm = melting_temperature(t)
    assert tm["t_melt_p_solid_K"] == pytest.approx(1750.0) and tm["t_melt_cp_peak_K"] == 1500.0
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
                   "--t-max-K", "2000", "--n-temperatures", "11", "--skip-fraction", "0"])
    assert rc == 0 and csv.exists() and len(csv.read_text().splitlines()) == 12
    assert cli_main(["sample", "reweight", str(stores["npt_fcc"]), "--csv", str(csv)]) == 2  # not MOMT
