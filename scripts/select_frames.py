"""Snakemake adapter for rule select_frames (iteration i > 0 of the distillation loop)."""

from nnpdistill.distill import select_step
from nnpdistill.runtime import setup_job

sm = snakemake  # noqa: F821 - injected by Snakemake
log = setup_job(sm.log[0], sm.threads)
# fps_aev and direct read the pool's AEV cache; quests the pool's ranking
selection, reason = select_step(sm.wildcards.strategy, sm.input.previous, sm.input.scores, sm.input.pool,
                                int(sm.wildcards.iteration), dict(sm.params.cfg), int(sm.params.seed),
                                sm.output.csv, aevs=sm.input.get("aevs") or None,
                                ranking=sm.input.get("ranking") or None)
iteration = int(sm.wildcards.iteration)
added = int((selection["iteration_added"] == iteration).sum())
log.info("%s iteration %s: %d -> %d frames (%s)", sm.wildcards.strategy, iteration, len(selection) - added,
         len(selection), reason)
