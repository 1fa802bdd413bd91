"""MOMT vs plain NPT with the Ni EAM (32 atoms, 2000 K, 1 bar): MOMT makes repeated solid <-> liquid round
trips; plain NPT stays in its starting phase from FCC and from liquid. Also: a potential without the
element fails clearly."""

import numpy as np
import pytest
import torch

from nnpdistill.errors import NNPDistillError
from nnpdistill.frames import FrameStore
from nnpdistill.md.run import MOMTParams, RunSettings, potential_from_eam, run_sampling
from nnpdistill.md.setup import MDParams

torch.set_num_threads(1)
N = 32


def _phase_switches(o_per_atom: np.ndarray, hi=0.7, lo=0.1) -> tuple[int, int]:
    """(solid->liquid, liquid->solid) transitions of one walker's O/N series (hysteresis hi/lo)."""
    state, melt, freeze = None, 0, 0
    for o in o_per_atom:
        new = "s" if o >= hi else ("l" if o <= lo else state)
        if state == "s" and new == "l":
            melt += 1
        if state == "l" and new == "s":
            freeze += 1
        state = new
    return melt, freeze


def _o(path, walkers):
    with FrameStore(path) as st:
        fr = st.read()
    return fr.meta["order_parameter"].reshape(-1, walkers) / N


@pytest.mark.slow
def test_momt_round_trips_and_npt_stays(tmp_path):
    pot = potential_from_eam("Ni")
    md = MDParams(timestep_fs=2.0, barostat_tau_fs=500.0)
    momt = RunSettings(method="momt", n_frames=8 * 300, n_walkers=8, frame_stride=20, temperature_K=2000.0,
                       seed=5, equilibration_steps=0, checkpoint_every=100, md=md,
                       momt=MOMTParams(t_min_K=1000.0, t_max_K=3200.0, n_h=30, n_o=40, update_stride=5,
                                       ln_f_initial=1.0, estimate_steps=600,
                                       # the Wang-Landau phase throughout: its round trips are tested here,
                                       # the frozen-bias production phase in test_momt_reweight.py
                                       production_fraction=0.0))
    path = run_sampling(tmp_path / "momt.h5", pot, momt, N)
    O = _o(path, 8)
    melts = freezes = 0
    for w in range(O.shape[1]):
        m, f = _phase_switches(O[:, w])
        melts, freezes = melts + m, freezes + f
    assert (O >= 0.7).any() and (O <= 0.1).any()
    assert melts >= 3 and freezes >= 3, (melts, freezes)

    for method, check in (("npt_fcc", lambda o: o.min() > 0.3), ("npt_liq", lambda o: o.max() < 0.3)):
        s = RunSettings(method=method, n_frames=8 * 100, n_walkers=8, frame_stride=20, temperature_K=2000.0,
                        seed=6, equilibration_steps=200, melt_steps=1000, quench_steps=500, md=md)
        o = _o(run_sampling(tmp_path / f"{method}.h5", pot, s, N), 8)
        assert check(o), (method, o.min(), o.max())


def test_potential_without_element():
    from pathlib import Path

    import nnpdistill.potentials as potentials

    al = Path(potentials.__file__).parent / "data" / "Al1_Mendelev2008.eam.fs"
    with pytest.raises(NNPDistillError, match="Ni"):
        potential_from_eam("Ni", path=str(al))


def test_start_lattice_keeps_the_reference_crystals_volume():
    """The FCC start of a BCC metal (Nb's header: bcc, a = 3.302 Å) has Nb's BCC atomic volume, not half of
    it (an FCC cell with the BCC a); Ni's FCC header is taken as it is; an explicit lattice_A wins."""
    nb = potential_from_eam("Nb")
    assert nb.lattice_A**3 / 4 == pytest.approx(3.30237355652999**3 / 2)
    assert potential_from_eam("Ni").lattice_A == pytest.approx(3.5162327313875)
    assert potential_from_eam("Nb", lattice_A=4.2).lattice_A == 4.2


def test_eam_momt_resume_bitwise(tmp_path):
    """With the EAM's Verlet neighbour list: killed + resumed MOMT run == uninterrupted run, bit for bit."""
    from nnpdistill.md.momt import Bias2D, order_range

    pot = potential_from_eam("Ni")
    s = RunSettings(method="momt", n_frames=4 * 12, n_walkers=4, frame_stride=10, temperature_K=2000.0,
                    seed=3,
                    equilibration_steps=50, checkpoint_every=3, md=MDParams(timestep_fs=2.0),
                    momt=MOMTParams(t_min_K=1000.0, t_max_K=3000.0, n_h=20, n_o=20, update_stride=5))
    bias = Bias2D((-160.0, -120.0), order_range(N), 20, 20)
    ref = run_sampling(tmp_path / "ref.h5", pot, s, N, bias=bias)

    def kill(r):
        if r == 7:
            raise RuntimeError("killed")

    out = tmp_path / "run.h5"
    with pytest.raises(RuntimeError):
        run_sampling(out, pot, s, N, hook=kill, bias=bias)
    run_sampling(out, pot, s, N, bias=bias)
    with FrameStore(ref) as a, FrameStore(out) as b:
        fa, fb = a.read(), b.read()
    assert np.array_equal(fa.positions, fb.positions) and np.array_equal(fa.forces, fb.forces)
    assert np.array_equal(fa.meta["t_eff_K"], fb.meta["t_eff_K"])


def test_liquid_start_fraction_starts_that_share_of_walkers_liquid():
    """momt.liquid_start_fraction: the last round(f B) walkers begin melted, the rest as the crystal (by the
    q6 solid-like criterion, independent of the bias coordinate); off, every walker starts crystalline and
    the fingerprint is the one runs had before the option."""
    from nnpdistill.md.momt import Bias2D
    from nnpdistill.md.run import _initial
    from nnpdistill.md.structure import solid_like_fraction

    pot = potential_from_eam("Ni")

    def start(frac):
        s = RunSettings("momt", n_walkers=4, temperature_K=2000.0, seed=3, equilibration_steps=50,
                        melt_K=4000.0, melt_steps=1500, quench_steps=200,
                        md=MDParams(timestep_fs=2.0, barostat_tau_fs=500.0),
                        momt=MOMTParams(t_min_K=1700.0, t_max_K=2300.0, liquid_start_fraction=frac))
        bias = Bias2D((-160.0, -130.0), (-5.0, 37.0), 8, 8)
        return s, _initial(s, pot, N, torch.Generator().manual_seed(3), bias)[0]

    s_half, half = start(0.5)
    s_none, none = start(0.0)
    solid = solid_like_fraction(half.positions, half.cells)
    assert bool((solid[:2] > 0.9).all()) and bool((solid[2:] < 0.3).all()), solid
    assert bool((solid_like_fraction(none.positions, none.cells) > 0.9).all())
    assert "liquid_start_fraction" not in s_none.fingerprint()["momt"]
    assert s_half.fingerprint()["momt"]["liquid_start_fraction"] == 0.5
    with pytest.raises(NNPDistillError, match="liquid_start_fraction"):
        RunSettings("momt", momt=MOMTParams(liquid_start_fraction=1.5)).validate()
