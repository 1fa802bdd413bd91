# Cross-element translation: the distilled frames of the source element, scaled to the target's
# size, relabelled and labelled with the target's EAM, train the target's NNP, which is judged on
# the target's own MOMT pool (never used for training). The control trains on as many frames drawn
# at random from that pool.


wildcard_constraints:
    source=r"[A-Z][a-z]?(\+[A-Z][a-z]?)*",


rule translate_dataset:
    """Scale the source's distilled frames (cell and positions) to the target, relabel, label with EAM;
    with a complement ({source} = Ni+V) each source's frames at its own factor, in one set."""
    input:
        frames=translate_source_frames,
        source_crystals=translate_source_crystals,
        target_crystals=res("{element}/eam/crystals.csv"),
        native_pool=translate_native_pool,
    output:
        h5=res("{element}/translated/from_{source}.h5"),
    log:
        res("{element}/logs/translate_dataset_from_{source}.log"),
    benchmark:
        res("{element}/benchmarks/translate_dataset_from_{source}.tsv"),
    params:
        symbol=lambda wc: element_cfg(wc)["symbol"],
        potential=lambda wc: element_cfg(wc)["potential"],
        rule=lambda wc: translate_cfg(wc)["scale_rule"],
        multipliers=lambda wc: translate_cfg(wc)["scale_multipliers"],
        native_frames=lambda wc: translate_cfg(wc)["native_frames"],
        native_seed=lambda wc: seed_for("native", wc.element),
        native_weight=lambda wc: translate_cfg(wc)["native_weight"],
        crystal_strains=lambda wc: translate_cfg(wc)["crystal_strains"],
        crystal_weight=lambda wc: translate_cfg(wc)["crystal_weight"],
    threads: 1
    resources:
        runtime=30,
        mem_mb=2000,
    conda:
        "../../envs/nnpdistill.yaml"
    script:
        "../../scripts/translate_dataset.py"




rule summarize_transfer:
    """The transfer table: per target metal, the translated set's pool MAE beside the control's and its
    crystals against the target's EAM, with the issue-19 targets."""
    input:
        unpack(transfer_table_inputs),
    output:
        csv=report(res("transfer.csv"), caption="../report/transfer.rst", category="Translation"),
        md=res("transfer.md"),
    log:
        res("logs/summarize_transfer.log"),
    benchmark:
        res("benchmarks/summarize_transfer.tsv"),
    params:
        source="+".join(TRANSLATION_SOURCES),
        elements=lambda wc: transfer_elements(),
        pools=lambda wc: {el: ELEMENTS[el]["translate"]["eval_pool"] for el in transfer_elements()},
    threads: 1
    resources:
        runtime=10,
        mem_mb=1000,
    conda:
        "../../envs/nnpdistill.yaml"
    script:
        "../../scripts/summarize_transfer.py"
