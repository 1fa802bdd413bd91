"""Snakemake adapter for rule translate_dataset."""

from nnpdistill.runtime import setup_job
from nnpdistill.translate import translate_dataset

sm = snakemake  # noqa: F821 - injected by Snakemake
log = setup_job(sm.log[0], sm.threads)
info = translate_dataset(
    list(sm.input.frames),
    list(sm.input.source_crystals),
    sm.input.target_crystals,
    sm.params.symbol,
    sm.output.h5,
    potential=sm.params.potential,
    rule=sm.params.rule,
    multipliers=sm.params.multipliers,
    native_pool=sm.input.native_pool[0] if sm.params.native_frames else None,
    n_native=sm.params.native_frames,
    native_seed=sm.params.native_seed,
    native_weight=sm.params.native_weight,
    crystal_strains=sm.params.crystal_strains,
    crystal_weight=sm.params.crystal_weight,
)
log.info(
    "translated %d frames from %s: scale factor %.5f (%s)",
    info["n_frames"],
    info["source_element"],
    info["scale_factor"],
    info["scale_rule"],
)
