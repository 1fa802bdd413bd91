"""One ensemble member as the workflow makes it (rule ``train_member``): trained on its training set, or,
in the distillation loop, copied from the previous iteration when the selection did not change (the
early stop was met), a cheap pass-through that keeps the model bytes of the converged iteration."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ..io_utils import copy_atomic
from .builder import NNPSettings
from .train import TrainSettings, train_member

log = logging.getLogger("nnpdistill.nnp")

MEMBER_FILES = ("model.pt", "learning_curve.csv")


def make_member(frames: str | os.PathLike, nnp_settings: NNPSettings, train_settings: TrainSettings, *,
                seed: int, out_dir: str | os.PathLike, previous: str | os.PathLike | None = None,
                member: str | int | None = None, init: str | os.PathLike | None = None) -> str:
    """Train member ``member`` on ``frames`` into ``out_dir``, or copy it from the iteration folder
    ``previous`` when the selection beside ``frames`` (``selection.csv``) holds the same frames as the
    one in ``previous``. ``init``: the model file a warm start begins from (``distill.warm_start``).
    Returns ``"trained"`` or ``"copied"``."""
    from ..distill import same_selection

    here = Path(frames).parent
    if previous and same_selection(here / "selection.csv", Path(previous) / "selection.csv"):
        source = Path(previous) / "members" / str(member)
        log.info("selection unchanged since %s (converged): copying member %s", previous, member)
        for name in MEMBER_FILES:
            copy_atomic(source / name, Path(out_dir) / name)
        return "copied"
    if init:
        log.info("warm start from %s", init)
    train_member(frames, nnp_settings, train_settings, seed=seed, out_dir=out_dir, init_model=init or None)
    return "trained"
