"""Snakemake adapter for rules sample_momt and sample_npt (the method comes from params)."""

from nnpdistill.md.run import sample
from nnpdistill.runtime import setup_job

setup_job(snakemake.log[0], snakemake.threads)  # noqa: F821 - injected by Snakemake
sample(
    snakemake.params.symbol,  # noqa: F821
    snakemake.params.method,  # noqa: F821
    int(snakemake.wildcards.size),  # noqa: F821
    snakemake.output.h5,  # noqa: F821
    cfg=snakemake.params.cfg,  # noqa: F821
    seed=snakemake.params.seed,  # noqa: F821
    potential=snakemake.params.potential,  # noqa: F821
    progress=True,
)
