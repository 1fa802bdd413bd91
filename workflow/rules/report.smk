# The campaign report: results/summary.md sets this campaign's numbers beside the paper's.
# `snakemake --report report.html` adds every figure with its caption (see workflow/report/).


rule write_summary:
    """results/summary.md: Tables 1-3 and the Figure 2/3 errors beside the paper's."""
    input:
        unpack(summary_inputs),
    output:
        md=report(res("summary.md"), caption="../report/workflow.rst", category="Summary"),
    log:
        res("logs/write_summary.log"),
    benchmark:
        res("benchmarks/write_summary.tsv"),
    params:
        source=SOURCE_ELEMENT,
        translated_from="+".join(TRANSLATION_SOURCES),
        seed=config["seed"],
    threads: 1
    resources:
        runtime=10,
        mem_mb=1000,
    conda:
        "../../envs/nnpdistill.yaml"
    script:
        "../../scripts/write_summary.py"
