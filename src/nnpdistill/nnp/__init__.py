"""ANI-type NNP ensembles with torchani: builder, batched periodic evaluation, training, pool
prediction with atomic uncertainty, metrics, plots, ASE calculator and crystal relaxation.

Public API::

    from nnpdistill.nnp import (NNPSettings, NNPModel, build_model, combine_members, TrainSettings,
                                train_member, evaluate, predict_pool, load_ensemble, NNPCalculator)
"""

import os

os.environ.setdefault("TORCHANI_NO_WARN_EXTENSIONS", "1")

from .aev_cache import AEVCache, aev_settings_hash, compute_pool_aevs  # noqa: E402
from .batch import BatchResult, evaluate, neighbor_pairs  # noqa: E402
from .builder import NNPModel, NNPSettings, build_model, combine_members, fit_self_energy  # noqa: E402
from .calculator import NNPCalculator  # noqa: E402
from .predict import load_ensemble, predict_pool, read_prediction, write_prediction  # noqa: E402
from .train import TrainSettings, split_indices, train_member  # noqa: E402

__all__ = [
    "AEVCache",
    "BatchResult",
    "NNPCalculator",
    "aev_settings_hash",
    "compute_pool_aevs",
    "NNPModel",
    "NNPSettings",
    "TrainSettings",
    "build_model",
    "combine_members",
    "evaluate",
    "fit_self_energy",
    "load_ensemble",
    "neighbor_pairs",
    "predict_pool",
    "read_prediction",
    "split_indices",
    "train_member",
    "write_prediction",
]
