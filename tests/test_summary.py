"""The campaign summary (rule write_summary, nnpdistill.summary): each table's numbers come from the
files it is given, errors are taken against the EAM, a wrong energy order is flagged, and the paper's
rows stand beside the Ni and Al tables."""

import pandas as pd

from nnpdistill.summary import campaign_sections, write_campaign_summary


def _crystals(path, fcc, bcc, hcp):
    rows = [("fcc", *fcc), ("bcc", *bcc), ("hcp_ideal", *hcp)]
    pd.DataFrame(rows, columns=["structure", "nn_distance_A", "energy_eV_per_atom"]).to_csv(path, index=False)
    return str(path)


def _metrics(path, n, mae, rmse):
    pd.DataFrame([{"subset": "all", "value": "", "n_frames": n, "mae_meV_per_atom": mae,
                   "rmse_meV_per_atom": rmse}]).to_csv(path, index=False)
    return str(path)


def test_sections_carry_the_files_numbers_errors_and_order(tmp_path):
    inputs = {
        "eam/Ni": _crystals(tmp_path / "ni.csv", (2.49, -4.876), (2.41, -4.833), (2.44, -4.847)),
        "eam/Al": _crystals(tmp_path / "al.csv", (2.86, -3.411), (2.80, -3.309), (2.82, -3.380)),
        "table2/distilled": _crystals(tmp_path / "d.csv", (2.50, -4.870), (2.42, -4.840), (2.45, -4.850)),
        # wrong order: BCC below FCC
        "table3/Al": _crystals(tmp_path / "t.csv", (2.87, -3.300), (2.81, -3.350), (2.83, -3.320)),
        "fig3/Al/translated": _metrics(tmp_path / "mt.csv", 2000, 3.14159, 4.5),
        "fig3/Al/control": _metrics(tmp_path / "mc.csv", 2000, 1.25, 1.9),
    }
    sections = campaign_sections(inputs, "Ni", translated_from="Ni+V")
    assert [s.splitlines()[0] for s in sections] == [
        "### Table 2: Ni, distilled data", "### Table 3: Al from translated Ni+V frames",
        "### Al: pool error (paper Figure 3)"]
    table2, table3, fig3 = sections
    assert "| NNP (distilled data), this work | 2.50/-4.870 (+0.01/+0.006)" in table2
    assert "fcc < hcp < bcc ✓" in table2 and "| NNP (Distilled Data), paper |" in table2
    assert "bcc < hcp < fcc ✗" in table3 and "| NNP (Translated Data), paper |" in table3
    assert "| translated from Ni+V | 2000 | 3.14 | 4.50 |" in fig3
    assert "| control: same number of Al's own frames | 2000 | 1.25 | 1.90 |" in fig3
    text = write_campaign_summary(inputs, tmp_path / "summary.md", "Ni", 7)
    assert (tmp_path / "summary.md").read_text() == text
    assert "Campaign seed 7." in text and "from translated Ni frames" in text


def test_the_command_line_writes_what_the_rule_writes(tmp_path, capsys):
    """`nnpdistill summary KEY=PATH ...` calls the rule's function: same bytes; a malformed pair or a
    missing file is named, and nothing is written."""
    from nnpdistill.cli import main

    inputs = {
        "eam/Ni": _crystals(tmp_path / "ni.csv", (2.49, -4.876), (2.41, -4.833), (2.44, -4.847)),
        "table2/distilled": _crystals(tmp_path / "d.csv", (2.50, -4.870), (2.42, -4.840), (2.45, -4.850)),
    }
    want = write_campaign_summary(inputs, tmp_path / "rule.md", "Ni", 2023)
    assert main(["summary", "--out", str(tmp_path / "cli.md"), *[f"{k}={v}" for k, v in inputs.items()]]) == 0
    assert (tmp_path / "cli.md").read_text() == want
    capsys.readouterr()
    for bad, why in ((["eam/Ni"], "not KEY=PATH"), ([f"eam/Ni={tmp_path / 'none.csv'}"], "not found")):
        assert main(["summary", "--out", str(tmp_path / "bad.md"), *bad]) == 2
        assert why in capsys.readouterr().err
    assert not (tmp_path / "bad.md").exists()
