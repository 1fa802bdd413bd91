"""Snakemake adapter for rule predict_pool: scores, metrics, parity and uncertainty plots.

The pool's AEVs come from the cache of rule compute_pool_aevs (input ``aevs``); a cache made with other
AEV settings or for another pool file is not used: the AEVs are then computed on the fly (a logged
warning; the results are the same, only slower). ``params.forces``: the force committee's scores too
(a strategy that selects by them).
"""

from nnpdistill.nnp.predict import score_pool
from nnpdistill.runtime import setup_job

sm = snakemake  # noqa: F821 - injected by Snakemake
setup_job(sm.log[0], sm.threads)
score_pool(list(sm.input.members), sm.input.pool, sm.output.scores, sm.output.atomic,
           metrics=sm.output.metrics, parity=sm.output.parity, uq=sm.output.uq, aevs=sm.input.get("aevs"),
           batch_frames=int(sm.params.batch_frames), progress=False, on_mismatch="recompute",
           forces=bool(sm.params.forces))
