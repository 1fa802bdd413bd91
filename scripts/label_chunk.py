"""Snakemake adapter for rule label_chunk: one chunk of a store labelled with the element's reference."""

from nnpdistill.label import label_chunk
from nnpdistill.reference import make_reference
from nnpdistill.runtime import setup_job

sm = snakemake  # noqa: F821 - injected by Snakemake
log = setup_job(sm.log[0], sm.threads)
reference = make_reference(sm.params.symbol, dict(sm.params.reference), potential=sm.params.potential)
label_chunk(
    sm.input.frames,
    sm.output.h5,
    reference,
    chunk=(int(sm.wildcards.chunk), int(sm.params.n_chunks)),
    max_frames=sm.params.max_frames,
    max_failed_fraction=float(sm.params.max_failed_fraction),
    progress=False,
)
