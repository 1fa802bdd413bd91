"""The fused C++ EAM kernel and its C++ list builder (potentials/eam_cpp.py) against the eager torch
evaluator and builder (themselves checked against LAMMPS and finite differences), plus finite differences
of its own, determinism, and clear errors when it cannot be built or used."""

import numpy as np
import pytest
import torch
from ase.build import bulk

from nnpdistill.errors import NNPDistillError
from nnpdistill.neighbors import build_pairs
from nnpdistill.potentials import eam_cpp, load_eam
from nnpdistill.potentials.eam_cpp import KernelBuildError, build_pairs_cpp, resolve_kernel

torch.set_num_threads(1)


def _replicas(element, structure, a, rep, seeds, strain=0.06, rattle=0.15):
    """Distorted (triclinic), rattled copies with different volumes: the padded lists differ in length."""
    xs, hs = [], []
    for k, seed in enumerate(seeds):
        rng = np.random.default_rng(seed)
        at = bulk(element, structure, a=a * (1.0 + 0.03 * k), cubic=True) * rep
        at.set_cell(at.cell.array @ (np.eye(3) + rng.normal(0, strain, (3, 3))), scale_atoms=True)
        at.positions += rng.normal(0, rattle, at.positions.shape)
        at.positions += rng.integers(-1, 2, (len(at), 1)) * at.cell.array[0]  # some atoms outside the cell
        xs.append(at.positions)
        hs.append(at.cell.array)
    return torch.tensor(np.stack(xs)), torch.tensor(np.stack(hs))


@pytest.mark.parametrize("element,structure,a,rep", [("Ni", "fcc", 3.52, (2, 2, 2)),
                                                      ("Nb", "bcc", 3.3, (2, 2, 2)),
                                                      ("Al", "fcc", 4.05, (1, 1, 1))])
def test_cpp_kernel_matches_torch(element, structure, a, rep):
    eam = load_eam(element)
    x, h = _replicas(element, structure, a, rep, [1, 2, 3])
    for per_atom in (True, False):
        c = eam.evaluator(skin_A=0.7, kernel="cpp")(x, h, per_atom=per_atom)
        t = eam.evaluator(skin_A=0.7, kernel="torch")(x, h, per_atom=per_atom)
        assert torch.allclose(c.energy, t.energy, rtol=0, atol=1e-10)
        assert torch.allclose(c.forces, t.forces, rtol=0, atol=1e-10)
        assert torch.allclose(c.stress, t.stress, rtol=0, atol=1e-12)
        assert torch.allclose(c.virial, t.virial, rtol=0, atol=1e-9)
        assert torch.allclose(c.energies, t.energies, rtol=0, atol=1e-10)
    assert torch.allclose(c.energy, t.energy, rtol=0, atol=1e-10) and float(c.forces.abs().max()) > 0.1
    c = eam.evaluator(skin_A=0.7, kernel="cpp")(x, h)
    assert torch.allclose(c.energies.sum(1), c.energy, rtol=0, atol=1e-10)
    # float32: the same kernel in single precision
    e32 = load_eam(element, dtype=torch.float32)
    c32 = e32.evaluator(kernel="cpp")(x.float(), h.float())
    assert c32.energy.dtype == torch.float32
    assert torch.allclose(c32.energy.double(), t.energy, rtol=2e-6, atol=0)
    assert torch.allclose(c32.forces.double(), t.forces, rtol=0, atol=2e-3)


def test_cpp_forces_and_stress_are_derivatives_of_its_energy():
    eam = load_eam("Ni")
    x, h = _replicas("Ni", "fcc", 3.52, (2, 2, 2), [7])
    ev = eam.evaluator(skin_A=0.0, kernel="cpp")
    res = ev(x, h)
    eps = 1e-5
    for atom, c in [(0, 0), (5, 1), (17, 2)]:
        xp, xm = x.clone(), x.clone()
        xp[0, atom, c] += eps
        xm[0, atom, c] -= eps
        fd = -(ev(xp, h).energy - ev(xm, h).energy) / (2 * eps)
        assert float(fd[0]) == pytest.approx(float(res.forces[0, atom, c]), abs=1e-6)
    vol = float(torch.linalg.det(h[0]).abs())
    for a_, b_ in [(0, 0), (0, 1), (2, 1)]:
        e = torch.zeros(3, 3, dtype=torch.float64)
        e[a_, b_] = e[b_, a_] = eps / (2 if a_ != b_ else 1)
        ep, em = (torch.eye(3, dtype=torch.float64) + sign * e for sign in (1, -1))
        fd = (float(ev(x @ ep, h @ ep).energy[0]) - float(ev(x @ em, h @ em).energy[0])) / (2 * eps) / vol
        want = float(res.stress[0, a_, b_])  # ε_ab = ε_ba = eps/2: dE = V σ_ab eps
        assert fd == pytest.approx(want, abs=1e-7)


