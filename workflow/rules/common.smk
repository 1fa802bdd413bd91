# Shared setup: config validation, per-element settings, path helpers, targets.
import os
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from nnpdistill.cpu_kernels import pin_environment
from nnpdistill.config import deep_merge, element_config_path, load_yaml, overrides_for, stage_seed
from nnpdistill.errors import ConfigError
from nnpdistill.md.settings import check_sample_config
from nnpdistill.potentials.eam_cpp import KERNEL_VARIABLE
from nnpdistill.device import STAGES as DEVICE_STAGES, environment_variable as device_variable
from nnpdistill.selection import (
    DESCRIPTOR_STRATEGIES,
    FORCE_STRATEGIES,
    MODEL_STRATEGIES,
    RANKED_STRATEGIES,
    REGISTRY,
    STRATEGIES,
)
from nnpdistill.translate import CRYSTAL_FRAME_STRUCTURES

validate(config, "../schemas/config.schema.yaml", set_default=True)

# The same bytes on every x86-64 CPU kind: every job inherits the kernel pin (envvars passes it to
# cluster jobs too); each job's set-up checks that it took (nnpdistill.cpu_kernels).
CPU_KERNEL_ENV = pin_environment(config["cpu_kernels"])
# the EAM evaluator (C++ or torch kernel) of every job, local or on the cluster
EAM_KERNEL_ENV = {KERNEL_VARIABLE: config["eam_kernel"]}
os.environ.update(EAM_KERNEL_ENV)
# each stage's device (cpu, cuda, auto) reaches its jobs the same way (nnpdistill.device.device_for)
DEVICE_ENV = {device_variable(stage): config["device"][stage] for stage in DEVICE_STAGES}
os.environ.update(DEVICE_ENV)


envvars:
    *CPU_KERNEL_ENV,
    *EAM_KERNEL_ENV,
    *DEVICE_ENV,


BASE_DIR = Path(workflow.basedir)
RESULTS = config["results_dir"]


def _schema_error(exc):
    """A schema validation error in one line: the key (dotted path) and what is wrong (an enum's message
    lists the allowed values), not the schema dump."""
    import re

    text = str(exc)
    msg = next((ln for ln in text.splitlines() if ln.startswith("ValidationError:")), text.splitlines()[0])
    msg = msg.replace("ValidationError: ", "")
    where = re.search(r"On instance((?:\[[^\]]+\])+)", text)
    key = ".".join(re.findall(r"\['?([^'\]]+)'?\]", where.group(1))) if where else ""
    return f"{key}: {msg}" if key else msg


def _where(path):
    """An element's config file, and the overrides merged over it when there are any."""
    return f"{path} with element_overrides" if config["element_overrides"] else str(path)


def _load_elements():
    elements = {}
    for symbol in config["elements"]:
        path = element_config_path(BASE_DIR / config["element_config_dir"], symbol)
        try:
            data = deep_merge(load_yaml(path), overrides_for(config["element_overrides"], symbol))
        except ConfigError as exc:
            raise WorkflowError(f"element {symbol}: {exc}") from exc
        try:
            validate(data, "../schemas/element.schema.yaml", set_default=True)
        except WorkflowError as exc:
            # the element, its file and the offending key in a few lines, not the whole schema
            raise WorkflowError(f"element {symbol} ({_where(path)}): {_schema_error(exc)}") from None
        if data["symbol"] != symbol:
            raise WorkflowError(f"{path} declares symbol {data['symbol']!r} but is listed as {symbol!r}")
        try:  # each sampling run's settings and cell (sizes to suit sample.structure)
            check_sample_config(data["sample"])
        except ConfigError as exc:
            raise WorkflowError(f"element {symbol} ({_where(path)}): sample: {exc}") from None
        elements[symbol] = data
    return elements


ELEMENTS = _load_elements()
SOURCE_ELEMENT = config["elements"][0]


def _translation_sources():
    """The elements whose distilled frames are translated: the source, then the complement if any."""
    extra = config.get("complement_element")
    if not extra:
        return [SOURCE_ELEMENT]
    if extra not in ELEMENTS or extra == SOURCE_ELEMENT:
        raise WorkflowError(f"complement_element {extra!r} must be one of elements {list(ELEMENTS)} other "
                            f"than the source {SOURCE_ELEMENT}")
    if not ELEMENTS[extra]["distill"]["enabled"]:
        raise WorkflowError(f"complement_element {extra}: its distill.enabled is false, so it has no "
                            f"distilled frames to translate (config/elements/{extra.lower()}.yaml)")
    return [SOURCE_ELEMENT, extra]


TRANSLATION_SOURCES = _translation_sources()


def _check_references():
    """Every element's reference method must be usable here (module imports, CP2K binary and data
    files, the element's pseudopotential and basis set): a bad one stops the run before any job."""
    from nnpdistill.reference import make_reference

    for symbol, cfg in ELEMENTS.items():
        if cfg["reference"]["kind"] == "eam" and not cfg["label"]["stores"]:
            continue  # the EAM engine itself is checked by the jobs that load it
        try:
            make_reference(symbol, cfg["reference"], potential=cfg["potential"]).check()
        except ConfigError as exc:
            raise WorkflowError(f"element {symbol} (config/elements/{symbol.lower()}.yaml): {exc}") from None
        label = cfg["label"]
        for key in ("train_store", "test_store"):
            if label[key] is not None and label[key] not in label["stores"]:
                raise WorkflowError(f"element {symbol}: label.{key} {label[key]!r} is not one of label.stores "
                                    f"{label['stores']}")


