"""The smallest campaign (config/smoke.yaml) runs every rule end to end, and reruns are no-ops."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REPO

from nnpdistill.frames import FrameStore

HAVE_CP2K = shutil.which("cp2k_shell") is not None
if not HAVE_CP2K and os.environ.get("CI"):
    raise RuntimeError("cp2k_shell is not on the PATH in CI: .ci/run must `apt-get install cp2k`")
# without CP2K (outside CI) the smoke campaign labels aluminium with ASE's EMT instead (said in the output)
SMOKE_CONFIGS = [str(REPO / "config" / "smoke.yaml")] + (
    [] if HAVE_CP2K else [str(REPO / "config" / "smoke-no-cp2k.yaml")])


def _snakemake(workdir, *args, timeout=1200):
    if "--configfile" in args:  # extra config files go after the smoke campaign's
        at = args.index("--configfile")
        args = (*args[:at], "--configfile", *SMOKE_CONFIGS, *args[at + 1:])
    else:
        args = (*args, "--configfile", *SMOKE_CONFIGS)
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def _planned_outputs(workdir, tmp_path, extra_config: str) -> list[str]:
    """Outputs a dry run plans in ``workdir`` with the smoke config plus ``extra_config`` (YAML text)."""
    more = tmp_path / "extra.yaml"
    more.write_text(extra_config)
    proc = _snakemake(workdir, "-n", "--cores", "1", "--configfile", str(more), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [line.split("output:", 1)[1] for line in proc.stdout.splitlines() if "output:" in line]


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """The smoke campaign with profiles/local on 2 cores (as the SLURM stage's own local run does it).

    With ``NNPDISTILL_SMOKE_KEEP=DIR`` its results tree is copied to DIR as it stands after the run,
    before any test adds to it: .ci/run hands that copy to the SLURM stage as its local reference, so
    CI runs the campaign locally once, not twice.
    """
    workdir = tmp_path_factory.mktemp("smoke")
    proc = _snakemake(workdir, "--profile", str(REPO / "profiles" / "local"), "--cores", "2")
    assert proc.returncode == 0, proc.stderr[-6000:]
    keep = os.environ.get("NNPDISTILL_SMOKE_KEEP")
    if keep:
        keep = Path(keep).resolve()
        partial = keep.with_name(keep.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(workdir / "results" / "smoke", partial)
        shutil.rmtree(keep, ignore_errors=True)
        partial.rename(keep)
    return workdir


def test_every_rule_ran(smoke_run):
    listed = _snakemake(smoke_run, "--list-rules")
    # a rule per unindented line: "name" or "name (docstring...)"; indented lines continue a docstring
    rules = {line.split()[0] for line in listed.stdout.splitlines() if line[:1].strip()} - {"all"}
    summary = _snakemake(smoke_run, "--summary", "--cores", "1")
    assert summary.returncode == 0, summary.stderr
    rows = [line.split("\t") for line in summary.stdout.splitlines()[1:] if "\t" in line]
    ran = {row[2] for row in rows if len(row) > 2}
    assert len(rules) >= 15
    assert rules <= ran, f"rules that produced nothing in the smoke campaign: {sorted(rules - ran)}"
    # every rule wrote its benchmark file (what benchmarks/bench_campaign.py reads), with a wall time
    from nnpdistill.progress import read_benchmarks

    jobs = read_benchmarks(smoke_run / "results" / "smoke", sorted(rules))
    assert set(jobs["rule"]) == rules, sorted(rules ^ set(jobs["rule"]))
    assert (jobs["wall_s"] > 0).all() and (jobs["end"] >= jobs["start"]).all()
    # the main job's folder `results/` holds the smoke campaign's: its records are not the main job's
    assert read_benchmarks(smoke_run / "results", sorted(rules)).empty
    # and the README's command for it runs as shown, on the smoke campaign's folder, with the whole DAG
    # scheduled at the recorded times: no rule lacks a record, and the schedule is at least the
    # critical path and at most the job time
    bench = [sys.executable, str(REPO / "benchmarks/bench_campaign.py"), "results/smoke", "--cores", "2",
             "--configfile", *SMOKE_CONFIGS]
    proc = subprocess.run(bench, cwd=smoke_run, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "train_member" in proc.stdout, proc.stderr[-2000:]
    assert "whole DAG" in proc.stdout and "no benchmark file" not in proc.stdout, proc.stdout[-1500:]


def test_progress_counts_jobs_and_times_them_from_the_records(smoke_run):
    """`nnpdistill progress` after the smoke campaign: nothing left; with one summary rule forced to
    rerun, two jobs left (it and `all`) and the time left is that rule's recorded wall time."""
    from nnpdistill.progress import campaign_progress, read_benchmarks

    sm = ["-s", str(REPO / "Snakefile")]
    est = campaign_progress(SMOKE_CONFIGS, 2, snakemake_args=sm, workdir=smoke_run)
    assert est.n_left == 0 and est.n_jobs >= 150
    est = campaign_progress(SMOKE_CONFIGS, 2, snakemake_args=[*sm, "--forcerun", "write_summary"],
                            workdir=smoke_run)
    assert est.n_left == 2 and est.left_by_rule == {"write_summary": 1, "all": 1}
    recorded = read_benchmarks(smoke_run / "results" / "smoke", ["write_summary"])
    wall = recorded.loc[recorded["rule"] == "write_summary", "wall_s"].item()
    assert est.eta_s == pytest.approx(wall) and est.unrecorded == {}
    # the command prints the same, from the campaign's folder
    cmd = [sys.executable, "-m", "nnpdistill.cli", "progress", "--cores", "2", "--configfile", *SMOKE_CONFIGS,
           "--", *sm, "--forcerun", "write_summary"]
    proc = subprocess.run(cmd, cwd=smoke_run, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "2 to run" in proc.stdout and "write_summary" in proc.stdout, proc.stdout


def _jobs(log_text: str) -> list[tuple[str, str, int]]:
    """(rule, wildcards, priority) of every job a Snakemake log or dry run shows, in order."""
    jobs = []
    for block in re.split(r"^(?=(?:local)?rule \w+:$)", log_text, flags=re.M)[1:]:
        rule = re.match(r"(?:local)?rule (\w+):", block).group(1)
        wc = re.search(r"^\s+wildcards: (.*)$", block, re.M)
        prio = re.search(r"^\s+priority: (\d+)$", block, re.M)
        jobs.append((rule, wc.group(1) if wc else "", int(prio.group(1)) if prio else 0))
    return jobs


def test_the_longest_path_starts_first(smoke_run):
    """Rule priorities (workflow/rules/common.smk, job_priority): of the jobs ready at the start (sampling
    runs, coexistence runs, EAM crystals), the two cores take the two MOMT pools first (the distillation
    source's, Ni momt_32, on which the loop waits, and Al's), the NPT runs only after them. Without
    priorities Snakemake took two NPT runs of Ni first in the main job."""
    log = min((smoke_run / ".snakemake" / "log").glob("*.snakemake.log"))  # the campaign's own run
    jobs = [(rule, wc) for rule, wc, _ in _jobs(log.read_text())]
    assert jobs[:2] == [("sample_momt", "element=Ni, size=32"), ("sample_momt", "element=Al, size=32")] or \
        jobs[:2] == [("sample_momt", "element=Al, size=32"), ("sample_momt", "element=Ni, size=32")], jobs[:6]
    rules = [rule for rule, _ in jobs]
    assert rules.count("sample_npt") == 2 and rules.index("sample_npt") > 1, jobs[:6]  # Ni's two


def test_smoke_outputs(smoke_run):
    for element in ("Ni", "Al"):
        df = pd.read_csv(smoke_run / "results" / "smoke" / element / "eam" / "crystals.csv")
        assert set(df["structure"]) == {"fcc", "bcc", "hcp", "hcp_ideal"}
        assert df.set_index("structure").loc["fcc", "rank"] == 1


def test_thermodynamics_outputs_are_strict_json_with_reasons(smoke_run):
    """The smoke MOMT runs are far too short for a melting point: the outputs must say so in words and
    valid JSON (null, never NaN), and the comparison table must still be written."""
    import json

    def no_nan(name):
        raise AssertionError(f"{name} in a JSON output")

    for element in ("Ni", "Al"):
        base = smoke_run / "results" / "smoke" / element
        m = json.loads((base / "sample" / "melting_32.json").read_text(), parse_constant=no_nan)
        for key in ("t_melt_p_solid", "t_melt_cp_peak"):
            assert (m[f"{key}_K"] is None) == bool(m[f"{key}_reason"]), m
        assert m["clipped_production_frames"] == 0 and m["n_production_frames"] > 0
        # Al's run recorded Wang-Landau stages: MBAR combines them (more frames than production alone)
        assert m["estimator"] == ("mbar" if element == "Al" else "frozen")
        if element == "Al":
            assert m["mbar"]["n_stages_used"] >= 2 and m["n_frames_used"] > m["n_production_frames"]
        c = json.loads((base / "coexistence" / "coexistence.json").read_text(), parse_constant=no_nan)
        assert (c["t_melt_K"] is None) == bool(c["reason"]) and c["n_atoms"] == 64
        table = pd.read_csv(base / "sample" / "melting_comparison.csv")
        assert list(table["method"]) == ["coexistence", "momt (ΔG = 0)", "momt (C_P peak)"]


def test_validation_in_md_and_its_candidates_labelled(smoke_run):
    """The smoke ensemble (10 epochs, 2 members) ran in MD beside the EAM: one row per state point, and
    its uncertain frames became a candidate store that the labelling stage labelled with the EAM."""
    base = smoke_run / "results" / "smoke" / "Ni"
    val = base / "distill" / "uncertainty" / "iter_1" / "validate"
    table = pd.read_csv(val / "validation.csv")
    assert list(table["phase"]) == ["solid", "liquid", "liquid"]
    assert np.allclose(table["temperature_K"], [0.75 * 1967, 1.1 * 1967, 2000.0])
    assert (table["density_reference_g_cm3"].between(7.5, 9.5)).all()  # EAM Ni near its melting point
    assert (table["rdf_overlap"] <= 1.0).all() and (table["n_frames"] == 10).all()
    with FrameStore(val / "candidates.h5") as cand:
        n_cand = len(cand)
    assert n_cand == table["n_candidates"].sum()
    labelled = base / "labelled" / "distill" / "uncertainty" / "iter_1" / "validate" / "candidates.h5"
    with FrameStore(labelled) as st:
        assert len(st) == min(4, n_cand) and st.labels


def test_rerun_has_nothing_to_do(smoke_run):
    proc = _snakemake(smoke_run, "-n", "--cores", "1")
    assert proc.returncode == 0
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_more_iterations_run_only_the_new_ones(smoke_run, tmp_path):
    planned = _planned_outputs(smoke_run, tmp_path, "element_overrides:\n  distill:\n    n_iterations: 2\n")
    assert any("/iter_2/" in out for out in planned), "iteration 2 was not planned"
    for old in ("/iter_0/", "/iter_1/"):
        assert not any(old in out for out in planned), f"existing iteration {old} would run again"


def test_tuning_the_loop_does_not_rerun_the_baselines(smoke_run, tmp_path):
    """A selection step depends only on its own strategy's settings: a new guard for the uncertainty
    loop re-plans the loop's selections (and what follows from them), not random's or grid's."""
    guard = "element_overrides:\n  distill:\n    guard_max_per_cell: 1\n"
    planned = _planned_outputs(smoke_run, tmp_path, guard)
    assert any("/uncertainty/iter_1/selection.csv" in out for out in planned), planned
    assert not any("/random/" in out or "/grid/" in out for out in planned), planned


def test_a_replicate_reseeds_the_distillation_not_the_sampling(smoke_run, tmp_path):
    """distill.replicate > 0 gives the initial subset, the selections and the members new seeds (a
    replicate campaign for the seed spread of the learning curves); the sampled pools are kept."""
    planned = _planned_outputs(smoke_run, tmp_path, "element_overrides:\n  distill:\n    replicate: 1\n")
    for strategy in ("uncertainty", "random", "grid"):
        assert any(f"/{strategy}/iter_0/selection.csv" in out for out in planned), strategy
        assert any(f"/{strategy}/iter_1/members/0/model.pt" in out for out in planned), strategy
    assert not any("/sample/" in out for out in planned), planned


def test_report_holds_every_table_and_figure(smoke_run):
    """`snakemake --report` gives one self-contained HTML file with each category of result, and every
    file marked for the report exists (a missing one would abort the report)."""
    html = smoke_run / "report.html"
    proc = _snakemake(smoke_run, "--report", str(html), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = html.read_text()
    for category in ("Summary", "EAM reference", "Sampling", "NNP parity", "NNP pool errors",
                     "Uncertainty quality", "Crystal relaxations (Tables 1-3)", "Distillation",
                     "NNP validation in MD"):
        assert category in text, f"report lacks category {category!r}"
    for name in ("figure2.png", "learning_curve.csv", "crystals_nnp.csv", "summary.md", "parity.png"):
        assert name in text, f"report lacks {name}"
    assert "low-accuracy region" in text  # the parity caption


def test_baseline_stride_trains_baselines_only_at_its_iterations(tmp_path):
    """distill.baseline_stride: the baselines' selections still grow every iteration (select_frames
    of iteration 1 is planned) but their ensembles are trained only at iterations 0, s, 2s; the
    uncertainty loop trains every iteration (it needs each ensemble to select)."""
    stride = "element_overrides:\n  distill:\n    n_iterations: 2\n    baseline_stride: 2\n"
    planned = _planned_outputs(tmp_path, tmp_path, stride)
    for strategy in ("random", "grid"):
        assert any(f"/{strategy}/iter_1/selection.csv" in out for out in planned)
        assert any(f"/{strategy}/iter_2/members/0/model.pt" in out for out in planned)
        assert not any(f"/{strategy}/iter_1/members/" in out for out in planned), strategy
    assert any("/uncertainty/iter_1/members/0/model.pt" in out for out in planned)


def test_baseline_iterations_choose_the_compared_budgets(tmp_path):
    """distill.baseline_iterations names the iterations whose baseline ensembles are trained; the
    final iteration is always among them (the comparison at the full budget)."""
    chosen = "element_overrides:\n  distill:\n    n_iterations: 3\n    baseline_iterations: [1]\n"
    planned = _planned_outputs(tmp_path, tmp_path, chosen)
    for strategy in ("random", "grid"):
        assert any(f"/{strategy}/iter_1/members/0/model.pt" in out for out in planned), strategy
        assert any(f"/{strategy}/iter_3/members/0/model.pt" in out for out in planned), strategy
        assert not any(f"/{strategy}/iter_2/members/" in out for out in planned), strategy
        assert any(f"/{strategy}/iter_2/selection.csv" in out for out in planned), strategy


def test_multi_factor_translation_gives_the_control_as_many_frames(tmp_path):
    """translate.scale_multipliers with two factors: the translated set holds 2 x 16 frames and the smoke
    config's 2 native frames, so the control draws 34 of the target's own frames (not 18), and the
    transfer table is planned on it."""
    multi = "element_overrides:\n  translate:\n    scale_multipliers: [0.98, 1.02]\n"
    planned = _planned_outputs(tmp_path, tmp_path, multi)
    assert any("/Al/subset/momt_32_n34/pred_momt_32/metrics.csv" in out for out in planned)
    assert not any("/Al/subset/momt_32_n18/" in out for out in planned)
    assert any(out.strip().endswith("transfer.md") or "transfer.csv" in out for out in planned)


def test_cold_crystals_give_the_control_as_many_frames(tmp_path):
    """translate.crystal_strains with two strains adds the source's 4 crystals at each: 16 translated,
    the smoke config's 2 native and 8 crystal frames, so the control draws 26 of the target's frames;
    a strain outside the schema's ±0.2 stops the run before any job."""
    cold = "element_overrides:\n  translate:\n    crystal_strains: [-0.02, 0.02]\n"
    planned = _planned_outputs(tmp_path, tmp_path, cold)
    assert any("/Al/subset/momt_32_n26/pred_momt_32/metrics.csv" in out for out in planned)
    assert not any("/Al/subset/momt_32_n18/" in out for out in planned)
    bad = tmp_path / "bad.yaml"
    bad.write_text("element_overrides:\n  translate:\n    crystal_strains: [0.3]\n")
    proc = _snakemake(tmp_path, "-n", "--cores", "1", "--configfile", str(bad), timeout=600)
    assert proc.returncode != 0 and "crystal_strains" in proc.stderr + proc.stdout


def test_the_translated_set_holds_the_native_frames_drawn_from_the_pool(smoke_run):
    """Al's translated set (smoke: translate.native_frames 2) ends with two frames of Al's own pool,
    labels as sampled; the control draws as many frames as the set holds; the table says so."""
    from nnpdistill.frames import FrameStore

    al = smoke_run / "results" / "smoke" / "Al"
    with FrameStore(al / "translated" / "from_Ni.h5") as st:
        out, attrs = st.read(), st.attrs
    assert attrs["native_frames"] == 2 and attrs["native_pool"] == "momt_32.h5"
    assert list(out.meta["source_element"][-2:]) == ["Al", "Al"]
    with FrameStore(al / "sample" / "momt_32.h5") as pool:
        native = pool.read(list(attrs["native_indices"]))
    np.testing.assert_array_equal(out.energy[-2:], native.energy)
    np.testing.assert_array_equal(out.forces[-2:], native.forces)
    with FrameStore(al / "subset" / f"momt_32_n{out.n_frames}" / "train.h5") as control:
        assert len(control) == out.n_frames == 18  # the 16 distilled frames and 2 native
    table = pd.read_csv(smoke_run / "results" / "smoke" / "transfer.csv")
    assert table.loc[0, "native_frames"] == 2 and table.loc[0, "n_frames"] == 18
    assert "16 + 2 native" in (smoke_run / "results" / "smoke" / "transfer.md").read_text()


def test_labelling_stage_labels_trains_and_judges_with_the_reference(smoke_run):
    """Al's translated frames and a held-out subset of its own pool are labelled by its reference (CP2K
    in CI) in chunks, an ensemble trains on them and is judged on the labelled test frames and against
    crystals computed with the same reference."""
    from nnpdistill.frames import FrameStore

    al = smoke_run / "results" / "smoke" / "Al"
    kind = "cp2k" if HAVE_CP2K else "ase"
    for store, n in (("translated/from_Ni", 4), ("subset/momt_32_n4/train", 4)):
        with FrameStore(al / "labelled" / f"{store}.h5") as st:
            frames = st.read()
            assert st.user_attrs["reference"]["kind"] == kind
        assert frames.n_frames + st.user_attrs["n_failed"] == n
        assert frames.energies is None  # neither CP2K nor EMT gives per-atom energies
        if kind == "cp2k":  # DFT totals: tens of eV per atom below zero (GTH q3 valence)
            assert (frames.energy / frames.n_atoms < -40).all()
        assert (al / "labelled" / f"{store}" / "chunk_1.h5").exists()
    metrics = pd.read_csv(al / "labelled" / "translated" / "from_Ni" / "test" / "metrics.csv")
    assert metrics.loc[0, "uq_level"] == "frame"  # no per-atom truth: the fallback is said
    assert np.isfinite(metrics.loc[0, "mae_meV_per_atom"])
    curve = pd.read_csv(al / "labelled" / "learning_curve.csv")
    assert list(curve["n_train_frames"]) == sorted(curve["n_train_frames"]) and len(curve) == 2
    ref = pd.read_csv(al / "reference" / "crystals.csv").set_index("structure")
    assert {"fcc", "bcc", "hcp_ideal"} <= set(ref.index)
    table = (al / "labelled" / "translated" / "from_Ni" / "crystals_nnp.md").read_text()
    assert f"Reference ({kind.upper()})" in table


def test_a_bad_reference_stops_the_workflow_before_any_job(tmp_path):
    """An unknown calculator (or a CP2K binary that is not there) is named before anything runs."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("element_overrides:\n  Al:\n    reference:\n      kind: cp2k\n      parameters:\n"
                   "        command: no-such-cp2k_shell\n")
    proc = _snakemake(tmp_path, "-n", "--cores", "1", "--configfile", str(bad), timeout=300)
    assert proc.returncode != 0
    err = proc.stdout + proc.stderr
    assert "element Al" in err and "no-such-cp2k_shell" in err and "apt-get install cp2k" in err
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("override, expected", [
    ("  Al:\n    potential: /no/such/Al.eam.fs\n", ["element Al", "/no/such/Al.eam.fs", "does not exist"]),
    ("  Ni:\n    potential: lammps:Al_jnp.eam\n", ["element Ni", "Al_jnp.eam"]),
    ("  Al:\n    sample:\n      n_framez: 3\n", ["element Al", "al.yaml", "n_framez"]),
])
def test_bad_element_settings_stop_the_workflow_at_start_up(tmp_path, override, expected):
    """A bad potential path, a potential without the element and a misspelt key in one element file are
    named (element, file, key) at start-up, in a few lines, before any job writes anything."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("element_overrides:\n" + override)
    proc = _snakemake(tmp_path, "-n", "--cores", "1", "--configfile", str(bad), timeout=300)
    assert proc.returncode != 0
    err = proc.stdout + proc.stderr
    assert all(word in err for word in expected), err[-3000:]
    assert "Failed validating" not in err  # not the schema dump
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("complement, expected", [
    ("Cu", ["complement_element 'Cu' must be one of elements", "other than the source Ni"]),
    ("Ni", ["complement_element 'Ni' must be one of elements"]),
    ("Al", ["complement_element Al: its distill.enabled is false", "config/elements/al.yaml"]),
])
def test_a_bad_complement_element_is_named_at_start_up(tmp_path, complement, expected):
    """complement_element must be another element of the campaign with distilled frames: otherwise the
    run stops at start-up naming it, before any job."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"complement_element: {complement}\n")
    proc = _snakemake(tmp_path, "-n", "--cores", "1", "--configfile", str(bad), timeout=300)
    assert proc.returncode != 0
    err = proc.stdout + proc.stderr
    assert all(word in err for word in expected), err[-3000:]
    assert not (tmp_path / "results").exists()


def test_the_main_jobs_priorities_follow_its_longest_path(tmp_path):
    """The main job's plan (config/config.yaml, a dry run in an empty folder) gives the distillation
    source's MOMT pool priority 30, the other MOMT pools 20, the loop's jobs on its selection pool 10 and
    everything else (NPT runs, the baselines, scores on the evaluation pool) none."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path), "-n",
           "--cores", "2", "--configfile", str(REPO / "config" / "config.yaml")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    prio = {(rule, wc): p for rule, wc, p in _jobs(proc.stdout)}
    assert prio[("sample_momt", "element=Ni, size=32")] == 30
    assert prio[("sample_momt", "element=Ni, size=108")] == 20
    assert prio[("sample_momt", "element=Nb, size=108")] == 20
    assert prio[("sample_npt", "element=Ni, npt_method=npt_liq, size=108")] == 0
    loop = "element=Ni, trainset=distill/uncertainty/iter_3"
    base = "element=Ni, trainset=distill/random/iter_9"
    assert prio[("train_member", f"{loop}, member=0")] == 10
    assert prio[("train_member", f"{base}, member=0")] == 0
    assert prio[("predict_pool", f"{loop}, pool=momt_32")] == 10
    assert prio[("predict_pool", f"{loop}, pool=momt_108")] == 0  # an evaluation pool: off the path
    assert prio[("select_frames", "element=Ni, strategy=uncertainty, iteration=4")] == 10
    assert prio[("select_frames", "element=Ni, strategy=grid, iteration=4")] == 0
    assert prio[("compute_pool_aevs", "element=Ni, pool=momt_32")] == 10
