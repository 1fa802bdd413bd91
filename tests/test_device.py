"""The ``device`` setting (nnpdistill.device): CPU by default with unchanged bytes, clear errors where a GPU
is asked for and none is present (before any file is written), the workflow's GPU requests, and, where a
GPU is present, the GPU paths against the CPU ones (float64 to 1e-10 on energies, forces and stress).

The GPU tests are skipped with their reason on a machine without CUDA (the CI machine); every import is at
the top of the module, so a broken import fails here instead of hiding behind the skip.
"""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from ase.build import bulk

from nnpdistill.cli import main
from nnpdistill.device import (
    STAGES,
    OnDevice,
    device_for,
    environment_variable,
    model_device,
    on_device,
    resolve_device,
)
from nnpdistill.errors import ConfigError
from nnpdistill.frames import FrameStore
from nnpdistill.md.order_q6 import Q6Order
from nnpdistill.md.run import sample
from nnpdistill.nnp.builder import NNPSettings, build_model
from nnpdistill.nnp.md import EnsembleEvaluator
from nnpdistill.nnp.predict import predict_pool
from nnpdistill.nnp.train import TrainSettings, train_member
from nnpdistill.potentials import EAMCalculator, load_eam

torch.set_num_threads(1)
HAS_CUDA = torch.cuda.is_available()
NO_GPU = "no CUDA device here (torch.cuda.is_available() is False): the GPU path is checked on a GPU machine"
needs_gpu = pytest.mark.skipif(not HAS_CUDA, reason=NO_GPU)
needs_no_gpu = pytest.mark.skipif(HAS_CUDA, reason="a GPU is present: the no-GPU error cannot be provoked")
SETTINGS = NNPSettings(element="Ni", hidden_layers=(16, 8))
TRAIN = TrainSettings(train_fraction=0.5, max_epochs=4, batch_frames=4, progress_every=0)


def _frames(n=12, seed=0, amp=0.08):
    rng = np.random.default_rng(seed)
    base = bulk("Ni", "fcc", a=3.52, cubic=True).repeat((2, 2, 2))
    calc = EAMCalculator("Ni")
    out = {k: [] for k in ("numbers", "positions", "cell", "energy", "forces", "energies")}
    for _ in range(n):
        at = base.copy()
        at.set_cell(at.cell[:] * (1 + rng.uniform(-0.03, 0.03)), scale_atoms=True)
        at.positions += rng.normal(0, amp, at.positions.shape)
        at.calc = calc
        for key, value in (("numbers", at.numbers), ("positions", at.positions), ("cell", at.cell[:]),
                           ("energy", at.get_potential_energy()), ("forces", at.get_forces()),
                           ("energies", at.get_potential_energies())):
            out[key].append(value)
    return {k: np.array(v) for k, v in out.items()}


def _liquid_ni(n_rep=3, seed=1):
    """A disordered 108-atom Ni cell (positions far off the lattice), float64 tensors (B=2)."""
    rng = np.random.default_rng(seed)
    a = 3.6
    at = bulk("Ni", "fcc", a=a, cubic=True).repeat((n_rep,) * 3)
    pos = np.stack([at.positions + rng.normal(0, 0.35, at.positions.shape) for _ in range(2)])
    cell = np.stack([at.cell[:], at.cell[:] * 1.02])
    return torch.from_numpy(pos), torch.from_numpy(cell)


# --- settings and errors (every machine) ---------------------------------------------------------------

def test_resolve_device_accepts_the_documented_values_only():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(None) == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if HAS_CUDA else "cpu")
    for bad in ("gpu", "cuda:", "cuda:a", "tpu", "mps"):
        with pytest.raises(ConfigError, match=f"device '{bad}' for stage 'train' is not one of"):
            resolve_device(bad, "train")
    with pytest.raises(ConfigError, match="unknown device stage 'training'"):
        environment_variable("training")
    assert [environment_variable(s) for s in STAGES] == [
        "NNPDISTILL_DEVICE_SAMPLE", "NNPDISTILL_DEVICE_TRAIN", "NNPDISTILL_DEVICE_PREDICT",
        "NNPDISTILL_DEVICE_VALIDATE"]


@needs_no_gpu
def test_a_gpu_that_is_not_there_is_an_error_naming_the_stage(monkeypatch):
    for spec in ("cuda", "cuda:0", "cuda:3"):
        with pytest.raises(ConfigError, match=rf"device '{spec}' for stage 'predict' asks for a GPU.*"
                                              r"torch.cuda.is_available\(\) is False"):
            resolve_device(spec, "predict")
    monkeypatch.setenv("NNPDISTILL_DEVICE_TRAIN", "cuda")
    with pytest.raises(ConfigError, match="stage 'train' asks for a GPU"):
        device_for("train")
    assert device_for("train", "cpu") == torch.device("cpu")  # an explicit argument wins over the variable
    monkeypatch.setenv("NNPDISTILL_DEVICE_TRAIN", "auto")
    assert device_for("train") == torch.device("cpu")


