"""Snakemake adapter for rule reweight_momt: canonical ⟨H⟩(T), C_P(T), P_solid(T) and T_melt."""

import json

import numpy as np

from nnpdistill.io_utils import atomic_path
from nnpdistill.md.plotting import plot_reweight
from nnpdistill.md.reweight import reweight_store
from nnpdistill.runtime import setup_job

log = setup_job(snakemake.log[0], snakemake.threads)  # noqa: F821 - injected by Snakemake
cfg = snakemake.params.cfg  # noqa: F821
temps = np.linspace(cfg["t_min_K"], cfg["t_max_K"], int(cfg["n_temperatures"]))
table, tm = reweight_store(snakemake.input.h5, temps, cfg["skip_fraction"], cfg["o_solid_fraction"])  # noqa: F821
with atomic_path(snakemake.output.csv) as tmp:  # noqa: F821
    table.to_csv(tmp, index=False)
with atomic_path(snakemake.output.json) as tmp:  # noqa: F821
    tmp.write_text(json.dumps(tm, indent=2))
plot_reweight(table, snakemake.output.png, tm)  # noqa: F821
log.info("melting temperature estimate: %s", tm)
