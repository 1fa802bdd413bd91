"""Snakemake adapter for rule run_coexistence: the EAM's melting point from solid-liquid coexistence."""

import pandas as pd

from nnpdistill.md.coexistence import coexistence
from nnpdistill.md.plotting import plot_coexistence
from nnpdistill.runtime import setup_job

log = setup_job(snakemake.log[0], snakemake.threads)  # noqa: F821 - injected by Snakemake
p = snakemake.params  # noqa: F821
out = snakemake.output  # noqa: F821
summary = coexistence(p.symbol, out.json, p.cfg, p.potential, out_csv=out.csv, progress=False)
plot_coexistence(pd.read_csv(out.csv), summary, out.png)
log.info("coexistence: T_m = %s +- %s K (%s)", summary["t_melt_K"], summary["t_melt_err_K"],
         summary["reason"])
