"""Reference methods (labellers): the method whose energies, forces and stress an NNP learns.

One place for every reference's defaults, as ASE keeps its calculators' defaults in one place. An
element's config names its reference (``reference:`` in ``config/elements/<symbol>.yaml``):

- ``eam`` (default): the project's batched EAM engine with the element's ``potential``;
- ``cp2k``: a curated DFT preset for metals run through ASE's CP2K calculator (``cp2k_shell``):
  PBE, GTH pseudopotentials and MOLOPT basis sets from CP2K's data files, Fermi-Dirac smearing,
  Gamma point or a Monkhorst-Pack mesh, plane-wave cutoffs, SCF limits, and spin polarisation with
  initial moments for the magnetic 3d metals. Every field of :class:`CP2KSettings` has a default and
  a unit in its name, and ``parameters:`` overrides any of them;
- ``ase``: any ASE calculator named by import path (``calculator: "ase.calculators.emt:EMT"``) and
  keyword arguments (``parameters: {...}``): VASP, Quantum ESPRESSO, GPAW... on a cluster with no
  code change.

:func:`make_reference` turns such a mapping into a :class:`Reference`; :meth:`Reference.check`
verifies, before any job runs, that it can work (the module imports, the CP2K binary is on the
PATH, the element has a pseudopotential and a basis set in the data files) and names the problem
otherwise; :meth:`Reference.provenance` is what a labelled store records: code, version, the full
settings, and the sha256 of the pseudopotential and basis files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError

REFERENCE_KINDS: tuple[str, ...] = ("eam", "cp2k", "ase")
RY_EV = 13.605693122994  # one Rydberg in eV (CODATA 2018, as ASE's units)

CP2K_INSTALL_HINT = (
    "install CP2K (Debian/Ubuntu: `apt-get install cp2k`, which brings cp2k_shell and the data files "
    "in /usr/share/cp2k), or point `reference.parameters.command` at your cluster's build "
    '(e.g. "module load cp2k && cp2k_shell.psmp") and `data_dir` at its data folder'
)

# Initial magnetic moments (Bohr magnetons per atom) for the metals that are magnetic in their
# ground state; spin polarisation is switched on for these unless the config says otherwise.
MAGNETIC_MOMENTS_MUB: dict[str, float] = {"Fe": 2.2, "Co": 1.6, "Ni": 0.6, "Mn": 2.0, "Cr": 1.0}


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


@dataclass
class Reference:
    """A configured reference method for one element. Build with :func:`make_reference`."""

    kind: str
    symbol: str
    potential: str | None = None  # eam: the potential file (None: the shipped default)
    calculator: str | None = None  # ase: "module.path:ClassName"
    parameters: dict[str, Any] = field(default_factory=dict)
    cp2k: CP2KSettings | None = None
    _cp2k_checked: bool = field(default=False, repr=False, compare=False)

    # ---- checks before any job runs ----
    def check(self) -> None:
        """Raise ConfigError naming the problem when this reference cannot label a frame here."""
        if self.kind == "eam":
            from .potentials import load_eam

            try:
                load_eam(self.symbol, path=self.potential)
            except Exception as exc:  # noqa: BLE001 - any load problem is a configuration problem
                raise ConfigError(f"reference eam for {self.symbol}: {exc}") from exc
        elif self.kind == "ase":
            self._calculator_class()
        elif self.kind == "cp2k":
            self._check_cp2k()

    def _calculator_class(self):
        path = self.calculator or ""
        module_name, _, attr = path.partition(":")
        if not module_name or not attr:
            raise ConfigError(f"reference.calculator must be 'module.path:ClassName', got {path!r}")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ConfigError(
                f"reference.calculator {path!r}: cannot import {module_name!r} ({exc})"
            ) from exc
        try:
            return getattr(module, attr)
        except AttributeError as exc:
            raise ConfigError(
                f"reference.calculator {path!r}: module {module_name!r} has no {attr!r}"
            ) from exc

    def _cp2k_binary(self) -> str:
        assert self.cp2k is not None
        words = self.cp2k.command.split()
        # the executable is the last word that is not an option or an assignment (env, mpirun -np 4 ...)
        exe = next(
            (w for w in reversed(words) if not w.startswith("-") and "=" not in w and not w.isdigit()), ""
        )
        if not exe or shutil.which(exe) is None:
            raise ConfigError(
                f"reference cp2k for {self.symbol}: CP2K executable {exe or self.cp2k.command!r} "
                f"not found on the PATH; {CP2K_INSTALL_HINT}"
            )
        return shutil.which(exe) or exe

    def cp2k_data_files(self) -> dict[str, Path]:
        assert self.cp2k is not None
        data = self.cp2k.resolved_data_dir()
        return {
            "potential_file": data / self.cp2k.potential_file,
            "basis_set_file": data / self.cp2k.basis_set_file,
        }

    def _check_cp2k(self) -> None:
        assert self.cp2k is not None
        self._cp2k_binary()
        names = {"potential_file": ("pseudopotential", self.cp2k.pseudo_potential),
                 "basis_set_file": ("basis set", self.cp2k.basis_set)}
        for role, path in self.cp2k_data_files().items():
            if not path.is_file():
                raise ConfigError(
                    f"reference cp2k for {self.symbol}: {role} {path} does not exist; {CP2K_INSTALL_HINT}"
                )
            what, name = names[role]
            if not _cp2k_entry_names(_parse_data_entries(path), self.symbol, name):
                raise ConfigError(f"reference cp2k: {path} has no {name} {what} for {self.symbol}")

    # ---- the calculator ----
    def make_calculator(self, workdir: str | os.PathLike | None = None):
        """A fresh ASE calculator (EAM, CP2K or the named class). CP2K runs in ``workdir``."""
        if self.kind == "eam":
            from .potentials import EAMCalculator

            return (
                EAMCalculator(self.symbol, path=self.potential)
                if self.potential
                else EAMCalculator(self.symbol)
            )
        if self.kind == "ase":
            cls = self._calculator_class()
            try:
                return cls(**self.parameters)
            except TypeError as exc:
                raise ConfigError(
                    f"reference.calculator {self.calculator!r}: bad parameters "
                    f"{sorted(self.parameters)}: {exc}"
                ) from exc
        return self._make_cp2k(workdir)

    def _make_cp2k(self, workdir):
        from ase.calculators.cp2k import CP2K

        s = self.cp2k
        assert s is not None
        if not self._cp2k_checked:  # once per Reference: make_calculator runs for every frame
            self._check_cp2k()
            self._cp2k_checked = True
        workdir = Path(workdir or ".")
        workdir.mkdir(parents=True, exist_ok=True)
        data = s.resolved_data_dir()
        env = f"{_singleton_env(s.command)}OMP_NUM_THREADS={int(s.omp_threads)} CP2K_DATA_DIR={data}"
        command = f"env {env} {s.command}"
        return CP2K(
            command=command,
            label=_short_label(workdir),
            xc=s.xc,
            basis_set=s.basis_set,
            basis_set_file=None,  # given once, in the input block (ASE raises on duplicates)
            potential_file=None,
            pseudo_potential=s.pseudo_potential,
            cutoff=s.cutoff_Ry * RY_EV,
            max_scf=s.max_scf,
            stress_tensor=bool(s.stress),
            uks=False,  # UKS is set in the input block when spin-polarised
            inp=cp2k_input_block(s, self.symbol),
            print_level="LOW",
        )

    def prepare_atoms(self, atoms) -> None:
        """Set what the reference reads from the atoms (initial magnetic moments for spin-polarised CP2K)."""
        if self.kind == "cp2k" and self.cp2k is not None and self.cp2k.is_spin_polarised(self.symbol):
            atoms.set_initial_magnetic_moments([self.cp2k.magmom(self.symbol)] * len(atoms))

    @property
    def gives_atomic_energies(self) -> bool:
        """Whether the reference labels per-atom energies (EAM does; DFT does not)."""
        return self.kind == "eam"

    # ---- provenance ----
    def settings(self) -> dict[str, Any]:
        if self.kind == "eam":
            return {"potential": self.potential}
        if self.kind == "ase":
            return {"calculator": self.calculator, "parameters": self.parameters}
        assert self.cp2k is not None
        return self.cp2k.to_dict()

    def settings_hash(self) -> str:
        """sha256 of the kind, element and full settings: a journal made with other settings is not reused."""
        text = json.dumps(
            {"kind": self.kind, "symbol": self.symbol, "settings": self.settings()},
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(text.encode()).hexdigest()

    def provenance(self) -> dict[str, Any]:
        """Code, version, full settings and data-file checksums: what a labelled store records."""
        out: dict[str, Any] = {"kind": self.kind, "element": self.symbol, "settings": self.settings()}
        if self.kind == "eam":
            from .potentials import load_eam

            eam = load_eam(self.symbol, path=self.potential)
            out.update(
                code="nnpdistill-eam",
                version=_package_version("nnpdistill"),
                files={eam.path.name: eam.sha256},
            )
        elif self.kind == "ase":
            module = self.calculator.partition(":")[0] if self.calculator else ""
            top = module.split(".")[0]
            out.update(code=self.calculator, version=_package_version(top) or _package_version("ase"))
        else:
            files = self.cp2k_data_files()
            out.update(
                code="cp2k",
                version=cp2k_version(self.cp2k.command),
                files={p.name: _sha256(p) for p in files.values() if p.is_file()},
                ase_version=_package_version("ase"),
            )
        return out


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


def make_reference(
    symbol: str, config: dict[str, Any] | None = None, *, potential: str | None = None
) -> Reference:
    """A :class:`Reference` from an element config's ``reference:`` mapping (None: the element's EAM).

    ``config`` keys: ``kind`` (eam | cp2k | ase), ``calculator`` (ase only), ``parameters``.
    """
    config = dict(config or {})
    kind = config.get("kind", "eam")
    if kind not in REFERENCE_KINDS:
        raise ConfigError(
            f"unknown reference kind {kind!r} for {symbol}; choose one of {', '.join(REFERENCE_KINDS)}"
        )
    params = dict(config.get("parameters") or {})
    if kind == "eam":
        if params:
            raise ConfigError(
                "reference kind eam takes no parameters (the element's `potential` names its file)"
            )
        return Reference("eam", symbol, potential=potential)
    if kind == "ase":
        if not config.get("calculator"):
            raise ConfigError('reference kind ase needs `calculator: "module.path:ClassName"`')
        return Reference("ase", symbol, calculator=str(config["calculator"]), parameters=params)
    if config.get("calculator"):
        raise ConfigError(
            "reference kind cp2k takes no `calculator` (it is ASE's CP2K calculator); "
            "use kind: ase for another code"
        )
    return Reference("cp2k", symbol, parameters=params, cp2k=CP2KSettings.from_dict(params))
