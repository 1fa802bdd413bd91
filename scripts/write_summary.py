"""Snakemake adapter for rule write_summary."""

from nnpdistill import summary
from nnpdistill.runtime import setup_job

sm = snakemake  # noqa: F821 - injected by Snakemake
log = setup_job(sm.log[0], sm.threads)
inp = {k: str(v) for k, v in sm.input.items()}
src = sm.params.source
sections = []
labels = {"npt_fcc": "FCC Data", "npt_liq": "LIQ Data", "momt": "MOMT Data"}
table1 = {labels[k.split("/")[1]]: v for k, v in inp.items() if k.startswith("table1/")}
if table1:
    sections.append(
        summary.crystal_section(
            f"Table 1: {src}, NNPs from conventional and MOMT data",
            inp[f"eam/{src}"],
            table1,
            "Table 1 (Ni, 2,000 frames of 108 atoms)" if src == "Ni" else None,
        )
    )
    sections.append(
        summary.metrics_section(
            "Table 1 datasets judged on the whole MOMT pool (paper Figure S2)",
            {labels[k.split("/")[1]]: v for k, v in inp.items() if k.startswith("table1_mae/")},
        )
    )
table2 = {
    {"distilled": "NNP (distilled data)", "whole": "NNP (whole pool)"}[k.split("/")[1]]: v
    for k, v in inp.items()
    if k.startswith("table2/")
}
if table2:
    sections.append(
        summary.crystal_section(
            f"Table 2: {src}, distilled data",
            inp[f"eam/{src}"],
            table2,
            "Table 2 (Ni, distilled)" if src == "Ni" else None,
        )
    )
if "curve" in inp:
    sections.append(summary.curve_section(inp["curve"]))
for key, path in inp.items():
    if key.startswith("table3/"):
        el = key.split("/")[1]
        sections.append(
            summary.crystal_section(
                f"Table 3: {el} from translated {src} frames",
                inp[f"eam/{el}"],
                {"NNP (translated data)": path},
                "Table 3 (Al, translated)" if el == "Al" else None,
            )
        )
        sections.append(
            summary.metrics_section(
                f"{el}: pool error (paper Figure 3)",
                {
                    "translated from " + src: inp[f"fig3/{el}/translated"],
                    f"control: same number of {el}'s own frames": inp[f"fig3/{el}/control"],
                },
            )
        )
summary.write_summary(sm.output.md, sections, config_note=f"Campaign seed {sm.params.seed}.")
log.info("summary with %d sections", len(sections))
