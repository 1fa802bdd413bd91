"""Snakemake adapter for rule summarize_transfer."""

from nnpdistill.runtime import setup_job
from nnpdistill.transfer import transfer_row, write_transfer_table

sm = snakemake  # noqa: F821 - injected by Snakemake
log = setup_job(sm.log[0], sm.threads)
rows = []
for el in sm.params.elements:
    files = {key.split("/", 1)[1]: str(path) for key, path in sm.input.items() if key.startswith(f"{el}/")}
    rows.append(transfer_row(el, pool=sm.params.pools[el], **files))
table = write_transfer_table(rows, sm.output.csv, sm.output.md, sm.params.source)
log.info("transfer table of %d metals -> %s", len(table), sm.output.csv)
