"""Melting temperatures combined over seeds (``nnpdistill sample combine-melting``): the weighted mean, the
Birge-ratio scaling that makes the error bar cover the spread between runs, withheld runs, the CLI."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nnpdistill.md.coexistence import compare_melting
from nnpdistill.md.melting import combine_melting_files, combine_seeds


def _run(t, e, n_atoms=144):
    return {"t_melt_p_solid_K": t, "t_melt_p_solid_err_K": e, "t_melt_p_solid_reason": None,
            "t_melt_cp_peak_K": t, "t_melt_cp_peak_err_K": 2 * e, "t_melt_cp_peak_reason": None,
            "n_atoms": n_atoms}


def test_weighted_mean_and_internal_error_when_runs_agree():
    c = combine_seeds([_run(1000.0, 2.0), _run(1001.0, 4.0)])
    w = np.array([1 / 4, 1 / 16])
    assert c["t_melt_p_solid_K"] == pytest.approx((w * [1000, 1001]).sum() / w.sum())
    assert c["internal_err_K"] == pytest.approx(1 / np.sqrt(w.sum()))
    # chi2 = 0.8 * (1000 - mean)^2 ... below 1 dof: the error stays the internal one, no caution
    assert c["birge_ratio"] < 1
    assert c["t_melt_p_solid_err_K"] == c["internal_err_K"]
    assert c["caution"] is None and c["n_used"] == 2


def test_scaled_error_equals_the_standard_error_over_runs_for_equal_error_bars():
    """With equal error bars and a Birge ratio above 1, internal x S is exactly the standard error of the
    mean over the runs (sample standard deviation / sqrt n): the spread between seeds is covered."""
    t = [932.0, 946.0, 951.0]
    c = combine_seeds([_run(x, 3.0) for x in t])
    assert c["birge_ratio"] > 1
    assert c["t_melt_p_solid_err_K"] == pytest.approx(np.std(t, ddof=1) / np.sqrt(3), rel=1e-12)
    assert c["t_melt_p_solid_err_K"] == pytest.approx(c["standard_error_over_runs_K"], rel=1e-12)
    assert "scatter" in c["caution"]


def test_scaled_error_bars_cover_runs_whose_own_bars_are_three_times_too_small():
    """Runs drawn about the truth with sigma = 3x their stated error (as a bootstrap over few crossing
    walkers can understate it): the stated bars of the plain weighted mean cover the truth about a quarter of
    the time, the Birge-scaled ones about as often as a t-interval with n - 1 = 2 dof does (58 %)."""
    rng = np.random.default_rng(7)
    truth, stated, n_trials = 1000.0, 3.0, 4000
    plain = scaled = 0
    for _ in range(n_trials):
        c = combine_seeds([_run(x, stated) for x in truth + 3 * stated * rng.standard_normal(3)])
        plain += abs(c["t_melt_p_solid_K"] - truth) <= c["internal_err_K"]
        scaled += abs(c["t_melt_p_solid_K"] - truth) <= c["t_melt_p_solid_err_K"]
    assert plain / n_trials == pytest.approx(0.26, abs=0.03)
    assert scaled / n_trials == pytest.approx(0.58, abs=0.04)


def test_withheld_runs_are_counted_not_averaged():
    nocross = {"t_melt_p_solid_K": None, "t_melt_p_solid_err_K": None, "n_atoms": 144,
               "t_melt_p_solid_reason": "the walkers crossed between solid and liquid 0 times",
               "t_melt_p_solid_unsupported_K": 2016.0}
    c = combine_seeds([_run(2034.0, 12.0), nocross])
    assert c["n_runs"] == 2 and c["n_used"] == 1
    assert c["t_melt_p_solid_K"] == 2034.0 and c["t_melt_p_solid_err_K"] == 12.0
    assert c["withheld"] == [{"run": 1, "reason": nocross["t_melt_p_solid_reason"], "unsupported_K": 2016.0}]
    assert "not measured" in c["caution"] and c["birge_ratio"] is None
    none = combine_seeds([nocross, nocross])
    assert none["t_melt_p_solid_K"] is None and "none of the 2 runs" in none["t_melt_p_solid_reason"]
    with pytest.raises(ValueError):
        combine_seeds([])


def test_files_cli_and_comparison_row(tmp_path):
    paths = []
    for i, (t, e) in enumerate([(932.0, 3.2), (946.2, 2.9)]):
        paths.append(tmp_path / f"m{i}.json")
        paths[-1].write_text(json.dumps(_run(t, e)))
    coex = tmp_path / "coex.json"
    coex.write_text(json.dumps({"t_melt_K": 924.0, "t_melt_err_K": 2.0, "n_atoms": 4032, "reason": None}))
    out = tmp_path / "combined.json"
    cmd = [sys.executable, "-m", "nnpdistill.cli", "sample", "combine-melting", *map(str, paths),
           "--out", str(out), "--reference", str(coex)]
    subprocess.run(cmd, check=True, capture_output=True)
    d = json.loads(out.read_text())  # strict JSON: json.loads would accept NaN, so check the text too
    assert "NaN" not in out.read_text()
    direct = combine_melting_files(paths, tmp_path / "again.json", coex)
    assert d == json.loads((tmp_path / "again.json").read_text())
    assert d["t_melt_p_solid_K"] == pytest.approx(direct["t_melt_p_solid"]["t_melt_p_solid_K"])
    rel = d["t_melt_p_solid"]["relative_difference"]
    assert rel == pytest.approx((d["t_melt_p_solid_K"] - 924.0) / 924.0)
    table = compare_melting([out], coex, tmp_path / "c.csv", tmp_path / "c.md")
    row = table[table["method"] == "momt (ΔG = 0)"].iloc[0]
    assert row["t_melt_K"] == pytest.approx(d["t_melt_p_solid_K"]) and row["n_atoms"] == 144
    assert row["t_melt_err_K"] == pytest.approx(d["t_melt_p_solid_err_K"])
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"t_melt_K": 1.0}))
    with pytest.raises(ValueError, match="bad.json: not a melting summary"):
        combine_melting_files([paths[0], bad], tmp_path / "x.json")
    assert not (tmp_path / "x.json").exists()


CHAIN = ["campaign-thermo"] + [f"campaign-thermo-{s}" for s in (
    "long", "long2", "long3", "q6", "q6d", "q6d-48k")]


def test_melting_config_is_the_fourteenth_runs_chain_flattened():
    """config/melting.yaml, the one-file recipe, equals the config chain of the runs it rests on (merged as
    Snakemake merges --configfile files), but for the results folder."""
    import yaml
    from conftest import REPO
    from snakemake.utils import update_config

    merged: dict = {}
    for name in CHAIN:
        update_config(merged, yaml.safe_load((REPO / "config" / f"{name}.yaml").read_text()))
    flat = yaml.safe_load((REPO / "config" / "melting.yaml").read_text())
    assert flat.pop("results_dir") == "results/melting"
    merged.pop("results_dir")
    assert flat == merged


def test_melting_config_plans_only_the_melting_jobs(tmp_path):
    from conftest import REPO

    targets = [f"results/melting/{el}/sample/melting_comparison.md" for el in ("Ni", "Al")]
    cmd = [str(Path(sys.executable).parent / "snakemake"), "-s", str(REPO / "Snakefile"), "-d", str(tmp_path),
           "-n", "--cores", "2", "--configfile", str(REPO / "config" / "melting.yaml"), "--", *targets]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", proc.stdout.split("Job stats:")[1].split("\n\n")[0], re.M))
    assert counts == {"run_coexistence": "2", "sample_momt": "2", "reweight_momt": "2",
                      "compare_melting": "2", "total": "8"}
