"""Train one ensemble member on labelled periodic frames.

- Seeded random train/validation split of the frames (``train_fraction``; the paper: 20 % train,
  80 % validation, a different split per member, which is where the ensemble's spread comes from).
- Loss: mean squared per-atom energy error (eV/atom)², plus ``force_weight`` × mean squared force
  component error (eV/Å)² when ``force_weight > 0``. Frames with a ``loss_weight`` meta (e.g. the
  native frames of a translated set, ``translate.native_weight``) weigh the energy term by it, in the
  training batches and in the validation loss that drives the schedule and early stopping.
- AdamW, ReduceLROnPlateau on the validation loss, early stopping, the best-validation weights kept.
- Energy-only training computes every frame's AEVs once (they do not depend on the weights) and
  trains the networks on the cached descriptors: the expensive neighbour/angular work leaves the
  epoch loop (the 10x lever). With forces the AEVs must be differentiated every step.
- Deterministic under ``seed`` (weights, split and batch order), single-threaded.
- Writes a CSV learning curve and, optionally, checkpoints.
"""

from __future__ import annotations

import copy
import csv
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..device import device_for
from ..errors import DatasetError, NNPDistillError
from ..io_utils import atomic_path, save_npz
from .builder import NNPModel, NNPSettings, build_model, fit_self_energy, settings_from_dict
from .data import check_groups, load_groups
from .train_data import (
    _compute_all_aevs,
    _Flat,
    _force_batch,
    _force_valid_mse,
    _frame_energy_per_atom,
    _uncached_energy,
)

log = logging.getLogger("nnpdistill.nnp.train")


@dataclass(frozen=True)
class TrainSettings:
    """Optimisation settings of one member. Learning rates per step; patience in epochs."""

    train_fraction: float = 0.2
    max_epochs: int = 300
    batch_frames: int = 16  # small sets (hundreds of frames) need many steps per epoch
    lr: float = 2e-3
    weight_decay: float = 1e-4
    lr_factor: float = 0.5
    lr_patience: int = 10
    min_lr: float = 1e-5
    early_stop_patience: int = 40
    force_weight: float = 0.0  # (eV/Å)^-2 relative to (eV/atom)^-2; 0 = energy only
    cache_aevs: bool = True
    dtype: str = "float32"
    checkpoint_every: int = 0  # epochs; 0 = no periodic checkpoints
    progress_every: int = 10  # epochs between console lines

    def __post_init__(self) -> None:
        if not 0.0 < self.train_fraction < 1.0:
            raise NNPDistillError(f"train_fraction must be in (0, 1), got {self.train_fraction}")
        if self.max_epochs < 1 or self.batch_frames < 1:
            raise NNPDistillError("max_epochs and batch_frames must be >= 1")
        if self.force_weight < 0:
            raise NNPDistillError(f"force_weight must be >= 0, got {self.force_weight}")
        if self.dtype not in ("float32", "float64"):
            raise NNPDistillError(f"dtype must be float32 or float64, got {self.dtype!r}")

    @classmethod
    def from_dict(cls, d: dict) -> TrainSettings:
        return settings_from_dict(cls, d, "training settings")


@dataclass
class TrainResult:
    model: NNPModel
    history: list[dict]
    best_epoch: int
    train_index: np.ndarray  # global frame indices used for training
    valid_index: np.ndarray
    seconds: float