@needs_no_gpu
def test_training_and_sampling_on_a_missing_gpu_stop_before_writing(tmp_path, monkeypatch):
    monkeypatch.setenv("NNPDISTILL_DEVICE_TRAIN", "cuda")
    with pytest.raises(ConfigError, match="stage 'train' asks for a GPU"):
        train_member(_frames(4), SETTINGS, TRAIN, seed=0, out_dir=tmp_path / "member")
    assert not (tmp_path / "member").exists()
    with pytest.raises(ConfigError, match="stage 'sample' asks for a GPU"):
        sample("Ni", "npt_fcc", 32, tmp_path / "s.h5", {"n_frames": 2, "n_walkers": 2}, device="cuda",
               progress=False)
    assert list(tmp_path.glob("s.h5*")) == []
    # the CLI says it in one line and exits non-zero
    code = main(["train", str(tmp_path / "none.h5"), "--element", "Ni", "--out", str(tmp_path / "m"),
                 "--device", "cuda"])
    assert code != 0


def test_explicit_cpu_gives_the_bytes_of_no_setting(tmp_path):
    """device cpu moves nothing: the member trained with it is the member trained without it."""
    data = _frames(8)
    a = train_member(data, SETTINGS, TRAIN, seed=3, out_dir=tmp_path / "a")
    b = train_member(data, SETTINGS, TRAIN, seed=3, out_dir=tmp_path / "b", device="cpu")
    assert (tmp_path / "a" / "model.pt").read_bytes() == (tmp_path / "b" / "model.pt").read_bytes()
    assert model_device(a.model) == model_device(b.model) == torch.device("cpu")
    pa = predict_pool(a.model, data, progress=False)
    pb = predict_pool(b.model, data, progress=False, device="cpu")
    assert pa.scores.equals(pb.scores)


def test_on_device_wraps_only_off_the_cpu_and_returns_results_where_the_inputs_are():
    ev = load_eam("Ni").evaluator(skin_A=1.0)
    assert on_device(ev, "cpu") is ev and on_device(ev, None) is ev
    wrapped = OnDevice(load_eam("Ni").evaluator(skin_A=1.0), "cpu")  # the wrapper itself, on the CPU
    pos, cell = _liquid_ni()
    r0, r1 = ev(pos, cell), wrapped(pos, cell)
    for name in ("energy", "energies", "forces", "stress", "virial"):
        assert torch.equal(getattr(r0, name), getattr(r1, name))
    assert wrapped.n_builds == ev.n_builds == 2  # the wrapped evaluator's attributes (one list per replica)
    order = OnDevice(Q6Order(2.9, 3.3, skin_A=0.5), "cpu")
    O, g, e = order(pos, cell)
    assert O.shape == (2,) and g.shape == pos.shape and e.shape == (2, 3, 3)


def test_the_workflow_requests_a_gpu_for_the_stages_on_cuda_and_refuses_a_bad_device(repo, tmp_path):
    def dry(device: str) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--directory", str(repo),
               "--configfile", str(repo / "config/smoke.yaml"), "--config", f"results_dir={tmp_path}/r",
               f"device={device}"]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=300)

    def gpus(out: str) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        rule = None
        for line in out.splitlines():
            if line.startswith("rule "):
                rule = line.split()[1].rstrip(":")
            elif line.strip().startswith("resources:") and rule:
                req = [p.split("=")[1] for p in line.split(", ") if p.strip().startswith("gpu=")]
                found.setdefault(rule, set()).update(req or ["none"])
        return found

    on = dry('{"sample": "cuda", "train": "cuda:0", "predict": "cuda", "validate": "cuda"}')
    assert on.returncode == 0, on.stderr[-2000:]
    req = gpus(on.stdout + on.stderr)
    for rule in ("sample_momt", "sample_npt", "run_coexistence", "train_member", "predict_pool",
                 "evaluate_testset", "validate_nnp"):
        assert req[rule] == {"1"}, (rule, req.get(rule))
    assert req["relax_crystals"] == {"none"} and req["compute_eam_crystals"] == {"none"}
    off = dry('{"train": "auto"}')  # auto requests nothing: it takes a GPU only where the node has one
    assert off.returncode == 0, off.stderr[-2000:]
    assert gpus(off.stdout + off.stderr)["train_member"] == {"0"}
    bad = dry('{"train": "gpu"}')
    assert bad.returncode != 0 and "'gpu' does not match" in bad.stdout + bad.stderr
    assert not (tmp_path / "r").exists()


