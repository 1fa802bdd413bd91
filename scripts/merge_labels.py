"""Snakemake adapter for rule merge_labels: the labelled chunks as one store, and its summary."""

import json

from nnpdistill.io_utils import atomic_path
from nnpdistill.label import merge_labelled
from nnpdistill.runtime import setup_job

sm = snakemake  # noqa: F821 - injected by Snakemake
log = setup_job(sm.log[0], sm.threads)
info = merge_labelled(list(sm.input.chunks), sm.output.h5)
log.info("%d frames labelled, %d failed (left out)", info["n_frames"], info["n_failed"])
with atomic_path(sm.output.summary) as tmp:
    tmp.write_text(json.dumps(info, indent=1, sort_keys=True) + "\n")