_check_references()


def _check_potentials():
    """Every element's EAM file must exist, parse and hold the element: a bad one stops the run at
    start-up, naming the element and its config file, before any job has written anything."""
    from nnpdistill.errors import NNPDistillError
    from nnpdistill.potentials import load_eam

    for symbol, cfg in ELEMENTS.items():
        try:
            load_eam(symbol, path=cfg["potential"])
        except (NNPDistillError, OSError, ValueError) as exc:
            where = _where(element_config_path(BASE_DIR / config["element_config_dir"], symbol))
            raise WorkflowError(f"element {symbol} ({where}): potential {cfg['potential']!r}: {exc}") from None


_check_potentials()


def check_resources():
    """Refuse resource requests below config["resource_minimums"] (see nnpdistill.resources)."""
    from nnpdistill.resources import check_workflow_resources

    try:
        check_workflow_resources(workflow.rules, config["resource_minimums"])
    except ConfigError as exc:
        raise WorkflowError(str(exc)) from None


def element_cfg(wildcards):
    """The validated settings of the rule's {element}."""
    return ELEMENTS[wildcards.element]


def seed_for(*parts):
    """A reproducible per-job seed derived from the campaign's master seed."""
    return stage_seed(config["seed"], *parts)


def res(path):
    """A path under the results folder."""
    return f"{RESULTS}/{path}"


# Scheduling: of the jobs that are ready, Snakemake starts those of highest priority first (rule
# `priority:`). The campaign's longest path is the distillation source's MOMT pool, then the loop of a
# model-based strategy, whose every iteration waits for the previous iteration's ensemble; everything
# else (the NPT runs, the other pools, the baselines' members, the scores on evaluation pools) can fill
# the cores around it. Without priorities a 2-core run may start both NPT runs before the MOMT pool the
# loop needs, and the loop's members queue behind the baselines'.
PRIORITY_SOURCE_POOL, PRIORITY_POOL, PRIORITY_LOOP = 30, 20, 10


def _on_loop(element, trainset=None, strategy=None, pool=None):
    """Whether a job lies on a distilling element's loop of a model-based strategy."""
    cfg = ELEMENTS.get(element, {}).get("distill", {})
    if not cfg.get("enabled"):
        return False
    if trainset is not None:
        parts = trainset.split("/")
        if parts[0] != "distill" or len(parts) < 3:
            return False
        strategy = parts[1]
    if pool is not None and pool != cfg["pool"]:
        return False
    return strategy in MODEL_STRATEGIES or (strategy is None and pool is not None)  # or the pool's AEVs


def job_priority(wildcards):
    """A job's scheduling priority (higher starts first): see PRIORITY_SOURCE_POOL above."""
    wc = dict(wildcards.items())
    element = wc.get("element")
    if "size" in wc and "npt_method" not in wc:  # sample_momt
        cfg = ELEMENTS[element]["distill"]
        return PRIORITY_SOURCE_POOL if cfg["enabled"] and cfg["pool"] == f"momt_{wc['size']}" else PRIORITY_POOL
    if _on_loop(element, wc.get("trainset"), wc.get("strategy"), wc.get("pool")):
        return PRIORITY_LOOP
    return 0


def table1_targets(element):
    """The paper's Table 1: ensembles trained on N frames of NPT-from-FCC, NPT-from-liquid and MOMT
    (for the source element only)."""
    if element != SOURCE_ELEMENT:
        return []
    nnp = ELEMENTS[element]["nnp"]
    sample = ELEMENTS[element]["sample"]
    if not nnp["table1_frames"] or nnp["table1_size"] not in sample["sizes"]:
        return []
    out = []
    for method in sample["methods"]:
        trainset = f"{element}/subset/{method}_{nnp['table1_size']}_n{nnp['table1_frames']}"
        out.append(res(f"{trainset}/crystals_nnp.md"))
        if "momt" in sample["methods"]:  # every dataset judged on the MOMT pool (paper Fig. S2)
            out.append(res(f"{trainset}/pred_momt_{nnp['table1_size']}/metrics.csv"))
    return out


def all_targets():
    targets = []
    for element, cfg in ELEMENTS.items():
        targets.append(res(f"{element}/eam/crystals.csv"))
        targets += sample_targets(element)
        targets += table1_targets(element)
        if cfg["distill"]["enabled"]:
            targets += distill_targets(element)
        targets += translate_targets(element)
        targets += label_targets(element)
        targets += validate_targets(element)
    return targets + transfer_table_targets()


# ---- each stage's helpers, one file per stage (rule files hold only rules) ----
include: "helpers/sample.smk"
include: "helpers/nnp.smk"
include: "helpers/distill.smk"
include: "helpers/translate.smk"
include: "helpers/label.smk"
include: "helpers/report.smk"
