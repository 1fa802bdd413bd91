"""EAM engine: LAMMPS-exact readers and splines, a batched torch evaluator and an ASE calculator."""

from .calculator import EAMCalculator
from .eam import EAM, EAMEvaluator, EAMResult, load_eam
from .eam_file import EAMFileData, read_eam_file
from .registry import DEFAULT_POTENTIALS, available_elements, potential_path

__all__ = [
    "EAM", "EAMCalculator", "EAMEvaluator", "EAMFileData", "EAMResult", "DEFAULT_POTENTIALS",
    "available_elements", "load_eam", "potential_path", "read_eam_file",
]
