"""Snakemake adapter for rule train_member.

In the distillation loop, an iteration whose selection is the previous iteration's (the early stop
was met) copies the previous member instead of training again: a cheap pass-through.
"""

from pathlib import Path

from nnpdistill.distill import same_selection
from nnpdistill.io_utils import copy_atomic
from nnpdistill.nnp.builder import NNPSettings
from nnpdistill.nnp.train import TrainSettings, train_member
from nnpdistill.runtime import setup_job

sm = snakemake  # noqa: F821 - injected by Snakemake
log = setup_job(sm.log[0], sm.threads)
out_dir = Path(sm.output.model).parent
previous = Path(sm.params.previous) if sm.params.previous else None
here = Path(sm.input.frames).parent
if previous and same_selection(here / "selection.csv", previous / "selection.csv"):
    prev_member = previous / "members" / sm.wildcards.member
    log.info("selection unchanged since %s (converged): copying member %s", previous, sm.wildcards.member)
    for name in ("model.pt", "learning_curve.csv"):
        copy_atomic(prev_member / name, out_dir / name)
else:
    settings = NNPSettings.from_dict({"element": sm.params.symbol, **dict(sm.params.nnp_settings)})
    train_member(
        sm.input.frames,
        settings,
        TrainSettings.from_dict(dict(sm.params.train_settings)),
        seed=int(sm.params.seed),
        out_dir=out_dir,
    )
