"""Snakemake adapter for rule subsample_labelled: N seeded random frames of a labelled store."""

from nnpdistill.distill import subsample_pool
from nnpdistill.runtime import setup_job

sm = snakemake  # noqa: F821 - injected by Snakemake
setup_job(sm.log[0], sm.threads)
subsample_pool(sm.input.h5, sm.output.h5, int(sm.wildcards.labelled_n), seed=int(sm.params.seed))
