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


def element_cfg(wildcards):
    """The validated settings of the rule's {element}."""
    return ELEMENTS[wildcards.element]


def seed_for(*parts):
    """A reproducible per-job seed derived from the campaign's master seed."""
    return stage_seed(config["seed"], *parts)


def res(path):
    """A path under the results folder."""
    return f"{RESULTS}/{path}"


def all_targets():
    targets = []
    for element in ELEMENTS:
        targets.append(res(f"{element}/eam/crystals.csv"))
    return targets
