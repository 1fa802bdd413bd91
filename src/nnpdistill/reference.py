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

import hashlib
import importlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cp2k import (
    CP2K_INSTALL_HINT,
    RY_EV,
    CP2KSettings,
    _cp2k_entry_names,
    _package_version,
    _parse_data_entries,
    _sha256,
    _short_label,
    _singleton_env,
    cp2k_input_block,
    cp2k_version,
)
from .errors import ConfigError

__all__ = ["REFERENCE_KINDS", "CP2KSettings", "Reference", "cp2k_input_block", "cp2k_version",
           "make_reference"]

REFERENCE_KINDS: tuple[str, ...] = ("eam", "cp2k", "ase")


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
