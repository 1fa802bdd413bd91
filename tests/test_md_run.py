"""Run driver: frames, metadata, determinism under a seed, and bitwise-exact resume after a kill.
Uses the analytic Einstein crystal (fast); the EAM physics runs are in test_momt_eam.py."""

import json

import numpy as np
import pytest
import torch

from nnpdistill.errors import ConfigError, FrameStoreError
from nnpdistill.frames import FrameStore
from nnpdistill.md.models import EinsteinCrystal, fcc_sites_frac
from nnpdistill.md.momt import Bias2D
from nnpdistill.md.run import MOMTParams, Potential, RunSettings, checkpoint_path, read_bias, run_sampling
from nnpdistill.md.setup import MDParams

torch.set_num_threads(1)
A = 3.52


def _pot():
    v0 = (2 * A) ** 3
    return Potential(lambda: EinsteinCrystal(fcc_sites_frac(2), 2.0, 1.0, v0), "Ni", 28, 58.69, A, "einstein")


def _settings(method="momt", **kw):
    base = dict(method=method, n_frames=30, n_walkers=4, frame_stride=5, temperature_K=1500.0, seed=11,
                equilibration_steps=20, checkpoint_every=2, melt_steps=20, quench_steps=20,
                md=MDParams(timestep_fs=2.0, barostat_tau_fs=200.0),
                momt=MOMTParams(t_min_K=800.0, t_max_K=3000.0, update_stride=3, n_h=8, n_o=8))
    base.update(kw)
    return RunSettings(**base)


