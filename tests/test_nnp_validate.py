"""The NNP validated in MD against the EAM (issue 17): per-walker seeded batched MD, the structure analysis
against known answers, and an ensemble with a member trained on 5 frames flagged as outside its data."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from test_nnp_md import _model  # noqa: E402
from test_nnp_train import make_frames  # noqa: E402

from nnpdistill.errors import ConfigError
from nnpdistill.frames import FrameStore
from nnpdistill.md.integrators import LangevinNPT
from nnpdistill.md.setup import fcc_state, fcc_supercell, run_plain
from nnpdistill.nnp.builder import NNPSettings
from nnpdistill.nnp.md import EnsembleEvaluator
from nnpdistill.nnp.train import TrainSettings, train_member
from nnpdistill.nnp.validate import (
    ValidateSettings,
    drift_meV_per_atom_ps,
    melting_point_from,
    rdf,
    rdf_overlap,
    validate_ensemble,
)

torch.set_num_threads(1)


def _gens(seeds):
    return [torch.Generator().manual_seed(s) for s in seeds]


def test_a_batched_nnp_run_equals_per_walker_runs_with_the_same_seeds():
    ev = EnsembleEvaluator(_model())
    temps = torch.tensor([700.0, 1300.0], dtype=torch.float64)

    def run(walkers):
        seeds = [11 + w for w in walkers]
        state = fcc_state(len(walkers), 32, 3.52, 58.69, temps[walkers], _gens(seeds))
        integ = LangevinNPT(1.0, temps[walkers], 1.0, 100.0, 500.0, 1e-6, "isotropic",
                            _gens([100 + s for s in seeds]))
        run_plain(state, ev, integ, 25)
        return state

    both = run([0, 1])
    for w in (0, 1):
        alone = run([w])
        np.testing.assert_allclose(both.positions[w].numpy(), alone.positions[0].numpy(), rtol=0, atol=1e-9)
        np.testing.assert_allclose(both.cells[w].numpy(), alone.cells[0].numpy(), rtol=0, atol=1e-9)
    assert not torch.allclose(both.positions[0], both.positions[1])


def test_rdf_of_fcc_and_of_an_ideal_gas():
    pos, cell = fcc_supercell(4, 3.52)  # 256 atoms, half width 7.04 Å
    r, g = rdf(pos.numpy()[None], cell.numpy()[None], 7.0, 700)
    shells = r[g > 0]
    assert abs(shells[0] - 3.52 / np.sqrt(2)) < 0.01 and abs(shells[shells > 3.0][0] - 3.52) < 0.01
    # coordination number: ρ ∫ g 4πr² dr over the first shell = 12 (bins' exact shell volumes)
    rho, dr = 256 / 3.52**3 / 64, r[1] - r[0]
    first = r < 3.0
    shell = 4 / 3 * np.pi * ((r + dr / 2) ** 3 - (r - dr / 2) ** 3)
    assert abs(rho * np.sum(shell[first] * g[first]) - 12.0) < 1e-9
    rng = np.random.default_rng(0)
    gas = rng.uniform(0, 1, (20, 400, 3)) * 20.0
    cells = np.repeat(np.eye(3)[None] * 20.0, 20, 0)
    r, g = rdf(gas, cells, 9.5, 19)
    np.testing.assert_allclose(g[2:], 1.0, atol=0.05)  # ideal gas: g = 1 (N-1)/N within noise
    assert rdf_overlap(r, g, g, 9.0) == 1.0
    assert rdf_overlap(r, 2 * g, g, 9.0) == pytest.approx(0.5)


def test_drift_and_melting_point_and_settings(tmp_path):
    t = np.arange(1001)
    e = np.stack([1e-3 * t * 2.0 / 1000 * 32, np.zeros(1001)], 1)  # 1 meV/atom/ps at 2 fs, and none
    np.testing.assert_allclose(drift_meV_per_atom_ps(e, 2.0, 32), [1.0, 0.0], atol=1e-9)
    (tmp_path / "c.json").write_text(json.dumps({"t_melt_K": 1967.5}))
    assert melting_point_from(None, tmp_path / "c.json") == 1967.5 and melting_point_from(1000, None) == 1000
    (tmp_path / "bad.json").write_text(json.dumps({"t_melt_K": None, "reason": "the liquid froze"}))
    with pytest.raises(ConfigError, match="the liquid froze"):
        melting_point_from(None, tmp_path / "bad.json")
    with pytest.raises(ConfigError, match="melting_point_K"):
        ValidateSettings.from_dict({})
    with pytest.raises(ConfigError, match="unknown validate settings"):
        ValidateSettings.from_dict({"melting_point_K": 1000, "temperature": 3})
    s = ValidateSettings.from_dict({"melting_point_K": 2000})
    assert s.points() == [("solid", 1500.0), ("liquid", 2200.0), ("solid", 2000.0)]


# the toy ensembles' atomic uncertainties are larger than a production ensemble's: their threshold too
TINY = dict(melting_point_K=800.0, uncertainty_threshold_eV=0.1, extra_temperatures_K=[], n_atoms=32,
            melt_steps=0, equilibration_steps=50, production_steps=150, frame_stride=10, nve_steps=60,
            rdf_bins=60, timestep_fs=2.0)


@pytest.fixture(scope="module")
def ensembles(tmp_path_factory):
    """Two members on 80 distorted FCC frames; a third member trained on 5 of them only."""
    out = tmp_path_factory.mktemp("val")
    data = make_frames(80, 0, amp=(0.03, 0.15))
    # one fixed self-energy (the 80 frames' mean), so members trained on different frames join one ensemble
    settings = NNPSettings(element="Ni", hidden_layers=(32, 24), self_energy_method="fixed",
                           self_energy_eV=float(np.mean(data["energy"]) / 32))
    fast = TrainSettings(train_fraction=0.8, max_epochs=120, batch_frames=8, lr=3e-3, early_stop_patience=30,
                         progress_every=0)
    for s in range(2):
        train_member(data, settings, fast, seed=s, out_dir=out / f"m{s}")
    five = make_frames(5, 9, amp=(0.01, 0.02), strain=(-0.005, 0.005))  # a nearly perfect crystal
    train_member(five, settings, TrainSettings(train_fraction=0.8, max_epochs=40, batch_frames=4, lr=3e-3,
                                               progress_every=0), seed=7, out_dir=out / "five")
    return out


def test_validation_flags_an_ensemble_with_a_member_trained_on_5_frames(ensembles, tmp_path):
    good = [ensembles / f"m{s}" / "model.pt" for s in range(2)]
    s = ValidateSettings.from_dict(TINY)
    t_good = validate_ensemble(good, tmp_path / "good", s, "Ni", seed=3, progress=False)
    t_bad = validate_ensemble(good + [ensembles / "five" / "model.pt"], tmp_path / "bad", s, "Ni", seed=3,
                              progress=False)
    print(t_good.to_string(), t_bad.to_string(), sep="\n")
    assert list(t_good.phase) == ["solid", "liquid"] and np.allclose(t_good.temperature_K, [600.0, 880.0])
    # the same physics from both runs where the ensemble knows the structures: a solid that stays solid
    assert (t_good.stable & t_good.within_data).all()
    assert (t_good.rdf_overlap > 0.85).all() and (t_good.density_error_percent.abs() < 3).all()
    assert (t_good.nve_drift_meV_per_atom_ps.abs() < 1.0).all()
    # the broken ensemble: outside its data by its uncertainty, its frames written as candidates
    assert not t_bad.within_data.any()
    assert (t_bad.max_atomic_uncertainty_eV > 2 * t_good.max_atomic_uncertainty_eV).all()
    with FrameStore(tmp_path / "bad" / "candidates.h5") as st:
        assert len(st) == int(t_bad.n_candidates.sum()) > 0 and st.labels == ()
        assert (st.read().meta["max_atomic_uncertainty_eV"] > s.uncertainty_threshold_eV).all()
    with FrameStore(tmp_path / "good" / "candidates.h5") as st:
        assert len(st) == 0
    assert pd.read_csv(tmp_path / "good" / "validation.csv").shape[0] == 2
    assert not list((tmp_path / "good").glob("*.partial*"))
    with pytest.raises(ConfigError, match="at least 2 members"):
        validate_ensemble(good[:1], tmp_path / "one", s, "Ni", progress=False)
    with pytest.raises(ConfigError, match="for Z = 28, the reference potential for Al"):
        validate_ensemble(good, tmp_path / "al", s, "Al", progress=False)


def test_validation_is_deterministic_and_resumes_a_finished_run(ensembles, tmp_path):
    good = [ensembles / f"m{s}" / "model.pt" for s in range(2)]
    s = ValidateSettings.from_dict({**TINY, "production_steps": 60, "nve_steps": 0})
    a = validate_ensemble(good, tmp_path / "a", s, "Ni", seed=5, progress=False)
    # a job killed after its reference run: the kept record is reused, the table is the same
    import nnpdistill.nnp.validate as v

    calls = []
    real = v.run_npt
    v.run_npt = lambda *args, **kw: (calls.append(1), real(*args, **kw))[1]
    try:
        b = validate_ensemble(good, tmp_path / "b", s, "Ni", seed=5, progress=False)
        assert len(calls) == 2
        (tmp_path / "c").mkdir()
        calls.clear()
        # keep the reference run's record, as a killed job would leave it
        orig = v._cached_run

        def stop_after_reference(path, fp, compute):
            if "nnp" in path.name:
                raise KeyboardInterrupt
            return orig(path, fp, compute)

        v._cached_run = stop_after_reference
        with pytest.raises(KeyboardInterrupt):
            validate_ensemble(good, tmp_path / "c", s, "Ni", seed=5, progress=False)
        v._cached_run = orig
        assert (tmp_path / "c" / "validate_reference.partial.npz").exists()
        calls.clear()
        c = validate_ensemble(good, tmp_path / "c", s, "Ni", seed=5, progress=False)
        assert len(calls) == 1  # only the NNP run again
    finally:
        v.run_npt = real
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(a, c)


def test_sampling_driven_by_the_ensemble_records_its_uncertainty(tmp_path):
    """`nnpdistill sample run --nnp`: the project's NPT driver on the NNP; every frame's energy is the
    ensemble mean's and its recorded atomic uncertainty is the ensemble's spread on that frame."""
    from nnpdistill.md.run import sample

    model = _model()
    model.save(tmp_path / "m.pt")
    cfg = {"n_frames": 4, "n_walkers": 2, "frame_stride": 3, "equilibration_steps": 5, "temperature_K": 900.0}
    out = sample("Ni", "npt_fcc", 32, tmp_path / "nnp.h5", cfg, seed=1, progress=False,
                 nnp_members=[tmp_path / "m.pt"])
    with FrameStore(out) as st:
        fr = st.read()
        assert st.attrs["potential"].startswith("nnp ensemble")
    res = EnsembleEvaluator(model)(torch.from_numpy(fr.positions), torch.from_numpy(fr.cell))
    np.testing.assert_allclose(fr.energy, res.energy.numpy(), rtol=0, atol=1e-9)
    np.testing.assert_allclose(fr.meta["max_atomic_uncertainty_eV"], res.uncertainty.max(-1).values.numpy(),
                               rtol=0, atol=1e-12)
    assert (fr.meta["max_atomic_uncertainty_eV"] > fr.meta["mean_atomic_uncertainty_eV"]).all()
    with pytest.raises(ConfigError, match="for Ni, the run for Al"):
        sample("Al", "npt_fcc", 32, tmp_path / "al.h5", cfg, nnp_members=[tmp_path / "m.pt"], progress=False)
