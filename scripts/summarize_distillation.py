"""Snakemake adapter for rule summarize_distillation (learning curves, the paper's Figure 2)."""

from nnpdistill.distill import learning_curve, plot_learning_curves
from nnpdistill.frames import FrameStore
from nnpdistill.io_utils import atomic_path
from nnpdistill.runtime import setup_job

sm = snakemake  # noqa: F821 - injected by Snakemake
log = setup_job(sm.log[0], sm.threads)
entries = {key: str(path) for key, path in sm.input.items() if key != "pool"}
with FrameStore(sm.input.pool) as store:
    n_pool = len(store)
curve = learning_curve(entries, n_pool)
with atomic_path(sm.output.csv) as tmp:
    curve.to_csv(tmp, index=False, float_format="%.6g")
plot_learning_curves(curve, sm.output.figure, sm.wildcards.element)
log.info("learning curve: %d rows", len(curve))
