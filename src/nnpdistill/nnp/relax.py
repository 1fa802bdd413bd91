"""Relax FCC (32), BCC (54), HCP (48, c/a free) and HCP with c/a = √3 with the NNP and compare with EAM.

Uses :mod:`nnpdistill.crystals` (builders and ASE relaxation with any calculator). Starts: the EAM
FCC lattice constant (from ``results/{element}/eam/crystals.csv``: a = √2 · fcc nn distance) and the
same start strained by ±3 %. Output: a CSV (one row per start and structure with errors and whether
the energy rank matches EAM) and a Markdown table laid out like the paper's Tables 1-3.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence

import pandas as pd

from ..crystals import STRUCTURES, crystal_table
from ..errors import DatasetError
from ..io_utils import atomic_path

REFERENCE_COLUMNS = (
    "structure", "n_atoms", "nn_distance_A", "energy_eV_per_atom", "volume_A3_per_atom", "rank"
)


def read_reference(path: str | os.PathLike) -> pd.DataFrame:
    """Read ``crystals.csv`` of the EAM reference; check the columns and structures."""
    try:
        ref = pd.read_csv(path)
    except FileNotFoundError as exc:
        raise DatasetError(f"reference crystal table {path} does not exist") from exc
    missing = [c for c in REFERENCE_COLUMNS if c not in ref]
    if missing:
        raise DatasetError(f"reference crystal table {path} lacks columns {missing}")
    if "fcc" not in set(ref["structure"]):
        raise DatasetError(f"reference crystal table {path} has no fcc row")
    return ref


def fcc_lattice_from_table(ref: pd.DataFrame) -> float:
    nn = float(ref.loc[ref["structure"] == "fcc", "nn_distance_A"].iloc[0])
    return math.sqrt(2.0) * nn


def relax_with_nnp(
    element: str,
    calculator_factory: Callable,
    reference: pd.DataFrame,
    *,
    strains: Sequence[float] = (0.0, -0.03, 0.03),
    structures: Sequence[str] = STRUCTURES,
    fmax_eV_per_A: float = 1e-3,
) -> pd.DataFrame:
    """One row per (start strain, structure): NNP results, EAM reference, errors, rank check."""
    a_fcc = fcc_lattice_from_table(reference)
    ref = reference.set_index("structure")
    tables = []
    for strain in strains:
        t = crystal_table(element, calculator_factory, a_fcc, structures=structures, strain=strain,
                          fmax_eV_per_A=fmax_eV_per_A)
        t.insert(0, "start_strain", strain)
        tables.append(t)
    out = pd.concat(tables, ignore_index=True)
    out["ref_nn_distance_A"] = [ref.loc[s, "nn_distance_A"] if s in ref.index else math.nan
                                for s in out["structure"]]
    out["ref_energy_eV_per_atom"] = [ref.loc[s, "energy_eV_per_atom"] if s in ref.index else math.nan
                                     for s in out["structure"]]
    out["ref_rank"] = [ref.loc[s, "rank"] if s in ref.index else -1 for s in out["structure"]]
    out["nn_distance_error_A"] = out["nn_distance_A"] - out["ref_nn_distance_A"]
    out["energy_error_eV_per_atom"] = out["energy_eV_per_atom"] - out["ref_energy_eV_per_atom"]
    # rank among the structures present in both tables, per start
    rank_ok = {}
    for strain, sub in out.groupby("start_strain"):
        common = sub[sub["structure"].isin(ref.index)]
        nnp_order = list(common.sort_values("energy_eV_per_atom")["structure"])
        ref_order = list(ref.loc[common["structure"]].sort_values("energy_eV_per_atom").index)
        rank_ok[strain] = nnp_order == ref_order
    out["rank_correct"] = out["start_strain"].map(rank_ok)
    return out


def markdown_table(results: pd.DataFrame, reference: pd.DataFrame, element: str,
                   structures: Sequence[str] = STRUCTURES, reference_name: str = "EAM") -> str:
    """Paper-style table: columns per structure, rows Reference (EAM), NNP per start, (errors)."""
    ref = reference.set_index("structure")
    structures = [s for s in structures if s in set(results["structure"])]

    def head(s: str) -> str:
        n = int(results.loc[results["structure"] == s, "n_atoms"].iloc[0])
        label = {"fcc": "FCC", "bcc": "BCC", "hcp": "HCP", "hcp_ideal": "HCP c/a=√3"}.get(s, s)
        return f"{element}-{label} ({n})"

    lines = ["| Structure (# atoms) | " + " | ".join(head(s) for s in structures) + " |",
             "|---|" + "---|" * len(structures),
             "| | " + " | ".join("l_b (Å) / E_tot/atom (eV)" for _ in structures) + " |"]
    lines.append(f"| Reference ({reference_name}) | " + " | ".join(
        f"{ref.loc[s, 'nn_distance_A']:.2f}/{ref.loc[s, 'energy_eV_per_atom']:.3f}" if s in ref.index else "–"
        for s in structures) + " |")
    for strain, sub in results.groupby("start_strain", sort=False):
        sub = sub.set_index("structure")
        ok = bool(sub["rank_correct"].iloc[0])
        name = "NNP (EAM lattice start)" if strain == 0 else f"NNP ({100 * strain:+.0f} % start)"
        lines.append(f"| {name}{'' if ok else ' ✗rank'} | " + " | ".join(
            f"{sub.loc[s, 'nn_distance_A']:.2f}/{sub.loc[s, 'energy_eV_per_atom']:.3f} "
            f"(rank {sub.loc[s, 'rank']})"
            for s in structures) + " |")
        lines.append("| (errors) | " + " | ".join(
            f"({sub.loc[s, 'nn_distance_error_A']:+.2f}/{sub.loc[s, 'energy_error_eV_per_atom']:+.3f})"
            for s in structures) + " |")
    lines.append("")
    lines.append(f"l_b: nearest-neighbour distance. Errors: NNP − {reference_name}. ✗rank: the NNP's energy "
                 f"order of the structures differs from {reference_name}'s.")
    return "\n".join(lines) + "\n"


def write_relax_outputs(results: pd.DataFrame, markdown: str, csv_path, md_path) -> None:
    with atomic_path(csv_path) as tmp:
        results.to_csv(tmp, index=False, float_format="%.6f")
    with atomic_path(md_path) as tmp:
        tmp.write_text(markdown)
