"""Physics of the EAM engine: crystal references, derivatives, invariances, list reuse, NVE."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase.build import bulk
from scipy.optimize import minimize_scalar

from nnpdistill.potentials import EAMCalculator, load_eam

torch.set_num_threads(1)

# ../shared/potentials/README.md (LAMMPS): nearest-neighbour distance Å, energy eV/atom
REFERENCE = {
    ("Ni", "fcc"): (2.486, -4.876), ("Ni", "bcc"): (2.409, -4.833),
    ("Al", "fcc"): (2.860, -3.411), ("Al", "bcc"): (2.805, -3.309),
    ("Nb", "fcc"): (3.051, -7.159), ("Nb", "bcc"): (2.860, -7.347),
}
_EAMS = {}


def eam_of(el):
    if el not in _EAMS:
        _EAMS[el] = load_eam(el)
    return _EAMS[el]


def evaluate(eam, pos, cell, skin=0.0):
    res = eam.evaluator(skin_A=skin)(torch.as_tensor(pos)[None], torch.as_tensor(cell)[None])
    return res


@pytest.mark.parametrize("element,structure", sorted(REFERENCE))
def test_relaxed_cubic_crystals_match_lammps(element, structure):
    eam = eam_of(element)
    ev = eam.evaluator(skin_A=0.5)
    nn_factor = np.sqrt(0.5) if structure == "fcc" else np.sqrt(3) / 2

    def e_of(a):
        at = bulk(element, structure, a=a, cubic=True)
        r = ev(torch.tensor(at.positions)[None], torch.tensor(at.cell.array)[None])
        return float(r.energy[0]) / len(at)

    a0 = REFERENCE[(element, structure)][0] / nn_factor
    opt = minimize_scalar(e_of, bracket=(a0 * 0.97, a0, a0 * 1.03), tol=1e-10)
    nn = opt.x * nn_factor
    ref_nn, ref_e = REFERENCE[(element, structure)]
    assert abs(nn - ref_nn) < 0.002
    assert abs(opt.fun - ref_e) < 1e-3
    # at the minimum the pressure vanishes: virial consistent with dE/da
    at = bulk(element, structure, a=opt.x, cubic=True)
    s = ev(torch.tensor(at.positions)[None], torch.tensor(at.cell.array)[None]).stress[0].numpy()
    assert np.abs(s).max() < 2e-5


def _distorted(element, structure, a, rep, seed, rattle=0.1, strain=0.05):
    rng = np.random.default_rng(seed)
    at = bulk(element, structure, a=a, cubic=True) * rep
    at.set_cell(at.cell.array @ (np.eye(3) + rng.normal(0, strain, (3, 3))), scale_atoms=True)
    at.positions += rng.normal(0, rattle, at.positions.shape)
    return at


CASES = [("Al", "fcc", 4.05, (1, 1, 1), 0), ("Ni", "fcc", 3.52, (2, 2, 2), 1),
         ("Nb", "bcc", 3.3, (1, 1, 1), 2),
         ("Ni", "fcc", 3.52, (3, 3, 3), 3)]


@pytest.mark.parametrize("element,structure,a,rep,seed", CASES)
def test_forces_are_minus_gradient(element, structure, a, rep, seed):
    eam = eam_of(element)
    at = _distorted(element, structure, a, rep, seed)
    pos, cell = at.positions.copy(), at.cell.array.copy()
    res = evaluate(eam, pos, cell)
    f = res.forces[0].numpy()
    rng = np.random.default_rng(seed)
    h = 1e-5
    for k in rng.choice(len(pos), size=min(4, len(pos)), replace=False):
        for c in range(3):
            p1, p2 = pos.copy(), pos.copy()
            p1[k, c] += h
            p2[k, c] -= h
            e1, e2 = (float(evaluate(eam, p, cell).energy[0]) for p in (p1, p2))
            fd = -(e1 - e2) / (2 * h)
            assert fd == pytest.approx(f[k, c], abs=2e-6 * max(1.0, np.abs(f).max()))
    assert np.abs(f.sum(0)).max() < 1e-10 * len(pos)
    assert float(res.energies.sum()) == pytest.approx(float(res.energy[0]), abs=1e-10 * len(pos))


@pytest.mark.parametrize("element,structure,a,rep,seed", CASES)
def test_stress_is_strain_derivative(element, structure, a, rep, seed):
    eam = eam_of(element)
    at = _distorted(element, structure, a, rep, seed)
    pos, cell = at.positions.copy(), at.cell.array.copy()
    res = evaluate(eam, pos, cell)
    vol = abs(np.linalg.det(cell))
    h = 1e-6
    for i, j in [(0, 0), (1, 2), (2, 0), (1, 1)]:
        eps = np.zeros((3, 3))
        eps[i, j] = eps[j, i] = h / (1 if i == j else 2)
        e = []
        for sgn in (1, -1):
            d = np.eye(3) + sgn * eps
            e.append(float(evaluate(eam, pos @ d, cell @ d).energy[0]))
        fd = (e[0] - e[1]) / (2 * h) / vol
        assert fd == pytest.approx(res.stress[0, i, j].item(), abs=1e-7)
    np.testing.assert_allclose(res.virial[0].numpy(), -vol * res.stress[0].numpy(), rtol=1e-12, atol=1e-14)


def test_batched_equals_per_replica_and_supercell():
    eam = eam_of("Ni")
    ats = [_distorted("Ni", "fcc", 3.52, (2, 2, 2), s, rattle=0.15) for s in range(3)]
    pos = torch.tensor(np.stack([a.positions for a in ats]))
    cell = torch.tensor(np.stack([a.cell.array for a in ats]))
    rb = eam.evaluator(skin_A=0.7)(pos, cell)
    for b in range(3):
        r1 = eam.evaluator(skin_A=0.0)(pos[b:b + 1], cell[b:b + 1])
        assert float(rb.energy[b]) == pytest.approx(float(r1.energy[0]), rel=1e-13, abs=1e-12)
        np.testing.assert_allclose(rb.forces[b].numpy(), r1.forces[0].numpy(), atol=1e-11)
        np.testing.assert_allclose(rb.stress[b].numpy(), r1.stress[0].numpy(), atol=1e-13)
        np.testing.assert_allclose(rb.energies[b].numpy(), r1.energies[0].numpy(), atol=1e-11)
    sup = ats[0] * (2, 2, 2)
    rs = evaluate(eam, sup.positions, sup.cell.array)
    assert float(rs.energy[0]) / len(sup) == pytest.approx(float(rb.energy[0]) / len(ats[0]), abs=1e-12)
    np.testing.assert_allclose(rs.stress[0].numpy(), rb.stress[0].numpy(), atol=1e-12)


def _md(eam, atoms, steps, dt_fs, seed, temperature_K, evaluator=None, fresh=False, strain_rate=0.0):
    """Velocity Verlet (optionally under a slow homogeneous cell deformation); returns energies, builds."""
    from ase import units

    rng = np.random.default_rng(seed)
    m = eam.mass_amu
    x = torch.tensor(atoms.positions)[None]
    h = torch.tensor(atoms.cell.array)[None]
    v = torch.tensor(rng.normal(0, np.sqrt(units.kB * temperature_K / m), x.shape))
    v -= v.mean(1, keepdim=True)
    dt = dt_fs * units.fs
    ev = evaluator or eam.evaluator(skin_A=1.0)
    res = ev(x, h)
    out = []
    shape = torch.tensor([[1.0, 0.3, 0], [0, -0.5, 0], [0, 0.2, 0.7]], dtype=torch.float64)
    deform = torch.eye(3, dtype=torch.float64) + strain_rate * shape
    for _ in range(steps):
        v = v + 0.5 * dt * res.forces / m
        x = x + dt * v
        if strain_rate:
            x = x @ deform
            h = h @ deform
        if fresh:
            ev = eam.evaluator(skin_A=0.0, kernel="torch")
        res = ev(x, h)
        v = v + 0.5 * dt * res.forces / m
        ekin = 0.5 * m * float((v * v).sum())
        out.append((float(res.energy[0]) + ekin, res))
    return out, ev


@pytest.mark.parametrize("kernel", ["torch", "cpp"])
@pytest.mark.parametrize("skin_A", [0.3, 1.0])
def test_verlet_list_reuse_equals_fresh_build_along_md(skin_A, kernel):
    # the reference: a fresh torch-built list and the torch kernel at every step (the C++ kernel and its
    # C++ builder are checked against both)
    eam = eam_of("Ni")
    at = _distorted("Ni", "fcc", 3.6, (2, 2, 2), 5, rattle=0.2, strain=0.02)
    ev = eam.evaluator(skin_A=skin_A, kernel=kernel)
    a, ev = _md(eam, at, 60, 2.0, 0, 3000.0, evaluator=ev, strain_rate=2e-4)
    b, _ = _md(eam, at, 60, 2.0, 0, 3000.0, fresh=True, strain_rate=2e-4)
    assert ev.kernel == kernel
    assert 1 <= ev.n_builds < 60  # the list was reused
    if skin_A > 0.5 and kernel == "torch":  # the working list is re-filtered from the wide list
        assert ev.nlist.n_filters > ev.n_builds
    for (_, ra), (_, rb) in zip(a, b, strict=True):
        np.testing.assert_allclose(ra.forces.numpy(), rb.forces.numpy(), atol=1e-10)
        np.testing.assert_allclose(ra.stress.numpy(), rb.stress.numpy(), atol=1e-12)
        assert float(ra.energy[0]) == pytest.approx(float(rb.energy[0]), abs=1e-10)


def test_nve_energy_conservation():
    eam = eam_of("Ni")
    at = bulk("Ni", "fcc", a=3.52, cubic=True) * (2, 2, 2)
    steps = 1000  # 1 ps at 1 fs
    traj, _ = _md(eam, at, steps, 1.0, 3, 1200.0)
    etot = np.array([e for e, _ in traj]) / len(at)
    t_ps = np.arange(steps) * 1e-3
    drift = np.polyfit(t_ps, etot, 1)[0] * 1e3  # meV/atom/ps
    fluct = (etot.max() - etot.min()) * 1e3
    print(f"NVE 32 Ni atoms, 1 fs: drift {drift:.4f} meV/atom/ps, spread {fluct:.4f} meV/atom")
    assert abs(drift) < 0.05
    assert fluct < 0.5


def test_ase_calculator_matches_engine_and_voigt():
    eam = eam_of("Nb")
    at = _distorted("Nb", "bcc", 3.3, (2, 2, 2), 4)
    res = evaluate(eam, at.positions, at.cell.array)
    at.calc = EAMCalculator("Nb")
    assert at.get_potential_energy() == pytest.approx(float(res.energy[0]), abs=1e-12)
    np.testing.assert_allclose(at.get_forces(), res.forces[0].numpy(), atol=1e-12)
    s = res.stress[0].numpy()
    voigt = [s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]]
    np.testing.assert_allclose(at.get_stress(), voigt, atol=1e-14)
    np.testing.assert_allclose(at.get_potential_energies(), res.energies[0].numpy(), atol=1e-12)
    assert at.get_potential_energy(force_consistent=True) == pytest.approx(float(res.energy[0]))


def test_float32_close_to_float64():
    at = _distorted("Ni", "fcc", 3.52, (2, 2, 2), 6)
    r64 = evaluate(eam_of("Ni"), at.positions, at.cell.array)
    f32 = torch.float32
    ev32 = load_eam("Ni", dtype=f32).evaluator()
    r32 = ev32(torch.tensor(at.positions, dtype=f32)[None], torch.tensor(at.cell.array, dtype=f32)[None])
    assert r32.forces.dtype == torch.float32
    assert float(r32.energy[0]) == pytest.approx(float(r64.energy[0]), abs=2e-3)
    np.testing.assert_allclose(r32.forces[0].double().numpy(), r64.forces[0].numpy(), atol=2e-3)
