"""Snakemake adapter for rule select_frames (iteration i > 0 of the distillation loop)."""

import pandas as pd

from nnpdistill.distill import read_selection, select_iteration, write_selection
from nnpdistill.frames import FrameStore
from nnpdistill.runtime import setup_job

sm = snakemake  # noqa: F821 - injected by Snakemake
log = setup_job(sm.log[0], sm.threads)
previous = read_selection(sm.input.previous)
scores = pd.read_csv(sm.input.scores)
with FrameStore(sm.input.pool) as store:
    n_pool = len(store)
descriptors = None
if sm.input.get("aevs"):  # fps_aev, direct: the frames' pooled AEVs from the pool's cache
    from nnpdistill.nnp.aev_cache import frame_descriptors

    descriptors = frame_descriptors(sm.input.aevs)
ranking = None
if sm.input.get("ranking"):  # quests: the next frames of the pool's ranking
    from nnpdistill.distill import read_ranking

    ranking = read_ranking(sm.input.ranking)
selection, reason = select_iteration(sm.wildcards.strategy, previous, scores, int(sm.wildcards.iteration),
                                     dict(sm.params.cfg), int(sm.params.seed), n_pool, descriptors, ranking)
write_selection(selection, sm.output.csv)
log.info("%s iteration %s: %d -> %d frames (%s)", sm.wildcards.strategy, sm.wildcards.iteration,
         len(previous), len(selection), reason)