def test_cpp_builder_gives_the_torch_builders_pairs():
    # a small cell (cutoff beyond half the cell: an atom's own images) and a larger triclinic one
    for rep, cutoff in [((1, 1, 1), 6.9), ((2, 2, 3), 7.4)]:
        x, h = _replicas("Ni", "fcc", 3.52, rep, [4, 5])
        for (ti, tj, ts), (ci, cj, cs) in zip(build_pairs(x, h, cutoff), build_pairs_cpp(x, h, cutoff),
                                              strict=True):
            key_t = sorted(zip(ti.tolist(), tj.tolist(), map(tuple, ts.tolist()), strict=True))
            key_c = list(zip(ci.tolist(), cj.tolist(), map(tuple, cs.tolist()), strict=True))
            assert key_c == sorted(key_c) and key_c == key_t and len(key_c) > 100
        for b, (ci, cj, cs) in enumerate(build_pairs_cpp(x, h, cutoff)):
            d = x[b, cj] - x[b, ci] + cs.double() @ h[b]
            assert float(d.norm(dim=1).max()) < cutoff and bool((ci <= cj).all())


def test_cpp_kernel_is_deterministic():
    eam = load_eam("Ni")
    x, h = _replicas("Ni", "fcc", 3.52, (3, 3, 3), [9, 10])
    a = eam.evaluator(kernel="cpp")(x, h)
    b = eam.evaluator(kernel="cpp")(x, h)
    for name in ("energy", "energies", "forces", "stress"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name


def test_kernel_choice_and_clear_errors(monkeypatch, tmp_path):
    with pytest.raises(NNPDistillError, match="EAM kernel must be one of"):
        load_eam("Ni").evaluator(kernel="fortran")
    with pytest.raises(NNPDistillError, match="CPU only"):
        resolve_kernel("cpp", "cuda:0")
    assert resolve_kernel("auto", "cuda:0") == "torch" and resolve_kernel("torch", "cpu") == "torch"
    assert resolve_kernel("auto", "cpu") == "cpp"  # it builds on this machine (the CI's too)
    # a machine where it cannot be built: a clear error for kernel='cpp', the torch path for 'auto'
    from torch.utils import cpp_extension

    def broken(*args, **kwargs):
        raise OSError("g++: command not found")

    monkeypatch.setattr(eam_cpp.KERNEL, "module", None)
    monkeypatch.setattr(eam_cpp.KERNEL, "failure", None)
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))  # not built there
    monkeypatch.setattr(cpp_extension, "load", broken)
    with pytest.raises(KernelBuildError, match="g\\+\\+: command not found.*kernel='torch'"):
        resolve_kernel("cpp", "cpu")
    assert resolve_kernel("auto", "cpu") == "torch"
    x, h = _replicas("Ni", "fcc", 3.52, (1, 1, 1), [1])
    ev = load_eam("Ni").evaluator()
    ev(x, h)
    assert ev.kernel == "torch"


def test_a_lock_left_by_a_killed_job_hangs_no_later_job(tmp_path):
    """torch's extension builder waits without a time limit while its lock file exists, and a job killed
    while holding it leaves the file: every later job of the main job hung so (2026-12-07). A built kernel
    now loads without the builder (a fresh process, the library in a fresh extensions folder beside such a
    lock: the old code waits past the timeout), and a lock older than any build is removed."""
    import os
    import shutil
    import subprocess
    import sys
    import time
    from pathlib import Path

    from nnpdistill.potentials.eam_cpp import KERNEL

    library = Path(KERNEL.load().__file__)
    folder = tmp_path / "extensions" / library.stem
    folder.mkdir(parents=True)
    shutil.copy(library, folder / library.name)
    (folder / "lock").touch()
    code = ("from nnpdistill.potentials.eam_cpp import KERNEL; import torch; m = KERNEL.load(); "
            "print('loaded', m.__file__)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "TORCH_EXTENSIONS_DIR": str(tmp_path / "extensions")})
    assert proc.returncode == 0 and f"loaded {folder / library.name}" in proc.stdout, proc.stderr[-2000:]

    from nnpdistill.cpp_build import STALE_LOCK_S, clear_stale_lock

    lock = tmp_path / "lock"
    assert not clear_stale_lock(lock)  # none there
    lock.touch()
    assert not clear_stale_lock(lock) and lock.exists()  # a build may be running: leave it
    old = time.time() - STALE_LOCK_S - 60
    os.utime(lock, (old, old))
    assert clear_stale_lock(lock) and not lock.exists()
