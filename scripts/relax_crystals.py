"""Snakemake adapter for rule relax_crystals."""

from nnpdistill.nnp.calculator import NNPCalculator
from nnpdistill.nnp.predict import load_ensemble
from nnpdistill.nnp.relax import markdown_table, read_reference, relax_with_nnp, write_relax_outputs
from nnpdistill.runtime import setup_job

sm = snakemake  # noqa: F821 - injected by Snakemake
setup_job(sm.log[0], sm.threads)
model = load_ensemble(list(sm.input.members))
reference = read_reference(sm.input.reference)
element = model.settings.element
results = relax_with_nnp(element, lambda: NNPCalculator(model), reference, strains=sm.params.strains,
                         fmax_eV_per_A=sm.params.fmax_eV_per_A)
markdown = markdown_table(results, reference, element, reference_name=sm.params.reference_name)
write_relax_outputs(results, markdown, sm.output.csv, sm.output.markdown)
