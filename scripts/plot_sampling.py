"""Snakemake adapter for rule plot_sampling."""

from nnpdistill.md.plotting import plot_sampling
from nnpdistill.runtime import setup_job

setup_job(snakemake.log[0], snakemake.threads)  # noqa: F821 - injected by Snakemake
plot_sampling(
    {"npt_fcc": snakemake.input.npt_fcc, "npt_liq": snakemake.input.npt_liq,  # noqa: F821
     "momt": snakemake.input.momt},  # noqa: F821
    snakemake.output.energy,  # noqa: F821
    snakemake.output.visits,  # noqa: F821
    snakemake.output.bias,  # noqa: F821
    snakemake.output.teff,  # noqa: F821
)
