"""Snakemake adapter for rule compare_melting: MOMT melting estimates beside the coexistence reference."""

from nnpdistill.md.coexistence import compare_melting
from nnpdistill.runtime import setup_job

log = setup_job(snakemake.log[0], snakemake.threads)  # noqa: F821 - injected by Snakemake
table = compare_melting(snakemake.input.momt, snakemake.input.coexistence, snakemake.output.csv,  # noqa: F821
                        snakemake.output.md)  # noqa: F821
log.info("\n%s", table.to_string())
