# nnp-distill: MOMT sampling with EAM -> ANI ensembles -> active-learning distillation -> translation.
# Run locally:   snakemake --cores all            (or --profile profiles/local)
# On SLURM:      snakemake --profile profiles/slurm
# Smallest run:  snakemake --cores 2 --configfile config/smoke.yaml
from snakemake.utils import min_version

min_version("9.0")


# Anchored to this folder so `snakemake -d WORKDIR` works; --configfile files merge on top.
configfile: f"{workflow.basedir}/config/config.yaml"


include: "workflow/rules/common.smk"


wildcard_constraints:
    element="|".join(ELEMENTS),


include: "workflow/rules/eam.smk"
include: "workflow/rules/sample.smk"
include: "workflow/rules/nnp.smk"
include: "workflow/rules/distill.smk"
include: "workflow/rules/translate.smk"
include: "workflow/rules/label.smk"
include: "workflow/rules/report.smk"


report: "workflow/report/workflow.rst"


rule all:
    input:
        all_targets(),
        res("summary.md"),
    default_target: True


# Resource requests below the configured minimums (e.g. from --set-resources) stop the run here,
# before anything is submitted, with the rule named.
check_resources()
