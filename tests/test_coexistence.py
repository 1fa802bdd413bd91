"""Direct-coexistence pieces: the slab crystallinity tells crystal from liquid, the summary refuses a run
whose interface did not survive, settings fail early, and a tiny run resumes to identical results."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from nnpdistill.errors import ConfigError, FrameStoreError
from nnpdistill.md.coexistence import (
    CoexistenceSettings,
    coexistence_settings_from_config,
    run_coexistence,
    slab_crystallinity,
    summarize,
)
from nnpdistill.md.models import EinsteinCrystal, fcc_sites_frac
from nnpdistill.md.run import Potential

torch.set_num_threads(1)


def _box(cells=(3, 3, 6), a=3.52):
    nx, ny, nz = cells
    sites = fcc_sites_frac(1)
    grid = torch.stack(torch.meshgrid(torch.arange(nx), torch.arange(ny), torch.arange(nz), indexing="ij"),
                       -1).reshape(-1, 1, 3).to(torch.float64)
    pos = (grid + sites.reshape(1, 4, 3)).reshape(-1, 3) * a
    cell = torch.diag(torch.tensor([nx * a, ny * a, nz * a], dtype=torch.float64))
    return pos, cell


def test_slab_crystallinity_crystal_liquid_and_half():
    pos, cell = _box()
    assert np.allclose(slab_crystallinity(pos, cell, (3, 3, 6)), 1.0)
    # a strained, displaced crystal stays crystalline (g follows the cell); thermal noise lowers ψ a little
    gen = torch.Generator().manual_seed(0)
    noisy = (pos + 0.1 * torch.randn(pos.shape, generator=gen, dtype=torch.float64)) @ torch.diag(
        torch.tensor([1.02, 0.99, 1.01], dtype=torch.float64))
    psi = slab_crystallinity(noisy, cell @ torch.diag(torch.tensor([1.02, 0.99, 1.01], dtype=torch.float64)),
                             (3, 3, 6))
    assert psi.min() > 0.7
    # upper half replaced by random positions: its slabs drop to ~1/n (36 atoms per slab)
    half = pos.clone()
    top = pos[:, 2] >= cell[2, 2] / 2
    half[top, :2] = torch.rand((int(top.sum()), 2), generator=gen, dtype=torch.float64) * cell[0, 0]
    z = torch.rand(int(top.sum()), generator=gen, dtype=torch.float64)
    half[top, 2] = cell[2, 2] / 2 * (1 + z)
    psi = slab_crystallinity(half, cell, (3, 3, 6))
    assert psi[:3].min() > 0.99 and psi[3:].max() < 0.2


def _series(solid):
    n = len(solid)
    return pd.DataFrame({"time_ps": np.arange(n) * 0.04, "temperature_K": 1700 + np.sin(np.arange(n)),
                         "pressure_bar": np.zeros(n), "solid_fraction": solid})


def test_summary_refuses_a_melted_or_frozen_run():
    s = CoexistenceSettings(temperature_guess_K=1700.0, nph_steps=400, record_every=10)
    ok = summarize(_series(np.full(40, 0.5)), s, 100)
    assert ok["t_melt_K"] == pytest.approx(1700.0, abs=1.0) and ok["reason"] is None
    assert ok["t_melt_err_K"] >= 0
    melted = summarize(_series(np.r_[np.full(20, 0.5), np.full(20, 0.0)]), s, 100)
    assert melted["t_melt_K"] is None and "melted" in melted["reason"]
    frozen = summarize(_series(np.r_[np.full(20, 0.5), np.full(20, 1.0)]), s, 100)
    assert frozen["t_melt_K"] is None and "froze" in frozen["reason"]
    json.dumps(melted, allow_nan=False)


def test_bad_settings_fail_early():
    with pytest.raises(ConfigError, match="temperature_guess_K"):
        coexistence_settings_from_config({"temperature_guess_K": None})
    with pytest.raises(ConfigError, match="cells"):
        coexistence_settings_from_config({"temperature_guess_K": 1000.0, "cells": [1, 2, 3]})
    with pytest.raises(ConfigError, match="unknown"):
        coexistence_settings_from_config({"temperature_guess_K": 1000.0, "timestep": 1.0})


def test_tiny_run_resumes_to_identical_results(tmp_path):
    """A run killed after its first NPH checkpoint and started again writes the same series as an
    uninterrupted run (the Einstein crystal stands in for the EAM: this tests the driver, not melting)."""
    pot = _tiled()

    def settings():
        return CoexistenceSettings(temperature_guess_K=500.0, cells=(2, 2, 4), solid_steps=20, melt_steps=20,
                                   settle_steps=10, nph_steps=60, record_every=5, checkpoint_every=20,
                                   n_blocks=2, seed=4)

    class Kill(Exception):
        pass

    ref = run_coexistence(tmp_path / "ref.json", pot, settings())
    calls = {"n": 0}

    def factory():
        calls["n"] += 1
        if calls["n"] == 6:  # solid, melt, settle, NPH chunk 1, NPH chunk 2 (killed at its start)
            raise Kill
        return pot.factory()

    with pytest.raises(Kill):
        run_coexistence(tmp_path / "cut.json", Potential(factory, "Ni", 28, 58.69, pot.lattice_A), settings())
    ckpt = tmp_path / "cut.json.ckpt"
    assert ckpt.exists()
    good = ckpt.read_bytes()
    ckpt.write_bytes(good[: len(good) // 2])  # a damaged checkpoint is refused by name, nothing written
    with pytest.raises(FrameStoreError, match=r"checkpoint .*cut\.json\.ckpt is corrupt"):
        run_coexistence(tmp_path / "cut.json", pot, settings())
    assert not (tmp_path / "cut.json").exists()
    ckpt.write_bytes(good)
    again = run_coexistence(tmp_path / "cut.json", pot, settings())
    assert pd.read_csv(tmp_path / "cut.csv").equals(pd.read_csv(tmp_path / "ref.csv"))
    assert again["t_melt_K"] == ref["t_melt_K"] and not (tmp_path / "cut.json.ckpt").exists()


def _tiled(a=3.52):
    """An Einstein crystal on the 2 × 2 × 4 box's own sites, standing in for the EAM."""
    pos, cell = _box((2, 2, 4), a)
    frac = pos @ torch.linalg.inv(cell)
    return Potential(lambda: EinsteinCrystal(frac, 1.0), "Ni", 28, 58.69, a)