def split_indices(n_frames: int, train_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded random split of ``range(n_frames)`` into (train, valid) positions; both non-empty."""
    if n_frames < 2:
        raise DatasetError(f"need at least 2 labelled frames to split into train/validation, got {n_frames}")
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n_frames)
    n_train = min(max(1, int(round(train_fraction * n_frames))), n_frames - 1)
    return np.sort(perm[:n_train]), np.sort(perm[n_train:])


def _batches(positions: np.ndarray, batch: int, gen: torch.Generator, flat: _Flat, by_group: bool):
    perm = positions[torch.randperm(len(positions), generator=gen).numpy()]
    if not by_group:
        return [perm[s:s + batch] for s in range(0, len(perm), batch)]
    out = []
    for k in np.unique(flat.group_of[perm]):
        sel = perm[flat.group_of[perm] == k]
        out.extend(sel[s:s + batch] for s in range(0, len(sel), batch))
    order = torch.randperm(len(out), generator=gen).numpy()
    return [out[i] for i in order]


def train_member(
    source,
    nnp_settings: NNPSettings,
    train_settings: TrainSettings = TrainSettings(),
    *,
    seed: int = 0,
    out_dir: str | os.PathLike | None = None,
    valid_source=None,
    device: str | torch.device | None = None,
    init_model: str | os.PathLike | NNPModel | None = None,
) -> TrainResult:
    """Train one member on ``source`` (path to a frame store, Frames-like, or list of those).

    ``nnp_settings.self_energy_eV`` is fitted here on all labelled frames of ``source``
    (method ``nnp_settings.self_energy_method``). If ``valid_source`` is given, it is the validation
    set and all of ``source`` trains; otherwise ``source`` is split with ``seed``.
    When ``out_dir`` is given: ``model.pt``, ``learning_curve.csv`` and checkpoints go there.
    ``device``: where the member trains (``cpu``, ``cuda``, ``auto``; default: the workflow's
    ``device.train``, else the CPU). The weights are drawn and the batches ordered on the CPU whatever the
    device, and the trained model comes back on the CPU.
    ``init_model``: a one-member model (file or object) to start from instead of fresh weights (the
    distillation loop's warm start): its weights, descriptor standardisation and self-energy are kept, so
    only the split, the batch order and the optimiser are new; its settings must be ``nnp_settings``
    (the self-energy aside).
    """
    t0 = time.perf_counter()
    ts = train_settings
    dtype = getattr(torch, ts.dtype)
    dev = device_for("train", device)
    need_forces = ts.force_weight > 0
    groups = load_groups(source)
    z = build_model(nnp_settings, 1, seed=0).atomic_number
    check_groups(groups, z, nnp_settings.element, need_forces=need_forces)
    n_all = np.concatenate([np.full(g.n_frames, g.n_atoms) for g in groups])
    e_all = np.concatenate([g.energy for g in groups])
    if init_model is not None:
        model = _warm_model(init_model, nnp_settings, dtype)
        settings = model.settings
    else:
        settings = nnp_settings if nnp_settings.self_energy_method == "fixed" else nnp_settings.replace(
            self_energy_eV=fit_self_energy(n_all, e_all, nnp_settings.self_energy_method))
        model = build_model(settings, n_members=1, seed=seed, dtype=dtype)
    model = model.to(dev)
    params = list(model.member_networks()[0].parameters())

    def net(aev: torch.Tensor) -> torch.Tensor:
        return model.member_forward(0, aev)

    if valid_source is not None:
        vgroups = load_groups(valid_source)
        check_groups(vgroups, z, settings.element, need_forces=need_forces, name="validation frames")
        flat = _Flat(groups + vgroups, dtype, need_forces, settings.self_energy_eV, dev)
        n_train = sum(g.n_frames for g in groups)
        tr_pos, va_pos = np.arange(n_train), np.arange(n_train, len(flat))
    else:
        flat = _Flat(groups, dtype, need_forces, settings.self_energy_eV, dev)
        tr_pos, va_pos = split_indices(len(flat), ts.train_fraction, seed)

    gen = torch.Generator().manual_seed(int(seed) % (2**63))
    optimizer = torch.optim.AdamW(params, lr=ts.lr, weight_decay=ts.weight_decay)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=ts.lr_factor, patience=ts.lr_patience, min_lr=ts.min_lr)

    use_cache = ts.cache_aevs
    all_aevs = _compute_all_aevs(model, flat)
    if init_model is None:  # a warm start keeps the scaling its weights were trained with
        model.set_aev_standardisation(0, all_aevs)  # from every frame of the source (train + valid)
    aevs = all_aevs if use_cache else None
    del all_aevs
    t_cache = time.perf_counter() - t0
    self_e = 0.0  # flat.energy holds residuals (labels minus the self-energy, taken in float64)

    def energy_eval(positions: np.ndarray) -> torch.Tensor:
        """Per-atom energy errors (eV/atom) of frames at ``positions`` in flat (no grad)."""
        errs = []
        with torch.no_grad():
            for s in range(0, len(positions), 512):
                fr = torch.as_tensor(positions[s:s + 512], device=dev)
                if aevs is not None:
                    rows, owner = flat.rows(fr)
                    pred = _frame_energy_per_atom(net, aevs[rows], owner, len(fr), flat.n_atoms[fr], self_e)
                else:
                    pred = _uncached_energy(model, net, flat, positions[s:s + 512])
                errs.append(pred - flat.energy[fr] / flat.n_atoms[fr])
        return torch.cat(errs)

    # Batches mix frames of different sizes where the energy path allows it (cached AEVs, no forces): a
    # size that only a few frames have (cold crystals, native frames) would otherwise make batches of
    # its own, whose steps pull the whole network towards those frames. One size: batches as before.
    by_group = need_forces or aevs is None or len(np.unique(flat.group_of[tr_pos])) == 1
    history: list[dict] = []
    best = (math.inf, -1, copy.deepcopy(model.state_dict()))
    out_dir = Path(out_dir) if out_dir is not None else None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    stale = 0
    for epoch in range(1, ts.max_epochs + 1):
        model.train()
        sq_sum, f_sq_sum, n_seen = 0.0, 0.0, 0
        for batch in _batches(tr_pos, ts.batch_frames, gen, flat, by_group=by_group):
            fr = torch.as_tensor(batch, device=dev)
            optimizer.zero_grad(set_to_none=True)
            if need_forces:
                pred, f_pred, f_true = _force_batch(model, net, flat, batch, create_graph=True)
                err = pred - flat.energy[fr] / flat.n_atoms[fr]
                f_loss = ((f_pred - f_true) ** 2).mean()
                loss = flat.mean_sq(err, fr) + ts.force_weight * f_loss
                f_sq_sum += float(f_loss.detach()) * len(batch)
            else:
                if aevs is not None:
                    rows, owner = flat.rows(fr)
                    pred = _frame_energy_per_atom(net, aevs[rows], owner, len(fr), flat.n_atoms[fr], self_e)
                else:
                    pred = _uncached_energy(model, net, flat, batch, grad=True)
                err = pred - flat.energy[fr] / flat.n_atoms[fr]
                loss = flat.mean_sq(err, fr)
            loss.backward()
            optimizer.step()
            sq_sum += float((err.detach() ** 2).sum())
            n_seen += len(batch)
        model.eval()
        v_err = energy_eval(va_pos)
        v_rmse = float(torch.sqrt((v_err**2).mean()))
        v_mae = float(v_err.abs().mean())
        v_loss = (v_rmse**2 if flat.weight is None
                  else float(flat.mean_sq(v_err, torch.as_tensor(va_pos, device=dev))))
        row = {
            "epoch": epoch,
            "lr": optimizer.param_groups[0]["lr"],
            "train_rmse_meV_per_atom": 1000 * math.sqrt(sq_sum / max(n_seen, 1)),
            "valid_rmse_meV_per_atom": 1000 * v_rmse,
            "valid_mae_meV_per_atom": 1000 * v_mae,
            "train_force_rmse_eV_per_A": (math.sqrt(f_sq_sum / max(n_seen, 1)) if need_forces
                                          else float("nan")),
            "seconds": time.perf_counter() - t0,
        }
        if need_forces:
            v_loss += ts.force_weight * _force_valid_mse(model, net, flat, va_pos, ts.batch_frames)
            row["valid_force_rmse_eV_per_A"] = math.sqrt(max(v_loss - v_rmse**2, 0.0) / ts.force_weight)
        else:
            row["valid_force_rmse_eV_per_A"] = float("nan")
        row["valid_loss"] = v_loss
        history.append(row)
        scheduler.step(v_loss)
        if v_loss < best[0]:
            best = (v_loss, epoch, copy.deepcopy(model.state_dict()))
            stale = 0
        else:
            stale += 1
        if ts.progress_every and (epoch % ts.progress_every == 0 or epoch == 1):
            log.info("member seed %d epoch %4d  lr %.1e  train %.2f  valid %.2f meV/atom (best %d)  %.1f s",
                     seed, epoch, row["lr"], row["train_rmse_meV_per_atom"], row["valid_rmse_meV_per_atom"],
                     best[1], row["seconds"])
        if out_dir is not None and ts.checkpoint_every and epoch % ts.checkpoint_every == 0:
            torch.save({"epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "best_epoch": best[1]}, out_dir / "checkpoint.pt")
        if stale >= ts.early_stop_patience:
            log.info("early stop at epoch %d (best %d)", epoch, best[1])
            break
    model.load_state_dict(best[2])
    model.to("cpu")  # no-op on the CPU; callers get a model they can save and use anywhere
    model.eval()
    result = TrainResult(model, history, best[1], flat.index[tr_pos], flat.index[va_pos],
                         time.perf_counter() - t0)
    log.info("trained in %.1f s (descriptors %.1f s), best epoch %d, valid RMSE %.2f meV/atom",
             result.seconds, t_cache, best[1], 1000 * math.sqrt(best[0]) if not need_forces else float("nan"))
    if out_dir is not None:
        model.save(out_dir / "model.pt")
        write_learning_curve(history, out_dir / "learning_curve.csv")
        with atomic_path(out_dir / "split.npz") as tmp:
            save_npz(tmp, train_index=result.train_index, valid_index=result.valid_index)
    return result


def _warm_model(init, nnp_settings: NNPSettings, dtype: torch.dtype) -> NNPModel:
    """The model a warm start begins from: one member, the same settings as ``nnp_settings`` except the
    fitted self-energy, in ``dtype`` (a copy: the caller's object is not trained in place)."""
    model = NNPModel.load(init) if isinstance(init, (str, os.PathLike)) else copy.deepcopy(init)
    if model.n_members != 1:
        raise NNPDistillError(f"a warm start needs a one-member model, got {model.n_members} members")
    mine = {k: v for k, v in model.settings.to_dict().items() if k != "self_energy_eV"}
    want = {k: v for k, v in nnp_settings.to_dict().items() if k != "self_energy_eV"}
    if mine != want:
        diff = sorted(k for k in set(mine) | set(want) if mine.get(k) != want.get(k))
        raise NNPDistillError(f"cannot warm-start from a model with other NNP settings ({', '.join(diff)})")
    return model.to(dtype)


def write_learning_curve(history: list[dict], path: str | os.PathLike) -> None:
    """The learning curve as CSV. Wall times stay in the log: the file must be byte-reproducible."""
    if not history:
        return
    fields = [k for k in history[0] if k != "seconds"]
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(history)
