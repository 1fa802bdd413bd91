"""Snakemake adapter for rule train_member."""

from pathlib import Path

from nnpdistill.nnp.builder import NNPSettings
from nnpdistill.nnp.train import TrainSettings, train_member
from nnpdistill.runtime import setup_job

sm = snakemake  # noqa: F821 - injected by Snakemake
setup_job(sm.log[0], sm.threads)
settings = NNPSettings.from_dict({"element": sm.params.symbol, **dict(sm.params.nnp_settings)})
train_member(
    sm.input.frames,
    settings,
    TrainSettings.from_dict(dict(sm.params.train_settings)),
    seed=int(sm.params.seed),
    out_dir=Path(sm.output.model).parent,
)
