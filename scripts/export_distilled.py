"""Snakemake adapter for rule export_distilled (the distilled dataset as a product)."""

from nnpdistill.distill import export_distilled
from nnpdistill.runtime import setup_job

sm = snakemake  # noqa: F821 - injected by Snakemake
log = setup_job(sm.log[0], sm.threads)
manifest = export_distilled(sm.input.selection, sm.input.pool, sm.output.h5, sm.output.extxyz,
                            sm.output.manifest, strategy=sm.params.strategy, iteration=sm.params.iteration,
                            seeds=dict(sm.params.seeds))
log.info("distilled %s: %d frames (%.1f %% of the pool)", sm.params.strategy, manifest["n_frames"],
         100 * manifest["fraction_of_pool"])
