"""Snakemake adapter for rule rank_frames (a ranked strategy's one-off order of the selection pool)."""

from nnpdistill.distill import rank_frames, read_selection
from nnpdistill.runtime import setup_job

sm = snakemake  # noqa: F821 - injected by Snakemake
log = setup_job(sm.log[0], sm.threads)
cfg = dict(sm.params.cfg)
initial = read_selection(sm.input.initial)
df = rank_frames(sm.wildcards.strategy, sm.input.pool, initial, int(cfg["quests_ranked_frames"]),
                 sm.output.csv, cfg, threads=sm.threads)
log.info("%s: ranked %d frames after the %d initial ones", sm.wildcards.strategy, len(df), len(initial))