def _bias():
    b = Bias2D((-1.0, 6.0), (-5.0, 37.0), 8, 8)
    b.coef = 0.2 * torch.randn(b.coef.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    return b


def _read(path):
    with FrameStore(path) as st:
        return st.read(), st.attrs


class Kill(RuntimeError):
    pass


@pytest.mark.parametrize("damage", ["truncated", "garbage", "not_a_dict"])
def test_damaged_checkpoint_is_refused_by_name_and_nothing_is_written(tmp_path, damage):
    """A checkpoint left by a killed run and then damaged (truncated copy, overwritten, another object)
    stops the run with an error naming the file and the remedy; no frame store is written from it."""
    pot = _pot()
    out = tmp_path / "run.h5"

    def kill(r):
        if r == 3:
            raise Kill()

    with pytest.raises(Kill):
        run_sampling(out, pot, _settings("npt_liq"), 32, hook=kill)
    ckpt = checkpoint_path(out)
    raw = ckpt.read_bytes()
    if damage == "truncated":
        ckpt.write_bytes(raw[: len(raw) // 2])
    elif damage == "garbage":
        ckpt.write_bytes(b"not a checkpoint\n" * 8)
    else:
        torch.save([1, 2, 3], ckpt)
    with pytest.raises(FrameStoreError, match=r"checkpoint .*run\.h5\.ckpt .*delete it"):
        run_sampling(out, pot, _settings("npt_liq"), 32)
    assert not out.exists()
    ckpt.unlink()  # the remedy the message names: the run then completes from the beginning
    run_sampling(out, pot, _settings("npt_liq"), 32)
    assert len(_read(out)[0]) == 30


@pytest.mark.parametrize("method,stage_rounds,order,sync", [
    ("momt", 0, "fcc_box", False), ("momt", 3, "fcc_box", False), ("momt", 3, "fcc_box", True),
    ("momt", 3, "q6_bonds", False), ("momt", 3, "q6_solid", True), ("npt_liq", 0, "fcc_box", False)])
def test_resume_after_kill_is_bitwise_identical(tmp_path, method, stage_rounds, order, sync):
    pot = _pot()

    def settings():
        return _settings(method, momt=MOMTParams(t_min_K=800.0, t_max_K=3000.0, update_stride=3, n_h=8, n_o=8,
                                                 stage_rounds=stage_rounds, order=order, stage_sync=sync))

    ref = run_sampling(tmp_path / "ref.h5", pot, settings(), 32, bias=_bias())
    out = tmp_path / "run.h5"

    def kill(r):
        if r == 5:  # mid-chunk: frames after the last checkpoint are in the partial file
            raise Kill()

    with pytest.raises(Kill):
        run_sampling(out, pot, settings(), 32, hook=kill, bias=_bias())
    assert not out.exists() and checkpoint_path(out).exists()
    run_sampling(out, pot, settings(), 32, bias=_bias())
    assert not checkpoint_path(out).exists()
    a, attrs_a = _read(ref)
    b, attrs_b = _read(out)
    assert len(a) == len(b) == 30
    for name in ("positions", "cell", "energy", "forces", "energies", "stress"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    for k in a.meta:
        assert np.array_equal(a.meta[k], b.meta[k]), k
    if method == "momt":
        assert attrs_a["momt_bias_json"] == attrs_b["momt_bias_json"]
        bias, raw = read_bias(attrs_a)
        assert float(np.sum(raw["visits"])) > 0 and not torch.equal(bias.coef, _bias().coef)
        assert attrs_a.get("momt_stages_json") == attrs_b.get("momt_stages_json")
        if stage_rounds:  # 8 rounds, frozen at round 4: stages begin at rounds 0 and 3, production at 4
            stages = json.loads(attrs_a["momt_stages_json"])["stages"]
            assert [st["start_round"] for st in stages] == [0, 3, 4]
            frozen = read_bias(attrs_a, frozen=True)[0]
            assert np.allclose(stages[-1]["coef"], frozen.coef.numpy())
            assert np.abs(np.subtract(stages[1]["coef"], stages[0]["coef"])).max() > 1e-2  # the bias grew
            # stage_sync: the growing bias restarted from the snapshot at round 3, so at the end it is that
            # snapshot plus round 3's deposits (non-negative B-spline weights); unsynced, it is not
            grown = bias.coef.numpy() - np.asarray(stages[1]["coef"])
            if sync:
                assert grown.min() > -1e-12 and grown.max() > 1e-3
                assert bias.beyond_slopes == tuple(stages[1]["beyond_slopes"])
            else:
                assert grown.min() < -1e-3
            # every frame's recorded bias is the acting stage's value at its (H, O)
            rnd = np.arange(len(a)) // 4
            coord = a.meta["bias_order"] if order != "fcc_box" else a.meta["order_parameter"]
            k = np.searchsorted([0, 3, 4], rnd, side="right") - 1
            for i in range(len(a)):
                b = Bias2D((-1.0, 6.0), (-5.0, 37.0), 8, 8, torch.tensor(stages[k[i]]["coef"]),
                           beyond_slopes=stages[k[i]]["beyond_slopes"])
                val = b(torch.tensor([a.meta["enthalpy_eV"][i]]), torch.tensor([coord[i]]))[0]
                assert abs(float(val) - a.meta["bias_eV"][i]) < 1e-6  # stages differ by ~0.1 eV
            assert int(a.meta["clipped"].sum()) == 0
            # staged biases continue beyond the enthalpy grid at the clip's temperatures
            assert all(st["beyond_slopes"] is not None for st in stages)
    # the q6 coordinate is stored beside the box-aligned order parameter, which keeps its meaning
    assert ("bias_order" in a.meta) == (order != "fcc_box")
    if order != "fcc_box":
        from nnpdistill.md.order import order_parameter
        from nnpdistill.md.order_q6 import q6_order, switch_radii_A

        pos, cell = torch.from_numpy(a.positions), torch.from_numpy(a.cell)
        assert np.allclose(a.meta["order_parameter"], order_parameter(pos, cell, gradient=False)[0].numpy())
        q6 = q6_order(pos, cell, *switch_radii_A(A, (1.15, 1.30)), gradient=False,
                      solid=(0.65, 0.05) if order == "q6_solid" else None)[0].numpy()
        assert np.allclose(a.meta["bias_order"], q6, atol=1e-9)
        assert not np.allclose(q6, a.meta["order_parameter"], atol=1.0)
    # frame bookkeeping: walker-minor order, stride, last round cut short (30 = 7*4 + 2)
    assert a.meta["walker"].tolist()[:6] == [0, 1, 2, 3, 0, 1]
    assert a.meta["step"].tolist()[:5] == [5, 5, 5, 5, 10] and int(a.meta["step"][-1]) == 40
    assert set(a.meta["method"].tolist()) == {method}
    assert np.allclose(a.meta["volume_A3"], np.abs(np.linalg.det(a.cell)))
    assert np.allclose(a.meta["enthalpy_eV"], a.energy + 1.0 * 6.241509074e-7 * a.meta["volume_A3"])


def test_seed_controls_frames(tmp_path):
    pot = _pot()
    p1 = run_sampling(tmp_path / "a.h5", pot, _settings("npt_fcc"), 32)
    p2 = run_sampling(tmp_path / "b.h5", pot, _settings("npt_fcc"), 32)
    p3 = run_sampling(tmp_path / "c.h5", pot, _settings("npt_fcc", seed=12), 32)
    a, b, c = _read(p1)[0], _read(p2)[0], _read(p3)[0]
    assert np.array_equal(a.positions, b.positions)
    assert not np.array_equal(a.positions, c.positions)


def test_bad_settings(tmp_path):
    pot = _pot()
    with pytest.raises(ConfigError, match="method"):
        run_sampling(tmp_path / "x.h5", pot, _settings("remd"), 32)
    with pytest.raises(ConfigError, match="t_min_K < t_max_K"):
        run_sampling(tmp_path / "x.h5", pot, _settings(momt=MOMTParams(t_min_K=3000.0, t_max_K=800.0)), 32)
    with pytest.raises(ConfigError, match="grid"):
        run_sampling(tmp_path / "x.h5", pot, _settings(momt=MOMTParams(n_h=0)), 32)
    with pytest.raises(ConfigError, match="N = 4 L"):
        run_sampling(tmp_path / "x.h5", pot, _settings("npt_fcc"), 30)
    with pytest.raises(ConfigError, match="n_walkers"):
        run_sampling(tmp_path / "x.h5", pot, _settings("npt_fcc", n_walkers=0), 32)
