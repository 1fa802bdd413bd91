"""Snakemake adapter for rule compute_reference_crystals: the crystal table of the element's reference."""

from nnpdistill.crystals import write_reference_crystals
from nnpdistill.reference import make_reference
from nnpdistill.runtime import setup_job

sm = snakemake  # noqa: F821 - injected by Snakemake
setup_job(sm.log[0], sm.threads)
cfg = dict(sm.params.crystals)
write_reference_crystals(
    make_reference(sm.params.symbol, dict(sm.params.reference), potential=sm.params.potential),
    sm.input.start,
    sm.output.csv,
    n_points=int(cfg["eos_points"]),
    strain=float(cfg["eos_strain"]),
    hcp_c_over_a_points=int(cfg["hcp_c_over_a_points"]),
)
