"""nnp-distill: solid-and-liquid training sets for neural-network potentials.

Sample a metal with EAM by extended-ensemble MD (MOMT), train ANI ensembles, distil the pool by
active learning on atomic uncertainty, and translate the distilled frames to other metals.
Snakemake-free: every stage is callable from Python and from the ``nnpdistill`` CLI.
"""

__version__ = "0.1.0"
