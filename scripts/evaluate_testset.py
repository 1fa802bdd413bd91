"""Snakemake adapter for rule evaluate_testset: an ensemble on the element's labelled test store."""

from nnpdistill.nnp.evaluate import evaluate_testset
from nnpdistill.runtime import setup_job

sm = snakemake  # noqa: F821 - injected by Snakemake
setup_job(sm.log[0], sm.threads)
evaluate_testset(
    list(sm.input.members),
    sm.input.frames,
    sm.output.scores,
    sm.output.metrics,
    sm.output.parity,
    batch_frames=int(sm.params.batch_frames),
)
