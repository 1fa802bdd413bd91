"""Config validation: the schemas fill defaults and reject bad configs with the key named."""

import subprocess
import sys

import pytest
import yaml
from conftest import REPO

from nnpdistill.config import deep_merge, load_yaml, stage_seed
from nnpdistill.errors import ConfigError


def test_deep_merge_is_recursive_and_pure():
    base = {"a": {"b": 1, "c": 2}, "d": 3}
    merged = deep_merge(base, {"a": {"c": 5}})
    assert merged == {"a": {"b": 1, "c": 5}, "d": 3}
    assert base["a"]["c"] == 2


def test_stage_seed_is_stable_and_distinct():
    assert stage_seed(1, "train", 0) == stage_seed(1, "train", 0)
    assert stage_seed(1, "train", 0) != stage_seed(1, "train", 1)
    assert stage_seed(1, "train", 0) != stage_seed(2, "train", 0)
    assert 0 <= stage_seed(7, "x") < 2**63


def test_load_yaml_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_yaml(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_yaml(bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_yaml(listy)


def _dry_run(tmp_path, extra_config: dict) -> subprocess.CompletedProcess:
    cfg = tmp_path / "extra.yaml"
    cfg.write_text(yaml.safe_dump(extra_config))
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path),
         "-n", "--cores", "1", "--configfile", str(cfg)],
        capture_output=True, text=True, timeout=120,
    )


def test_schema_rejects_bad_top_level_key(tmp_path):
    proc = _dry_run(tmp_path, {"seed": -4})
    assert proc.returncode != 0
    assert "seed" in proc.stderr + proc.stdout


def test_schema_rejects_bad_element_setting(tmp_path):
    proc = _dry_run(tmp_path, {"element_overrides": {"crystals": {"fmax_eV_per_A": -1}}})
    assert proc.returncode != 0
    assert "fmax_eV_per_A" in proc.stderr + proc.stdout


def test_unknown_element_is_named(tmp_path):
    proc = _dry_run(tmp_path, {"elements": ["Ni", "Xx"]})
    assert proc.returncode != 0
    assert "xx.yaml" in (proc.stderr + proc.stdout)


def test_shipped_configs_dry_run(tmp_path):
    proc = _dry_run(tmp_path, {})
    assert proc.returncode == 0, proc.stderr
    assert "compute_eam_crystals" in proc.stdout


def test_overrides_for_applies_symbol_keys_to_their_element_only():
    from nnpdistill.config import overrides_for

    ov = {"sample": {"methods": ["momt"], "n_frames": 100}, "Cu": {"sample": {"n_frames": 4000}},
          "Al": {"nnp": {"n_members": 3}}}
    assert overrides_for(ov, "Cu") == {"sample": {"methods": ["momt"], "n_frames": 4000}}
    assert overrides_for(ov, "Al") == {"sample": {"methods": ["momt"], "n_frames": 100},
                                       "nnp": {"n_members": 3}}
    assert overrides_for(ov, "Ni") == {"sample": {"methods": ["momt"], "n_frames": 100}}
    with pytest.raises(ConfigError, match="element_overrides.Cu must be a mapping"):
        overrides_for({"Cu": 3}, "Cu")
    # one-letter symbols (V, W) are elements too, never a shared setting of every element
    ov = {"nnp": {"n_members": 3}, "V": {"distill": {"n_iterations": 2}}, "W": {"sample": {"n_frames": 9}}}
    assert overrides_for(ov, "V") == {"nnp": {"n_members": 3}, "distill": {"n_iterations": 2}}
    assert overrides_for(ov, "Ni") == {"nnp": {"n_members": 3}}


