"""Pool AEV cache: cached scoring equals on-the-fly scoring; mismatched caches are refused or bypassed."""

import logging

import numpy as np
import pandas as pd
import pytest
import torch
from ase.build import bulk

from nnpdistill.errors import DatasetError
from nnpdistill.frames import Frames, write_frames
from nnpdistill.nnp.aev_cache import (
    AEVCache,
    AEVCacheMismatchError,
    aev_settings_hash,
    compute_pool_aevs,
)
from nnpdistill.nnp.batch import compute_aevs, neighbor_pairs
from nnpdistill.nnp.builder import NNPSettings, build_model
from nnpdistill.nnp.cached_scoring import EnsembleNetworks
from nnpdistill.nnp.data import load_groups
from nnpdistill.nnp.predict import SCORE_COLUMNS, predict_pool, read_prediction, write_prediction

SETTINGS = NNPSettings(element="Ni", hidden_layers=(16, 8), self_energy_eV=-4.4)
CONFIG = {"hidden_layers": [16, 8]}  # what the element config holds (no element, eta from spacing)


def _frames(n, rep, seed, a=3.52):
    rng = np.random.default_rng(seed)
    base = bulk("Ni", "fcc", a=a, cubic=True).repeat(rep)
    pos, cell = [], []
    for _ in range(n):
        s = 1 + rng.uniform(-0.04, 0.04)
        pos.append((base.positions + rng.normal(0, 0.1, base.positions.shape)) * s)
        cell.append(base.cell[:] * s)
    n_atoms = len(base)
    return Frames(numbers=np.full((n, n_atoms), 28), positions=np.array(pos), cell=np.array(cell),
                  energy=-4.4 * n_atoms + rng.normal(0, 0.3, n),
                  energies=rng.normal(-4.4, 0.05, (n, n_atoms)),
                  meta={"temperature_K": rng.uniform(300, 2000, n)})


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    """A frame store with two atom counts (4-atom and 32-atom cells)."""
    path = tmp_path_factory.mktemp("pool") / "momt_32.h5"
    write_frames(path, [_frames(7, (1, 1, 1), 1), _frames(9, (2, 2, 2), 2)], {"element": "Ni"})
    return path


@pytest.fixture(scope="module")
def cache(pool, tmp_path_factory):
    path = tmp_path_factory.mktemp("aev") / "momt_32.h5"
    info = compute_pool_aevs(pool, CONFIG, path, element="Ni", batch_frames=4)
    assert info.n_frames == 16 and info.n_atoms == 7 * 4 + 9 * 32
    return path


def _model(dtype, n_members=3, settings=SETTINGS, seed=7):
    m = build_model(settings, n_members=n_members, seed=seed, dtype=dtype)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():  # non-trivial per-member standardisation
        m.aev_mean.copy_(torch.rand(m.aev_mean.shape, generator=gen, dtype=dtype))
        m.aev_inv_std.copy_(1.0 / (0.3 + torch.rand(n_members, 1, generator=gen, dtype=dtype)))
    return m


def test_hash_from_config_equals_model_and_depends_only_on_aev_settings():
    h = aev_settings_hash(CONFIG, "Ni")
    model = build_model(NNPSettings.from_dict({"element": "Ni", **CONFIG}), 2, seed=3)
    assert aev_settings_hash(model.settings) == h
    # networks, self-energy and an eta given explicitly at its default value do not change it
    assert aev_settings_hash({"hidden_layers": [64, 8], "self_energy_eV": -3.0, "bias": True}, "Ni") == h
    explicit_eta = {"radial_eta_per_A2": SETTINGS.radial_eta(), "angular_eta_per_A2": SETTINGS.angular_eta()}
    assert aev_settings_hash({**CONFIG, **explicit_eta}, "Ni") == h
    changes = {"radial_cutoff_A": 5.5, "radial_start_A": 1.5, "radial_shifts": 12, "radial_eta_per_A2": 9.0,
               "angular_cutoff_A": 4.0, "angular_start_A": 1.8, "angular_shifts": 4, "angular_sections": 2,
               "angular_eta_per_A2": 20.0, "angular_zeta": 8.0, "cutoff_fn": "cosine"}
    hashes = {aev_settings_hash({**CONFIG, k: v}, "Ni") for k, v in changes.items()}
    assert len(hashes) == len(changes) and h not in hashes
    assert aev_settings_hash(CONFIG, "Al") != h


