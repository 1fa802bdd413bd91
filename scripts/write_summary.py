"""Snakemake adapter for rule write_summary (keys of the inputs: nnpdistill.summary.campaign_sections)."""

from nnpdistill.runtime import setup_job
from nnpdistill.summary import write_campaign_summary

sm = snakemake  # noqa: F821 - injected by Snakemake
log = setup_job(sm.log[0], sm.threads)
write_campaign_summary(dict(sm.input.items()), sm.output.md, sm.params.source, sm.params.seed,
                       translated_from=sm.params.translated_from)
log.info("summary -> %s", sm.output.md)
