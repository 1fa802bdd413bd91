"""Snakemake adapter for rule compute_eam_crystals."""

from nnpdistill.crystals import write_eam_crystals
from nnpdistill.runtime import setup_job

setup_job(snakemake.log[0], snakemake.threads)  # noqa: F821 - injected by Snakemake
write_eam_crystals(
    snakemake.params.symbol,  # noqa: F821
    snakemake.output.csv,  # noqa: F821
    potential=snakemake.params.potential,  # noqa: F821
    fmax_eV_per_A=snakemake.params.fmax_eV_per_A,  # noqa: F821
)
