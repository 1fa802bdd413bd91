"""Snakemake adapter for rule subsample_pool: a seeded random subset of a pool as a training set."""

from nnpdistill.distill import subsample_pool
from nnpdistill.runtime import setup_job

sm = snakemake  # noqa: F821 - injected by Snakemake
setup_job(sm.log[0], sm.threads)
count = sm.wildcards.nframes
subsample_pool(sm.input.pool, sm.output.h5, None if count == "all" else int(count[1:]), seed=sm.params.seed)