def test_cached_aevs_equal_model_aevs(pool, cache):
    model = _model(torch.float64)
    groups = load_groups(pool)
    with AEVCache(cache) as c:
        assert c.n_groups == 2 and c.n_features == model.aev_computer.out_dim
        for k, g in enumerate(groups):
            np.testing.assert_array_equal(c.group_index(k), g.index)
            pairs = neighbor_pairs(g.positions, g.cell, model.cutoff_A)
            ref = compute_aevs(model, torch.tensor(g.positions), torch.tensor(g.cell), pairs).numpy()
            got = c.read(k, 0, g.n_frames).reshape(ref.shape)
            assert got.dtype == np.float32
            assert np.abs(ref).max() > 0.1  # real descriptors, not zeros
            np.testing.assert_allclose(got, ref, rtol=2e-7, atol=1e-7)


@pytest.mark.parametrize("activation,bias,dtype", [
    ("gelu", False, torch.float64), ("celu", True, torch.float64), ("gelu", False, torch.float32)])
def test_ensemble_networks_equal_model(activation, bias, dtype):
    s = SETTINGS.replace(activation=activation, bias=bias)
    model = _model(dtype, settings=s)
    gen = torch.Generator().manual_seed(2)
    x = torch.rand((50, model.aev_computer.out_dim), dtype=torch.float64, generator=gen).to(dtype)
    ref = model.atomic_energies_from_aevs(x).detach()
    nets = EnsembleNetworks(model)
    # float32 GELU networks run fused in oneDNN where torch has it: float32 rounding (1 ulp of 4 eV: 5e-7)
    atol = 1e-12 if dtype == torch.float64 else 4e-6
    torch.testing.assert_close(nets(x), ref, rtol=0, atol=atol)
    torch.testing.assert_close(EnsembleNetworks(model, fused=False)(x), ref, rtol=0, atol=atol)
    assert float(ref.std(0).max()) > 1e-3  # members differ
    if dtype == torch.float64 or activation != "gelu":
        assert not nets.fused


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_cached_prediction_equals_uncached(pool, cache, tmp_path, dtype):
    model = _model(dtype)
    ref = predict_pool(model, pool, batch_frames=5, progress=False)
    got = predict_pool(model, pool, batch_frames=5, progress=False, aevs=cache)
    assert list(got.scores.columns) == list(ref.scores.columns)
    assert list(got.scores.columns[:len(SCORE_COLUMNS)]) == list(SCORE_COLUMNS)
    np.testing.assert_array_equal(got.scores["frame_index"], ref.scores["frame_index"])
    np.testing.assert_array_equal(got.atom_offset, ref.atom_offset)
    # float64 model: only the float32 storage of the AEVs differs (~1e-7 eV per atom);
    # float32 model: both sides carry float32 rounding (AEVs computed in float32 on the fly)
    atol = 1e-6 if dtype == torch.float64 else 2e-5
    np.testing.assert_allclose(got.energy_pred_eV, ref.energy_pred_eV, rtol=0, atol=atol)
    np.testing.assert_allclose(got.uq_eV, ref.uq_eV, rtol=0, atol=atol)
    for col in ("energy_pred_eV_per_atom", "energy_std_eV_per_atom", "uq_max_eV", "uq_mean_eV"):
        np.testing.assert_allclose(got.scores[col], ref.scores[col], rtol=0, atol=atol)
    np.testing.assert_allclose(got.scores["abs_error_meV_per_atom"], ref.scores["abs_error_meV_per_atom"],
                               rtol=0, atol=1000 * atol)
    np.testing.assert_array_equal(got.energy_true_eV, ref.energy_true_eV)
    np.testing.assert_array_equal(got.scores["temperature_K"], ref.scores["temperature_K"])
    assert ref.uq_eV.max() > 1e-3 and np.ptp(ref.energy_pred_eV) > 1e-3  # a non-trivial comparison
    # the files are the same as well
    write_prediction(got, tmp_path / "scores.csv", tmp_path / "atomic.npz")
    back = read_prediction(tmp_path / "scores.csv", tmp_path / "atomic.npz")
    pd.testing.assert_index_equal(back.scores.columns, ref.scores.columns)
    np.testing.assert_allclose(back.uq_eV, ref.uq_eV, rtol=0, atol=atol)


def test_float64_storage_is_exact(pool, tmp_path):
    path = tmp_path / "aev64.h5"
    compute_pool_aevs(pool, SETTINGS, path, store_dtype="float64")
    model = _model(torch.float64)
    ref = predict_pool(model, pool, progress=False)
    got = predict_pool(model, pool, progress=False, aevs=path)
    np.testing.assert_allclose(got.energy_pred_eV, ref.energy_pred_eV, rtol=0, atol=1e-11)
    np.testing.assert_allclose(got.uq_eV, ref.uq_eV, rtol=0, atol=1e-11)