def test_progress_streams_log_lines_in_a_job(tmp_path):
    """In a workflow job (setup_job with a log file) progress is log lines with a rate and the time left,
    written while the loop runs, never a tqdm bar."""
    import logging

    from nnpdistill.runtime import Progress, setup_job

    log = tmp_path / "job.log"
    setup_job(log, 1)
    with Progress(10, "sampling", "round", every_s=0.0) as bar:
        assert bar.bar is None
        bar.update(4)
        text = log.read_text()
        assert "sampling: 4/10 round (40 %)" in text and "min left" in text
        bar.update(6)
    assert "sampling: 10/10 round (100 %)" in log.read_text()
    logging.getLogger().handlers.clear()


def test_typed_settings_defaults_come_from_the_schema(tmp_path):
    """Issue 18's one source of truth: the typed settings the CLI and the package use take their defaults
    from the workflow's schemas through the generated module, which must be up to date; a run with only
    the required arguments is then the run the workflow makes. A schema edit shows in the settings."""
    import dataclasses

    from nnpdistill import defaults
    from nnpdistill.md.coexistence import CoexistenceSettings
    from nnpdistill.md.run import MOMTParams, RunSettings
    from nnpdistill.md.setup import MDParams
    from nnpdistill.nnp.validate import ValidateSettings

    # the committed module is what the schemas render to (else: python -m nnpdistill.defaults ... --write)
    assert defaults.GENERATED.read_text() == defaults.render(REPO / "workflow/schemas")
    assert defaults.main([str(REPO / "workflow/schemas")]) == 0

    schema = yaml.safe_load((REPO / "workflow/schemas/element.schema.yaml").read_text())["properties"]
    sample = schema["sample"]["properties"]
    checked = []

    def check(obj, props):
        for f in dataclasses.fields(obj):
            required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            prop = props.get(f.name, {})
            if required or "default" not in prop or "properties" in prop:
                continue
            got = getattr(obj, f.name)
            got = list(got) if isinstance(got, tuple) else got
            assert got == props[f.name]["default"], f"{type(obj).__name__}.{f.name}: {got!r}"
            checked.append(f.name)

    check(RunSettings(method="momt"), sample)
    check(MDParams(), sample)
    check(MOMTParams(), sample["momt"]["properties"])
    check(CoexistenceSettings(temperature_guess_K=1000.0), schema["coexistence"]["properties"])
    check(ValidateSettings(), schema["validate"]["properties"])
    assert len(checked) >= 66, checked
    assert isinstance(CoexistenceSettings(1000.0).cells, tuple)  # tuple fields stay tuples
    a, b = ValidateSettings(), ValidateSettings()
    a.extra_temperatures_K.append(1.0)
    assert b.extra_temperatures_K == [2000.0]  # list defaults are fresh per instance

    # the schema's defaults reach the settings: a rendered schema with another default changes them
    edited = tmp_path / "schemas"
    edited.mkdir()
    for name in defaults.SCHEMAS:
        text = (REPO / "workflow/schemas" / f"{name}.schema.yaml").read_text()
        if name == "element":
            text = text.replace("n_h: {type: integer, minimum: 4, default: 60,",
                                "n_h: {type: integer, minimum: 4, default: 61,")
        (edited / f"{name}.schema.yaml").write_text(text)
    namespace: dict = {}
    exec(defaults.render(edited), namespace)
    assert namespace["DEFAULTS"]["element"]["sample"]["momt"]["n_h"] == 61
    assert defaults.default("sample.momt.n_h") == 60 and defaults.default("config:seed") == 2023
    with pytest.raises(KeyError, match="no schema default"):
        defaults.default("sample.momt.no_such_key")

    @dataclasses.dataclass
    @defaults.from_schema("sample.momt")
    class Unknown:
        n_h: int = defaults.SCHEMA

    assert Unknown().n_h == 60
    assert isinstance(RunSettings(method="momt").momt, MOMTParams)  # a section is not a default
    with pytest.raises(TypeError, match="is a section of settings"):
        defaults.from_schema("sample")(type("Nested", (), {"__annotations__": {"momt": "MOMTParams"},
                                                         "momt": defaults.SCHEMA}))
    with pytest.raises(KeyError, match="has no default 'nope'"):
        defaults.from_schema("sample.momt")(type("Bad", (), {"__annotations__": {"nope": "int"},
                                                           "nope": defaults.SCHEMA}))


