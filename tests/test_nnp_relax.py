"""Relaxation with an NNP through the CLI: tables written, errors vs the reference, rank check."""

import sys
from pathlib import Path

import pandas as pd

from nnpdistill.cli import main
from nnpdistill.crystals import crystal_table
from nnpdistill.nnp.builder import NNPSettings
from nnpdistill.nnp.train import TrainSettings, train_member
from nnpdistill.potentials import EAMCalculator

sys.path.insert(0, str(Path(__file__).parent))
from test_nnp_train import make_frames  # noqa: E402


def test_relax_cli_writes_paper_style_tables(tmp_path):
    ref = crystal_table("Ni", lambda: EAMCalculator("Ni"), 3.52, structures=("fcc", "bcc"),
                        fmax_eV_per_A=1e-3)
    ref.to_csv(tmp_path / "crystals.csv", index=False)
    data = make_frames(60, 0, amp=(0.02, 0.08))
    ts = TrainSettings(train_fraction=0.5, max_epochs=60, batch_frames=8, lr=3e-3, progress_every=0)
    train_member(data, NNPSettings(element="Ni", hidden_layers=(32, 24)), ts, seed=0, out_dir=tmp_path / "m0")
    rc = main(["relax", "--members", str(tmp_path / "m0" / "model.pt"),
               "--reference", str(tmp_path / "crystals.csv"),
               "--csv", str(tmp_path / "nnp.csv"), "--markdown", str(tmp_path / "nnp.md"),
               "--strains", "0.0"])
    assert rc == 0
    out = pd.read_csv(tmp_path / "nnp.csv")
    fcc = out[out["structure"] == "fcc"].iloc[0]
    # trained on FCC around the EAM lattice: the relaxed FCC nn distance is close to EAM's
    assert abs(fcc["nn_distance_error_A"]) < 0.05
    assert abs(fcc["energy_error_eV_per_atom"]) < 0.03
    assert {"rank_correct", "ref_rank", "start_strain"} <= set(out.columns)
    md = (tmp_path / "nnp.md").read_text()
    assert "Reference (EAM)" in md and "Ni-FCC (32)" in md