# --- GPU against CPU (skipped without CUDA) ------------------------------------------------------------

@needs_gpu
@pytest.mark.parametrize("kernel", ["torch"])
def test_eam_on_gpu_agrees_with_the_cpu(kernel):
    pos, cell = _liquid_ni()
    cpu = load_eam("Ni").evaluator(skin_A=1.0, kernel="auto")(pos, cell)
    gpu = OnDevice(load_eam("Ni").evaluator(skin_A=1.0, kernel=kernel), "cuda")(pos, cell)
    assert gpu.forces.device.type == "cpu"  # results come back to the caller's device
    for name, tol in (("energy", 1e-10), ("energies", 1e-10), ("forces", 1e-10), ("stress", 1e-12)):
        np.testing.assert_allclose(getattr(gpu, name).numpy(), getattr(cpu, name).numpy(), rtol=0, atol=tol)


@needs_gpu
def test_q6_order_on_gpu_agrees_with_the_cpu():
    pos, cell = _liquid_ni()
    c = Q6Order(2.9, 3.3, skin_A=0.5)(pos, cell)
    g = OnDevice(Q6Order(2.9, 3.3, skin_A=0.5), "cuda")(pos, cell)
    for a, b in zip(c, g, strict=True):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=0, atol=1e-10)


@needs_gpu
def test_nnp_on_gpu_agrees_with_the_cpu(tmp_path):
    model = build_model(SETTINGS, n_members=3, seed=0, dtype=torch.float64)
    pos, cell = _liquid_ni()
    c = EnsembleEvaluator(model)(pos, cell)
    g = EnsembleEvaluator(model, "cuda")(pos, cell)
    for name in ("energy", "forces", "stress", "uncertainty"):
        np.testing.assert_allclose(getattr(g, name).numpy(), getattr(c, name).numpy(), rtol=0, atol=1e-10)
    data = _frames(8)
    pc = predict_pool(model, data, progress=False, device="cpu")
    pg = predict_pool(model, data, progress=False, device="cuda")
    np.testing.assert_allclose(pg.scores["energy_pred_eV_per_atom"], pc.scores["energy_pred_eV_per_atom"],
                               rtol=0, atol=1e-10)
    np.testing.assert_allclose(pg.uq_eV, pc.uq_eV, rtol=0, atol=1e-10)


@needs_gpu
def test_training_on_gpu_follows_the_cpu(tmp_path):
    """Same seed, same split and batches: the float64 learning curves agree to rounding."""
    ts = TrainSettings(train_fraction=0.5, max_epochs=6, batch_frames=4, progress_every=0, dtype="float64")
    data = _frames(12)
    c = train_member(data, SETTINGS, ts, seed=2, device="cpu")
    g = train_member(data, SETTINGS, ts, seed=2, device="cuda")
    assert model_device(g.model).type == "cpu"  # the trained member comes back to the CPU
    np.testing.assert_array_equal(c.train_index, g.train_index)
    np.testing.assert_allclose([h["valid_rmse_meV_per_atom"] for h in g.history],
                               [h["valid_rmse_meV_per_atom"] for h in c.history], rtol=1e-7)


@needs_gpu
def test_sampling_on_gpu_starts_like_the_cpu(tmp_path):
    cfg = {"n_frames": 4, "n_walkers": 2, "frame_stride": 2, "equilibration_steps": 2,
           "temperature_K": 1200.0}
    paths = [sample("Ni", "npt_fcc", 32, tmp_path / f"{d}.h5", cfg, seed=1, progress=False, device=d)
             for d in ("cpu", "cuda")]
    with FrameStore(paths[0]) as a, FrameStore(paths[1]) as b:
        fa, fb = a.read(), b.read()
    np.testing.assert_allclose(fb.positions[:2], fa.positions[:2], rtol=0, atol=1e-8)
    np.testing.assert_allclose(fb.energy[:2], fa.energy[:2], rtol=0, atol=1e-8)


def test_readme_documents_the_device_setting(repo):
    text = Path(repo / "README.md").read_text()
    assert "device:" in text and "NNPDISTILL_DEVICE_" in text


@needs_no_gpu
def test_gpu_benchmark_says_why_it_cannot_run_without_a_gpu(repo):
    proc = subprocess.run([sys.executable, str(repo / "benchmarks/bench_gpu.py")], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "CPU:" in proc.stdout and "1 torch thread" in proc.stdout
    assert "no GPU: torch.cuda.is_available() is False" in proc.stderr