def test_cache_bytes_do_not_depend_on_the_results_folder(pool, cache, tmp_path):
    """The same pool under another folder (a SLURM run's results_dir) gives a cache of the same bytes."""
    import shutil

    moved = tmp_path / "elsewhere" / "Ni" / "sample" / pool.name
    moved.parent.mkdir(parents=True)
    shutil.copyfile(pool, moved)
    out = tmp_path / "aev.h5"
    compute_pool_aevs(moved, CONFIG, out, element="Ni", batch_frames=4)
    assert out.read_bytes() == cache.read_bytes()
    with AEVCache(out) as c:
        assert c.pool_path == pool.name


def test_streaming_chunks_do_not_change_results(pool, cache):
    from nnpdistill.nnp.cached_scoring import score_from_cache

    model = _model(torch.float64)
    with AEVCache(cache) as c:
        whole = score_from_cache(model, c, 1)
        small = score_from_cache(model, c, 1, read_atoms=70, chunk_atoms=7)  # 2 frames, odd chunks
    np.testing.assert_allclose(small, whole, rtol=0, atol=1e-12)  # GEMM blocking differs: ulps only
    assert whole.shape == (3, 9, 32)


def test_cache_with_other_settings_is_refused_or_bypassed(pool, cache, caplog):
    other = SETTINGS.replace(radial_cutoff_A=5.0)
    model = _model(torch.float64, settings=other)
    want = r"other AEV settings.*radial_cutoff_A: cache 6\.0, model 5\.0"
    with pytest.raises(AEVCacheMismatchError, match=want):
        predict_pool(model, pool, progress=False, aevs=cache)
    with caplog.at_level(logging.WARNING, logger="nnpdistill.nnp.predict"):
        got = predict_pool(model, pool, progress=False, aevs=cache, on_mismatch="recompute")
    assert "computing the AEVs on the fly" in caplog.text and "radial_cutoff_A" in caplog.text
    ref = predict_pool(model, pool, progress=False)
    np.testing.assert_array_equal(got.energy_pred_eV, ref.energy_pred_eV)  # same code path: bitwise
    # a model whose networks differ but whose AEVs are the same uses the cache
    wide = _model(torch.float64, settings=SETTINGS.replace(hidden_layers=(8,)))
    predict_pool(wide, pool, progress=False, aevs=cache)


def test_cache_for_another_pool_is_refused(pool, cache, tmp_path):
    model = _model(torch.float64)
    other = tmp_path / "other.h5"
    write_frames(other, [_frames(7, (1, 1, 1), 11), _frames(9, (2, 2, 2), 12)], {"element": "Ni"})
    with pytest.raises(AEVCacheMismatchError, match="sha256"):
        predict_pool(model, other, progress=False, aevs=cache)
    # in-memory frames: checked by the geometry digest (one atom moved by 1e-9 Å is another frame)
    groups = load_groups(pool)
    groups[1].positions[3, 5, 0] += 1e-9
    with pytest.raises(AEVCacheMismatchError, match="other frames"):
        predict_pool(model, groups, progress=False, aevs=cache)
    with pytest.raises(AEVCacheMismatchError, match="groups"):
        predict_pool(model, groups[1:], progress=False, aevs=cache)
    groups = load_groups(pool)  # unchanged frames in memory are accepted
    predict_pool(model, groups, progress=False, aevs=cache)


def test_bad_cache_files(pool, tmp_path):
    model = _model(torch.float64)
    with pytest.raises(DatasetError, match="does not exist"):
        predict_pool(model, pool, progress=False, aevs=tmp_path / "missing.h5")
    with pytest.raises(DatasetError, match="not an nnpdistill AEV cache"):
        predict_pool(model, pool, progress=False, aevs=pool)  # a frame store, not a cache
    (tmp_path / "junk.h5").write_text("junk")
    with pytest.raises(DatasetError, match="not a readable HDF5"):
        predict_pool(model, pool, progress=False, aevs=tmp_path / "junk.h5")
    with pytest.raises(DatasetError, match="atomic numbers"):
        compute_pool_aevs(pool, {}, tmp_path / "al.h5", element="Al")
    assert not (tmp_path / "al.h5").exists() and not (tmp_path / "al.h5.partial").exists()
