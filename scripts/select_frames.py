"""Snakemake adapter for rule select_frames (iteration i > 0 of the distillation loop)."""

from nnpdistill.distill import read_selection, select_step
from nnpdistill.runtime import setup_job

sm = snakemake  # noqa: F821 - injected by Snakemake
log = setup_job(sm.log[0], sm.threads)
# fps_aev and direct read the pool's AEV cache; quests the pool's ranking
selection, reason = select_step(sm.wildcards.strategy, sm.input.previous, sm.input.scores, sm.input.pool,
                                int(sm.wildcards.iteration), dict(sm.params.cfg), int(sm.params.seed),
                                sm.output.csv, aevs=sm.input.get("aevs") or None,
                                ranking=sm.input.get("ranking") or None)
log.info("%s iteration %s: %d -> %d frames (%s)", sm.wildcards.strategy, sm.wildcards.iteration,
         len(read_selection(sm.input.previous)), len(selection), reason)