def test_schema_strategy_lists_follow_the_registry():
    """The strategy registry is the one list: the schema's enums (the loop's strategies, the translated
    set's) must name exactly its strategies, in its order, and every strategy must be dispatchable."""
    from nnpdistill.selection import REGISTRY, STRATEGIES

    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "element.schema.yaml").read_text())
    props = schema["properties"]
    assert props["distill"]["properties"]["strategies"]["items"]["enum"] == list(STRATEGIES)
    assert props["translate"]["properties"]["strategy"]["enum"] == list(STRATEGIES)
    assert all(name == s.name for name, s in REGISTRY.items())


def test_a_workflow_job_ends_with_one_line_and_its_wall_time(tmp_path):
    """setup_job with a log file (every workflow job): the job's last line says it is done and how long
    it took; a job that fails says why instead, never 'done'."""
    import subprocess
    import sys

    ok = "from nnpdistill.runtime import setup_job; import time; setup_job(r'{}'); time.sleep(0.2)"
    bad = "from nnpdistill.runtime import setup_job; setup_job(r'{}'); raise ValueError('no such pool')"
    for name, code, rc in (("ok.log", ok, 0), ("bad.log", bad, 1)):
        log = tmp_path / name
        proc = subprocess.run([sys.executable, "-c", code.format(log)], capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == rc, proc.stderr
        last = log.read_text().strip().splitlines()[-1]
        if rc == 0:
            took = float(last.split("job done in ")[1].split(" s:")[0])
            assert 0.2 <= took < 60 and last.endswith(": ok.log") and "job done" in proc.stderr
        else:
            text = log.read_text()
            assert "job done" not in text and "job failed: ValueError: no such pool" in text


def test_setup_job_pins_blas_threads_on_the_command_line_path():
    """A command-line job (no Snakemake environment) gets one BLAS thread too: the reweighting's numbers
    differed in the 16th digit between a workflow job (Snakemake sets the BLAS thread variables) and the
    same stage run by hand on a 2-thread OpenBLAS pool."""
    import json
    import os
    import subprocess
    import sys

    code = ("import json, numpy; from threadpoolctl import threadpool_info; "
            "before = [p['num_threads'] for p in threadpool_info() if p['user_api'] == 'blas']; "
            "from nnpdistill.runtime import setup_job; setup_job(None, 1); "
            "after = [p['num_threads'] for p in threadpool_info() if p['user_api'] == 'blas']; "
            "print(json.dumps([before, after]))")
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    env["OPENBLAS_NUM_THREADS"] = "2"  # the pool a 2-core machine starts with, whatever this one has
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    before, after = json.loads(out.stdout.strip().splitlines()[-1])
    assert before and max(before) == 2
    assert after == [1] * len(before)


def test_a_sampling_cell_that_does_not_suit_its_structure_stops_the_plan(tmp_path):
    # 108 atoms make an FCC cell but no BCC one (2 L^3): named before any job runs
    proc = _dry_run(tmp_path, {"element_overrides": {"Nb": {"sample": {
        "structure": "bcc", "sizes": [108], "momt": {"order": "q6_bonds"}}}}})
    assert proc.returncode != 0
    out = proc.stderr + proc.stdout
    assert "element Nb" in out and "BCC cell needs N = 2 L^3" in out
    # a BCC start under the box-aligned FCC order parameter cannot be biased: named, with the fix
    proc = _dry_run(tmp_path, {"element_overrides": {"Nb": {"sample": {"structure": "bcc", "sizes": [128]}}}})
    assert proc.returncode != 0
    assert "use q6_bonds" in proc.stderr + proc.stdout
