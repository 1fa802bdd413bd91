"""The NNP ensemble drives the project's batched MD: forces and stress are derivatives of its energy
along an NPT trajectory, and NVE with it conserves energy."""

import numpy as np
import torch

from nnpdistill.md.integrators import LangevinNPT
from nnpdistill.md.setup import fcc_state, run_plain
from nnpdistill.nnp.builder import NNPSettings, build_model
from nnpdistill.nnp.md import EnsembleEvaluator

torch.set_num_threads(1)


def _model():
    m = build_model(NNPSettings(element="Ni", hidden_layers=(16, 16), self_energy_eV=-4.5), n_members=2,
                    seed=0, dtype=torch.float64)
    gen = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return m


def test_forces_and_stress_are_derivatives_along_an_npt_run():
    ev = EnsembleEvaluator(_model())
    gen = torch.Generator().manual_seed(0)
    state = fcc_state(2, 32, 3.52, 58.69, 800.0, gen)
    integ = LangevinNPT(1.0, 800.0, 1.0, 100.0, 500.0, 1e-6, "isotropic", gen)
    snapshots = []
    run_plain(state, ev, integ, 30,
              lambda st, res: snapshots.append((st.positions.clone(), st.cells.clone())))
    for pos, cell in (snapshots[9], snapshots[29]):
        res = ev(pos, cell)
        assert res.uncertainty.shape == (2, 32) and float(res.uncertainty.max()) > 0
        h = 1e-5
        for b, atom, axis in ((0, 3, 0), (1, 17, 2)):
            e = []
            for sgn in (1, -1):
                p = pos.clone()
                p[b, atom, axis] += sgn * h
                e.append(float(ev(p, cell).energy[b]))
            assert abs(-(e[0] - e[1]) / (2 * h) - float(res.forces[b, atom, axis])) < 1e-6
        # stress: (1/V) dE/dε for a homogeneous strain of positions and cell
        for i, j in ((0, 0), (1, 2)):
            e = []
            for sgn in (1, -1):
                eps = torch.zeros(3, 3, dtype=torch.float64)
                eps[i, j] = eps[j, i] = sgn * h / (1 if i == j else 2)
                d = torch.eye(3, dtype=torch.float64) + eps
                e.append(ev(pos @ d, cell @ d).energy)
            vol = torch.linalg.det(cell).abs()
            fd = (e[0] - e[1]) / (2 * h) / vol  # a symmetric strain: dE/dh / V = σ_ij
            np.testing.assert_allclose(fd.numpy(), res.stress[:, i, j].numpy(), atol=1e-7)


def test_nve_conserves_energy():
    ev = EnsembleEvaluator(_model())
    gen = torch.Generator().manual_seed(1)
    state = fcc_state(1, 32, 3.52, 58.69, 600.0, gen)
    state.positions += 0.1 * torch.randn(state.positions.shape, generator=gen, dtype=torch.float64)
    nve = LangevinNPT(0.5, 600.0, 1.0, None, None, 1e-6, "isotropic", gen)
    totals, kinetic = [], []

    def record(st, res):
        totals.append(float(res.energy[0] + st.kinetic_energy()[0]))
        kinetic.append(float(st.kinetic_energy()[0]))

    run_plain(state, ev, nve, 400, record)
    assert np.ptp(kinetic) / 32 > 5e-3  # energy really flows between kinetic and potential
    assert np.ptp(totals) / 32 < 2e-4, np.ptp(totals)  # eV/atom over 200 fs (measured 2e-5)
