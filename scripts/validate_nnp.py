"""Snakemake adapter for rule validate_nnp."""

from pathlib import Path

from nnpdistill.nnp.validate import ValidateSettings, melting_point_from, validate_ensemble
from nnpdistill.runtime import setup_job

sm = snakemake  # noqa: F821 - injected by Snakemake
setup_job(sm.log[0], sm.threads)
cfg = dict(sm.params.settings)
cfg["melting_point_K"] = melting_point_from(cfg["melting_point_K"], sm.input.get("coexistence"))
validate_ensemble(list(sm.input.members), Path(sm.output.csv).parent, ValidateSettings.from_dict(cfg),
                  sm.params.symbol, potential=sm.params.potential, seed=int(sm.params.seed))
