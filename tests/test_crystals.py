"""EAM-relaxed crystals reproduce the independent (LAMMPS) reference of shared/potentials/README.md."""

import math

import pandas as pd
import pytest
from ase.build import bulk

from nnpdistill.crystals import (
    CRYSTAL_COLUMNS,
    N_ATOMS,
    build_crystal,
    c_over_a,
    fcc_lattice_from_reference,
    nearest_neighbour_distance,
    write_eam_crystals,
)
from nnpdistill.errors import NNPDistillError

# nearest-neighbour distance (Å), energy (eV/atom), computed with LAMMPS (see PROVENANCE.md)
REFERENCE = {
    "Ni": {
        "fcc": (2.486, -4.876),
        "bcc": (2.409, -4.833),
        "hcp": (2.479, -4.863),
        "hcp_ideal": (2.440, -4.847),
    },
    "Al": {
        "fcc": (2.860, -3.411),
        "bcc": (2.805, -3.309),
        "hcp": (2.845, -3.383),
        "hcp_ideal": (2.816, -3.380),
    },
    "Nb": {
        "fcc": (3.051, -7.159),
        "bcc": (2.860, -7.347),
        "hcp": (2.982, -7.204),
        "hcp_ideal": (2.936, -7.157),
    },
}
REFERENCE_C_OVER_A = {"Ni": 1.644, "Al": 1.668, "Nb": 1.558}


@pytest.fixture(scope="module", params=sorted(REFERENCE))
def table(request, tmp_path_factory):
    element = request.param
    out = tmp_path_factory.mktemp(element) / "crystals.csv"
    write_eam_crystals(element, str(out))
    return element, pd.read_csv(out)


def test_crystals_match_reference(table):
    element, df = table
    assert tuple(df.columns) == CRYSTAL_COLUMNS
    assert df["converged"].all()
    for _, row in df.iterrows():
        nn_ref, e_ref = REFERENCE[element][row["structure"]]
        # the reference is rounded to 1e-3 Å and 1e-3 eV: allow that rounding on top of the tolerance
        assert abs(row["nn_distance_A"] - nn_ref) <= 0.002 + 0.0005, (element, row["structure"])
        assert abs(row["energy_eV_per_atom"] - e_ref) <= 0.001 + 0.0005, (element, row["structure"])
        assert row["n_atoms"] == N_ATOMS[row["structure"]]
    hcp = df.set_index("structure").loc["hcp"]
    assert abs(hcp["c_over_a"] - REFERENCE_C_OVER_A[element]) < 0.002
    assert (
        abs(df.set_index("structure").loc["hcp_ideal", "c_over_a"] - math.sqrt(3)) < 1e-6
    )  # CSV keeps 6 decimals


def test_rank_orders_energies(table):
    _, df = table
    ordered = df.sort_values("energy_eV_per_atom")["rank"].tolist()
    assert ordered == sorted(ordered) and ordered[0] == 1


def test_builders_have_expected_geometry():
    for structure, n in N_ATOMS.items():
        atoms = build_crystal("Ni", structure, 3.52)
        assert len(atoms) == n
        assert atoms.get_volume() / n == pytest.approx(3.52**3 / 4, rel=1e-12)  # equal atomic volume
    assert nearest_neighbour_distance(build_crystal("Ni", "fcc", 3.52)) == pytest.approx(3.52 / math.sqrt(2))
    assert c_over_a(build_crystal("Ni", "hcp_ideal", 3.52)) == pytest.approx(math.sqrt(3))
    strained = build_crystal("Ni", "fcc", 3.52, strain=0.03)
    assert strained.get_volume() == pytest.approx(build_crystal("Ni", "fcc", 3.52).get_volume() * 1.03**3)


def test_reference_lattice_conversion_and_errors():
    assert fcc_lattice_from_reference("fcc", 3.52) == pytest.approx(3.52)
    assert fcc_lattice_from_reference("bcc", 3.3) ** 3 / 4 == pytest.approx(3.3**3 / 2)
    # hcp: ideal c/a, the FCC of the same nearest-neighbour distance and atomic volume
    a_fcc = fcc_lattice_from_reference("hcp", 3.2)
    assert a_fcc / math.sqrt(2) == pytest.approx(3.2)
    ideal = bulk("Mg", "hcp", a=3.2, c=3.2 * math.sqrt(8 / 3))
    assert a_fcc**3 / 4 == pytest.approx(ideal.get_volume() / len(ideal))
    with pytest.raises(NNPDistillError, match="cannot derive"):
        fcc_lattice_from_reference("hex", 2.5)
    with pytest.raises(NNPDistillError, match="unknown structure"):
        build_crystal("Ni", "diamond", 3.5)
