"""The bias's order-parameter grid on the phases' own range (momt.o_grid phase_lines, the q6 default): the
range the setup runs measure, and the bias flat in O beyond it with no Wang-Landau deposits there."""

import pytest
import torch

from nnpdistill.errors import ConfigError
from nnpdistill.md.momt import Bias2D, WangLandau
from nnpdistill.md.order import make_order
from nnpdistill.md.run import potential_from_eam
from nnpdistill.md.settings import MOMTParams, RunSettings, settings_from_config
from nnpdistill.md.setup import MDParams, estimate_phase_lines, initial_bias

torch.set_num_threads(1)


def test_o_grid_resolves_by_coordinate_and_keeps_old_fingerprints():
    box = RunSettings("momt")
    assert box.momt.o_grid == "auto" and box.momt.o_grid_kind() == "n_atoms"
    assert "o_grid" not in box.fingerprint()["momt"]  # the paper's runs keep their checkpoints and attrs
    q6 = settings_from_config({"momt": {"order": "q6_bonds"}}, "momt", 0)  # the seventh run's settings
    assert q6.momt.o_grid_kind() == "n_atoms" and "o_grid" not in q6.fingerprint()["momt"]
    new = settings_from_config({"momt": {"order": "q6_bonds", "o_grid": "phase_lines"}}, "momt", 0)
    assert new.momt.o_grid_kind() == "phase_lines" and new.fingerprint()["momt"]["o_grid"] == "phase_lines"
    with pytest.raises(ConfigError, match="momt.o_grid must be one of"):
        RunSettings("momt", momt=MOMTParams(o_grid="wide")).validate()


def test_walkers_past_the_order_range_deposit_nothing_and_feel_no_order_force():
    # on the phases' own O range a walker past an edge is a thermal fluctuation of a crystal colder than
    # T_min or a liquid hotter than T_max: the bias is flat in O there, and a deposit on the edge would not
    # push it back (32-atom Ni: such deposits stacked a 31 k_B T0 wall whose few frames carried all weight)
    wl = WangLandau(Bias2D((0.0, 9.0), (0.0, 10.0), 10, 11), 1000.0, ln_f_initial=0.5)
    H = torch.tensor([4.0, 4.0])
    wl.update(H, torch.tensor([13.0, -2.0]))
    assert float(wl.bias.coef.abs().sum()) == 0 and wl.n_deposits == 0 and float(wl.hist.sum()) == 0
    wl.update(H, torch.tensor([9.5, 0.5]))  # inside: deposits
    assert wl.n_deposits == 2 and float(wl.bias.coef.abs().sum()) > 0
    past, edge = torch.tensor([13.0, -2.0]), torch.tensor([10.0, 0.0])
    val_past, _, d_o_past = wl.bias(H, past)
    assert torch.allclose(val_past, wl.bias(H, edge)[0], atol=1e-12) and torch.equal(d_o_past, torch.zeros(2))


def test_phase_lines_grid_spans_the_liquid_at_t_max_to_the_crystal_at_t_min():
    pot = potential_from_eam("Ni")
    n = 32
    order = make_order("q6_bonds", n, pot.lattice_A)
    lines = estimate_phase_lines(pot.factory(), n, pot.lattice_A, pot.mass_amu,
                                 MDParams(timestep_fs=2.0, barostat_tau_fs=500.0), 2000.0, 1600.0, 2600.0,
                                 torch.Generator().manual_seed(3), n_steps=1000, order=order)
    lo, hi = lines.o_range()
    assert lines.o_solid_cold_std > 0 and lines.o_liquid_hot_std > 0
    assert (lo, hi) == pytest.approx((lines.o_liquid_hot - 3 * lines.o_liquid_hot_std,
                                      lines.o_solid_cold + 3 * lines.o_solid_cold_std), abs=1e-12)
    assert lines.o_range(0.0) == (lines.o_liquid_hot, lines.o_solid_cold)
    # q6: a hot liquid near 0.25 N, a crystal at T_min near 0.9 N, so the grid is well inside [-5, N + 5]
    assert 0.0 < lo < 0.45 * n and 0.8 * n < hi < n + 2 and hi - lo > 0.5 * n
    bias = initial_bias(lines, n, 2000.0, 1600.0, 2600.0, 12, 12, o_range=lines.o_range())
    assert (bias.o_lo, bias.o_hi) == (lo, hi)
    assert (initial_bias(lines, n, 2000.0, 1600.0, 2600.0, 12, 12).o_lo,
            initial_bias(lines, n, 2000.0, 1600.0, 2600.0, 12, 12).o_hi) == (-5.0, n + 5.0)
    old = type(lines)(**{**lines.__dict__, "o_solid_cold": None})
    with pytest.raises(ConfigError, match="no O at T_min"):
        old.o_range()
