"""Snakemake adapter for rule train_member (nnpdistill.nnp.member.make_member: train, or copy the previous
iteration's member when the loop's selection did not change)."""

from pathlib import Path

from nnpdistill.nnp.builder import NNPSettings
from nnpdistill.nnp.member import make_member
from nnpdistill.nnp.train import TrainSettings
from nnpdistill.runtime import setup_job

sm = snakemake  # noqa: F821 - injected by Snakemake
setup_job(sm.log[0], sm.threads)
nnp = NNPSettings.from_dict({"element": sm.params.symbol, **dict(sm.params.nnp_settings)})
train = TrainSettings.from_dict(dict(sm.params.train_settings))
make_member(sm.input.frames, nnp, train, seed=int(sm.params.seed), out_dir=Path(sm.output.model).parent,
            previous=sm.params.previous or None, member=sm.wildcards.member,
            init=getattr(sm.input, "init", None) or None)  # distill.warm_start: the previous member
