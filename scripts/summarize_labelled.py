"""Snakemake adapter for rule summarize_labelled: test error against labelled training frames."""

from nnpdistill.nnp.evaluate import labelled_learning_curve
from nnpdistill.runtime import setup_job

sm = snakemake  # noqa: F821 - injected by Snakemake
setup_job(sm.log[0], sm.threads)
inputs = dict(sm.input.items())
metrics = {k: v for k, v in inputs.items() if not k.startswith("frames:")}
frames = {k.split(":", 1)[1]: v for k, v in inputs.items() if k.startswith("frames:")}
labelled_learning_curve(metrics, frames, sm.output.csv, sm.output.png)
