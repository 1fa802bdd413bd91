"""Snakemake adapter for rule init_selection (iteration 0 of the distillation loop)."""

from nnpdistill.distill import initial_selection, write_selection
from nnpdistill.frames import FrameStore
from nnpdistill.runtime import setup_job

sm = snakemake  # noqa: F821 - injected by Snakemake
log = setup_job(sm.log[0], sm.threads)
with FrameStore(sm.input.pool) as store:
    n_pool = len(store)
selection = initial_selection(n_pool, int(sm.params.n_initial), int(sm.params.seed))
write_selection(selection, sm.output.csv)
log.info("iteration 0: %d of %d frames (seed %d)", len(selection), n_pool, sm.params.seed)
