"""Snakemake adapter for rule rank_frames (a ranked strategy's one-off order of the selection pool)."""

from nnpdistill.distill import rank_frames, read_selection
from nnpdistill.runtime import setup_job

sm = snakemake  # noqa: F821 - injected by Snakemake
log = setup_job(sm.log[0], sm.threads)
df = rank_frames(sm.wildcards.strategy, sm.input.pool, read_selection(sm.input.initial), int(sm.params.size),
                 sm.output.csv, dict(sm.params.cfg), threads=sm.threads)
log.info("%s: ranked %d frames after the %d initial ones", sm.wildcards.strategy, len(df),
         len(read_selection(sm.input.initial)))
