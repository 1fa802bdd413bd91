"""Snakemake adapter for rule write_dataset_card."""

from nnpdistill.card import dataset_card, write_dataset_card
from nnpdistill.runtime import setup_job

sm = snakemake  # noqa: F821 - injected by Snakemake
log = setup_job(sm.log[0], sm.threads)
card = dataset_card(
    sm.input.manifest,
    sm.input.h5,
    sm.input.extxyz,
    sm.input.pool,
    distill_settings=sm.params.distill,
    nnp_settings=sm.params.nnp,
    transfer_csv=sm.input.get("transfer"),
)
write_dataset_card(card, sm.output.json, sm.output.md)
log.info("dataset card of %s (%d frames) -> %s", card["name"], card["n_frames"], sm.output.md)
