# Shared setup: config validation, per-element settings, path helpers, targets.
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from nnpdistill.config import deep_merge, element_config_path, load_yaml, stage_seed
from nnpdistill.errors import ConfigError

validate(config, "../schemas/config.schema.yaml", set_default=True)

BASE_DIR = Path(workflow.basedir)
RESULTS = config["results_dir"]


def _load_elements():
    elements = {}
    for symbol in config["elements"]:
        path = element_config_path(BASE_DIR / config["element_config_dir"], symbol)
        try:
            data = deep_merge(load_yaml(path), config["element_overrides"])
        except ConfigError as exc:
            raise WorkflowError(f"element {symbol}: {exc}") from exc
        validate(data, "../schemas/element.schema.yaml", set_default=True)
        if data["symbol"] != symbol:
            raise WorkflowError(f"{path} declares symbol {data['symbol']!r} but is listed as {symbol!r}")
        elements[symbol] = data
    return elements


ELEMENTS = _load_elements()
SOURCE_ELEMENT = config["elements"][0]


wildcard_constraints:
    element="|".join(ELEMENTS),


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
    return targets
