rule compute_eam_crystals:
    """Relax FCC (32), BCC (54), HCP (48; c/a relaxed and fixed at sqrt(3)) with the element's EAM:
    the "Reference (EAM)" row of the paper's Tables 1-3."""
    output:
        csv=report(
            res("{element}/eam/crystals.csv"),
            caption="../report/eam_crystals.rst",
            category="EAM reference",
            labels={"element": "{element}"},
        ),
    log:
        res("{element}/logs/compute_eam_crystals.log"),
    benchmark:
        res("{element}/benchmarks/compute_eam_crystals.tsv"),
    params:
        symbol=lambda wc: element_cfg(wc)["symbol"],
        potential=lambda wc: element_cfg(wc)["potential"],
        fmax_eV_per_A=lambda wc: element_cfg(wc)["crystals"]["fmax_eV_per_A"],
    threads: 1
    conda:
        "../../envs/nnpdistill.yaml"
    resources:
        runtime=15,
        mem_mb=1000,
    script:
        "../../scripts/compute_eam_crystals.py"
