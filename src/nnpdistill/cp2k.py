"""CP2K, the shipped DFT reference: its settings (every default in one place, units in the names), the
input block they become, the data-file checks, and how cp2k_shell is started (inside SLURM job steps,
with work folders too deep for CP2K's 80-character strings). :mod:`nnpdistill.reference` uses it."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError

RY_EV = 13.605693122994  # one Rydberg in eV (CODATA 2018, as ASE's units)

CP2K_INSTALL_HINT = (
    "install CP2K (Debian/Ubuntu: `apt-get install cp2k`, which brings cp2k_shell and the data files "
    "in /usr/share/cp2k), or point `reference.parameters.command` at your cluster's build "
    '(e.g. "module load cp2k && cp2k_shell.psmp") and `data_dir` at its data folder'
)

# Initial magnetic moments (Bohr magnetons per atom) for the metals that are magnetic in their
# ground state; spin polarisation is switched on for these unless the config says otherwise.
MAGNETIC_MOMENTS_MUB: dict[str, float] = {"Fe": 2.2, "Co": 1.6, "Ni": 0.6, "Mn": 2.0, "Cr": 1.0}


_NUMBER_FIELDS = ("cutoff_Ry", "rel_cutoff_Ry", "smearing_K", "eps_scf", "eps_default", "mixing_alpha")


@dataclass(frozen=True)
class CP2KSettings:
    """The CP2K preset for metals. Energies in eV, cutoffs in Rydberg, temperatures in K.

    Defaults are production-like (DZVP basis, 400 Ry, 1000 K smearing). What a 2-core machine can
    afford is set per campaign (``config/campaign-dft-al.yaml`` uses SZV at the Gamma point).
    """

    command: str = "cp2k_shell"  # the cp2k_shell executable (or "mpirun -np 4 cp2k_shell.psmp")
    omp_threads: int = 1  # OMP_NUM_THREADS of the CP2K process
    data_dir: str | None = (
        None  # folder of GTH_POTENTIALS / BASIS_MOLOPT (None: $CP2K_DATA_DIR or /usr/share/cp2k)
    )
    xc: str = "PBE"
    pseudo_potential: str = "GTH-PBE"  # CP2K picks the valence (q) from the element's entry
    potential_file: str = "GTH_POTENTIALS"
    basis_set: str = "DZVP-MOLOPT-SR-GTH"
    basis_set_file: str = "BASIS_MOLOPT"
    cutoff_Ry: float = 400.0  # finest plane-wave grid
    rel_cutoff_Ry: float = 50.0  # Gaussian-to-grid mapping
    kpoints: tuple[int, int, int] | None = None  # Monkhorst-Pack mesh; None: Gamma point only
    smearing_K: float = 1000.0  # Fermi-Dirac electronic temperature
    added_mos: int | None = None  # empty orbitals per spin for the smearing (None: 30)
    eps_scf: float = 1.0e-6  # SCF convergence (Hartree, CP2K's unit)
    eps_default: float = 1.0e-10  # CP2K's neglect threshold of small Gaussian products (&QS EPS_DEFAULT)
    max_scf: int = 100
    mixing_alpha: float = 0.2  # Broyden mixing
    spin_polarised: bool | None = None  # None: on for Fe, Co, Ni, Mn, Cr
    initial_magmom_muB: float | None = None  # None: MAGNETIC_MOMENTS_MUB of the element
    stress: bool = True  # analytical stress tensor

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> CP2KSettings:
        data = dict(data or {})
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(
                f"reference.parameters: unknown CP2K setting(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(names))}"
            )
        if data.get("kpoints") is not None:
            kp = data["kpoints"]
            if len(kp) != 3 or any(int(k) < 1 for k in kp):
                raise ConfigError(f"reference.parameters.kpoints must be three positive integers, got {kp!r}")
            data["kpoints"] = tuple(int(k) for k in kp)
        for name in _NUMBER_FIELDS:
            if isinstance(data.get(name), str):  # YAML reads 1e-5 (no dot) as a string
                try:
                    data[name] = float(data[name])
                except ValueError:
                    raise ConfigError(
                        f"reference.parameters.{name} must be a number, got {data[name]!r}"
                    ) from None
        settings = cls(**data)
        for name in ("cutoff_Ry", "rel_cutoff_Ry", "smearing_K", "eps_scf", "eps_default"):
            if not getattr(settings, name) > 0:
                raise ConfigError(
                    f"reference.parameters.{name} must be positive, got {getattr(settings, name)}"
                )
        if settings.max_scf < 1:
            raise ConfigError(f"reference.parameters.max_scf must be >= 1, got {settings.max_scf}")
        return settings

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["kpoints"] = None if self.kpoints is None else list(self.kpoints)
        return out

    def resolved_data_dir(self) -> Path:
        return Path(self.data_dir or os.environ.get("CP2K_DATA_DIR") or "/usr/share/cp2k")

    def is_spin_polarised(self, symbol: str) -> bool:
        return symbol in MAGNETIC_MOMENTS_MUB if self.spin_polarised is None else bool(self.spin_polarised)

    def magmom(self, symbol: str) -> float:
        if self.initial_magmom_muB is not None:
            return float(self.initial_magmom_muB)
        return MAGNETIC_MOMENTS_MUB.get(symbol, 0.0)


def _parse_data_entries(path: Path) -> set[tuple[str, str]]:
    """(element, name) pairs of a CP2K basis or potential file (every alias of each entry).

    An entry's header line starts with the element symbol followed by its names; data lines start with
    numbers and comments with ``#``.
    """
    entries = set()
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            parts = line.split()
            if len(parts) >= 2 and parts[0].isalpha() and len(parts[0]) <= 2 and parts[0][0].isupper():
                entries.update((parts[0], name) for name in parts[1:])
    return entries


def _cp2k_entry_names(entries: set[tuple[str, str]], symbol: str, name: str) -> list[str]:
    """Names of ``symbol``'s entries that are ``name`` or ``name-qN`` (CP2K's valence suffix)."""
    return sorted(n for el, n in entries if el == symbol and (n == name or n.startswith(name + "-q")))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def cp2k_input_block(settings: CP2KSettings, symbol: str) -> str:
    """The ``&FORCE_EVAL`` text ASE merges into its generated input: what ASE's own keywords lack
    (smearing, mixing, k-points, grids, spin). Each setting appears once (ASE raises on duplicates)."""
    added = settings.added_mos if settings.added_mos is not None else 30
    lines = [
        "&FORCE_EVAL",
        "&DFT",
        f"  BASIS_SET_FILE_NAME {settings.basis_set_file}",
        f"  POTENTIAL_FILE_NAME {settings.potential_file}",
    ]
    if settings.is_spin_polarised(symbol):
        lines.append("  UKS .TRUE.")
    lines += ["  &QS", f"    EPS_DEFAULT {settings.eps_default:g}", "  &END QS"]
    lines += [
        "  &MGRID",
        f"    REL_CUTOFF [Ry] {settings.rel_cutoff_Ry:g}",
        "  &END MGRID",
        "  &SCF",
        f"    EPS_SCF {settings.eps_scf:g}",
        f"    ADDED_MOS {added}",
        "    &SMEAR ON",
        "      METHOD FERMI_DIRAC",
        f"      ELECTRONIC_TEMPERATURE [K] {settings.smearing_K:g}",
        "    &END SMEAR",
        "    &MIXING",
        "      METHOD BROYDEN_MIXING",
        f"      ALPHA {settings.mixing_alpha:g}",
        "    &END MIXING",
        "  &END SCF",
    ]
    if settings.kpoints is not None:
        k = settings.kpoints
        lines += ["  &KPOINTS", f"    SCHEME MONKHORST-PACK {k[0]} {k[1]} {k[2]}", "  &END KPOINTS"]
    lines += ["&END DFT", "&END FORCE_EVAL", ""]
    return "\n".join(lines)


def _singleton_env(command: str) -> str:
    """``env`` options that hide a SLURM job step from a CP2K started without a launcher.

    Debian's cp2k_shell is an Open MPI program started as a singleton; inside a SLURM job step it sees
    SLURM_STEP_ID/SLURM_PROCID, believes it was direct-launched by srun and aborts in MPI_Init ("OMPI
    was not built with SLURM's PMI support"). A command with its own launcher (mpirun, mpiexec, srun)
    keeps the environment: that launcher needs it.
    """
    return "".join(f"-u {k} " for k in _slurm_step_vars(command))


def _slurm_step_vars(command: str) -> list[str]:
    """The environment variables :func:`_singleton_env` hides (none for a command with a launcher)."""
    if any(word in ("mpirun", "mpiexec", "srun") for word in command.split()):
        return []
    return sorted(k for k in os.environ if k.startswith(("SLURM_", "PMI_", "PMIX_", "OMPI_")))


# CP2K reads at most 80 characters per input string: the project name (ASE's label) and the file
# names derived from it ("<label>-RESTART.kp") must stay shorter than that.
CP2K_MAX_LABEL = 60


def _short_label(workdir: Path) -> str:
    """``workdir/cp2k``, or the same folder through a short symbolic link in the temporary directory
    when the path is too long for CP2K (results deep in a project tree on a cluster)."""
    import tempfile

    label = str(workdir / "cp2k")
    if len(label) <= CP2K_MAX_LABEL:
        return label
    target = workdir.resolve()
    link = Path(tempfile.gettempdir()) / f"nnpd-cp2k-{hashlib.sha256(str(target).encode()).hexdigest()[:12]}"
    if link.is_symlink() and Path(os.readlink(link)) != target:
        link.unlink()
    if not link.is_symlink():
        try:
            link.symlink_to(target, target_is_directory=True)
        except FileExistsError:  # made by a parallel job meanwhile
            pass
    label = str(link / "cp2k")
    if len(label) > CP2K_MAX_LABEL:
        raise ConfigError(f"CP2K's work folder path {label!r} is too long for CP2K "
                          f"({CP2K_MAX_LABEL} characters): set TMPDIR to a shorter folder")
    return label


def _package_version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def cp2k_version(command: str = "cp2k_shell") -> str | None:
    """CP2K's version line (e.g. "CP2K version 2023.1"), or None when it cannot be asked."""
    import subprocess

    exe = command.split()[-1]
    for candidate in (exe.replace("cp2k_shell", "cp2k"), exe):
        path = shutil.which(candidate)
        if not path:
            continue
        try:
            hidden = set(_slurm_step_vars(command))  # else it aborts inside a SLURM job step (None)
            env = {k: v for k, v in os.environ.items() if k not in hidden}
            out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=60,
                                 env=env).stdout
        except (OSError, subprocess.SubprocessError):
            continue
        for line in out.splitlines():
            if "CP2K version" in line:
                return line.strip()
    return None