def test_cli_coexistence_writes_json_csv_png(tmp_path):
    """The README's command, at toy size: strict JSON (a 64-atom box is too small to hold an interface,
    so the answer is a reason, not a number), the time series and the plot, in a folder it creates."""
    from nnpdistill.cli import main

    out = tmp_path / "new" / "coex.json"
    assert main(["sample", "coexistence", "--element", "Ni", "--temperature-guess-K", "1850",
                 "--cells", "2", "2", "4", "--nph-steps", "200", "--out", str(out), "--no-progress"]) == 0
    d = json.loads(out.read_text(), parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    assert d["n_atoms"] == 64 and (d["t_melt_K"] is None) == bool(d["reason"])
    assert out.with_suffix(".csv").exists() and out.with_suffix(".png").stat().st_size > 5000


def test_compare_melting_rows_reasons_and_cautions(tmp_path):
    from nnpdistill.md.coexistence import compare_melting

    (tmp_path / "coex.json").write_text(json.dumps({"t_melt_K": 924.0, "t_melt_err_K": 2.0, "n_atoms": 2016}))
    (tmp_path / "m108.json").write_text(json.dumps({
        "n_atoms": 108, "t_melt_p_solid_K": 956.0, "t_melt_p_solid_err_K": 3.0,
        "t_melt_p_solid_caution": "only 95 of 200 replicas", "t_melt_cp_peak_K": None,
        "t_melt_cp_peak_reason": "the C_P maximum lies at the edge"}))
    table = compare_melting([tmp_path / "m108.json"], tmp_path / "coex.json", tmp_path / "c.csv",
                            tmp_path / "c.md")
    assert table["relative_difference"].iloc[1] == pytest.approx(32.0 / 924.0)
    assert list(table["within_5_percent"].iloc[1:]) == [True, None]
    assert list(table["reason"].iloc[1:]) == ["only 95 of 200 replicas", "the C_P maximum lies at the edge"]
    md = (tmp_path / "c.md").read_text()
    assert "| momt (ΔG = 0) | 108 | 956 | 3 | +3.5 % | yes | only 95 of 200 replicas |" in md
