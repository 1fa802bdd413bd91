"""Warm-started members of the distillation loop (``distill.warm_start``, issue 20): a member that starts
from the previous iteration's keeps its descriptor scaling and self-energy, starts where that member
ended (its first epoch is far below a fresh member's), refuses a model of other settings, and the
workflow wires iteration i's member k to iteration i - 1's (or, for a baseline, to its latest trained
iteration)."""

import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from test_device import _frames

from nnpdistill.errors import NNPDistillError
from nnpdistill.nnp.builder import NNPModel, NNPSettings, combine_members
from nnpdistill.nnp.predict import predict_pool
from nnpdistill.nnp.train import TrainSettings, train_member

torch.set_num_threads(1)
SETTINGS = NNPSettings(element="Ni", hidden_layers=(16, 8))
TS = TrainSettings(train_fraction=0.5, max_epochs=60, batch_frames=4, lr=3e-3, early_stop_patience=15,
                   progress_every=0)


@pytest.fixture(scope="module")
def first(tmp_path_factory):
    out = tmp_path_factory.mktemp("iter0")
    data = _frames(16, seed=0)
    res = train_member(data, SETTINGS, TS, seed=1, out_dir=out)
    return data, out / "model.pt", res


def test_a_warm_member_starts_where_the_previous_ended(first, tmp_path):
    data, path, res0 = first
    more = {k: np.concatenate([data[k], v]) for k, v in _frames(8, seed=5).items()}  # iteration 1: 24 frames
    cold = train_member(more, SETTINGS, TS, seed=2)
    warm = train_member(more, SETTINGS, TS, seed=2, init_model=path, out_dir=tmp_path / "warm")
    prev = NNPModel.load(path)
    # the scaling and the self-energy are the previous member's, not refitted on the new frames
    assert torch.equal(warm.model.aev_mean, prev.aev_mean) and torch.equal(warm.model.aev_inv_std,
                                                                            prev.aev_inv_std)
    assert warm.model.settings.self_energy_eV == prev.settings.self_energy_eV
    assert cold.model.settings.self_energy_eV != prev.settings.self_energy_eV  # refitted on 24 frames
    # it starts from what the previous member learnt: its first epoch is far below a fresh start's (here
    # 36 against 94 meV/atom), and after as many epochs it is the better fit (4.4 against 10.8)
    curve = {name: [h["valid_rmse_meV_per_atom"] for h in r.history] for name, r in (("warm", warm),
                                                                                     ("cold", cold))}
    assert curve["warm"][0] < 0.5 * curve["cold"][0], curve
    assert min(curve["warm"]) < min(curve["cold"]), curve
    # same physics of the result: the warm member predicts the pool as well as the cold one (within 2x)
    e_true = more["energy"] / 32
    mae = {name: float(np.abs(predict_pool(r.model, more, progress=False).scores["energy_pred_eV_per_atom"]
                              - e_true).mean()) for name, r in (("warm", warm), ("cold", cold))}
    assert mae["warm"] < 2 * mae["cold"], mae
    # deterministic under its seed, and the init file is not trained in place
    train_member(more, SETTINGS, TS, seed=2, init_model=path, out_dir=tmp_path / "again")
    assert (tmp_path / "warm" / "model.pt").read_bytes() == (tmp_path / "again" / "model.pt").read_bytes()
    for a, b in zip(NNPModel.load(path).state_dict().values(), prev.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_a_warm_start_refuses_other_settings_and_ensembles(first, tmp_path):
    data, path, res0 = first
    other = NNPSettings(element="Ni", hidden_layers=(16, 16))
    with pytest.raises(NNPDistillError, match=r"other NNP settings \(hidden_layers\)"):
        train_member(data, other, TS, seed=2, init_model=path, out_dir=tmp_path / "x")
    assert not (tmp_path / "x").exists()
    pair = combine_members([NNPModel.load(path), NNPModel.load(path)])
    with pytest.raises(NNPDistillError, match="one-member model, got 2 members"):
        train_member(data, SETTINGS, TS, seed=2, init_model=pair)


def _member_inputs(repo, tmp_path, warm: bool) -> dict[str, list[str]]:
    """For each planned train_member job (by its trainset/member), its inputs as the dry run lists them."""
    cfg = tmp_path / f"warm_{warm}.yaml"
    cfg.write_text("element_overrides:\n  distill:\n"
                   f"    n_iterations: 2\n    warm_start: {str(warm).lower()}\n    warm_start_max_epochs: 7\n"
                   "    baseline_iterations: [0]\n")
    cmd = [sys.executable, "-m", "snakemake", "-n", "--directory", str(repo), "--configfile",
           str(repo / "config/smoke.yaml"), str(cfg), "--config", f"results_dir={tmp_path}/r"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = {}
    job = re.compile(r"^rule train_member:\n    input: (.*)\n    output: (\S+)/model.pt,", re.M)
    for m in job.finditer(proc.stdout):
        key = m.group(2).split(f"{tmp_path}/r/", 1)[1]  # element/trainset/members/k
        out[key] = [p.split(f"{tmp_path}/r/", 1)[1] for p in m.group(1).split(", ")]
    assert out, proc.stdout[-2000:]
    return out


def test_the_workflow_warm_starts_from_the_latest_trained_iteration(repo, tmp_path):
    plan = _member_inputs(repo, tmp_path, warm=True)
    loop, data = "Ni/distill/uncertainty/iter_{}/members/{}", "Ni/distill/uncertainty/iter_{}/train.h5"
    assert plan[loop.format(0, 0)] == [data.format(0)]  # iteration 0: fresh weights
    assert plan[loop.format(1, 0)] == [data.format(1), loop.format(0, 0) + "/model.pt"]
    assert plan[loop.format(2, 1)] == [data.format(2), loop.format(1, 1) + "/model.pt"]
    # random is trained at iterations 0 and 2 only (baseline_iterations [0] plus the final one)
    assert plan["Ni/distill/random/iter_2/members/0"][1] == "Ni/distill/random/iter_0/members/0/model.pt"
    # the whole-pool, Table-1 and translated members train from scratch
    assert all(len(v) == 1 for k, v in plan.items() if "/distill/" not in k)
    assert all(len(v) == 1 for v in _member_inputs(repo, tmp_path, warm=False).values())
