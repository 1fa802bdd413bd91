"""Snakemake adapter for rule compute_pool_aevs: the AEVs of every atom of a pool, once per AEV settings."""

from nnpdistill.nnp.aev_cache import compute_pool_aevs
from nnpdistill.runtime import setup_job

sm = snakemake  # noqa: F821 - injected by Snakemake
log = setup_job(sm.log[0], sm.threads)
info = compute_pool_aevs(sm.input.pool, dict(sm.params.nnp_settings), sm.output.aevs,
                         element=sm.params.symbol, batch_frames=int(sm.params.batch_frames))
log.info("AEV cache %s (settings hash %s): %d frames, %d atoms, %.0f atoms/s", info.path, info.settings_hash,
         info.n_frames, info.n_atoms, info.atoms_per_second)
