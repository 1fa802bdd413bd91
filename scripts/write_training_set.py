"""Snakemake adapter for rule write_training_set."""

from nnpdistill.distill import read_selection, write_subset
from nnpdistill.runtime import setup_job

sm = snakemake  # noqa: F821 - injected by Snakemake
setup_job(sm.log[0], sm.threads)
indices = read_selection(sm.input.selection)["frame_index"].to_numpy()
write_subset(sm.input.pool, indices, sm.output.h5)
