"""Snakemake adapter for rule reweight_momt: ⟨H⟩(T), C_P(T), P_solid(T), ΔG(T) and T_melt with errors."""

from nnpdistill.md.reweight import reweight_run
from nnpdistill.runtime import setup_job

log = setup_job(snakemake.log[0], snakemake.threads)  # noqa: F821 - injected by Snakemake
out = snakemake.output  # noqa: F821
summary = reweight_run(snakemake.input.h5, out.csv, out.json, out.png, out.free_energy, out.flatness,  # noqa: F821
                       snakemake.params.cfg)  # noqa: F821
log.info("melting temperature estimate: %s", {k: v for k, v in summary.items() if k.startswith("t_melt")})
