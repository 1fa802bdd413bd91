"""Build, save and load single-element ANI models (torchani ``Assembler``) for a metal.

A model here is :class:`NNPModel`: a torchani ``ANI`` (AEV computer, atomic networks for one
element, self-energy) plus the :class:`NNPSettings` that built it. One training job trains one
member (``n_members=1``); :func:`combine_members` joins trained members into one ensemble that
shares the AEV computer and the self-energy.

Units: torchani works in Å and Hartree. Everything that leaves this package is in eV
(``nnpdistill.units.HARTREE_EV`` converts at the edge); settings carry eV.

Self-energy: the per-atom constant added to every atom's network output. ``"mean"`` (default)
sets it to the mean energy per atom of the whole labelled frame store the member trains on
(train + validation, so every member of one ensemble gets the same value and the ensemble spread
is not polluted by a constant offset); ``"regression"`` fits E = e0·N by least squares through the
origin over frames of different atom counts (identical to ``"mean"`` weighted by N² when there is
one atom count).

Default settings and why (Ni, a = 3.52 Å; shells at 2.49, 3.52, 4.31, 4.98, 5.57, 6.10 Å):

- radial cutoff 6.0 Å (paper/tutorial: 6.9 Å): reaches the fifth shell (~78 neighbours). 6.9 Å
  reaches ~134 neighbours; pair work grows ~1.7x for a tail the EAM itself damps to zero.
- angular cutoff 3.5 Å (as the paper): first shell only (12 neighbours, ~66 triples/atom). The
  angular term dominates the cost: 4.5 Å reaches the third shell and costs ~8x per epoch.
- shifts start at 1.6 Å (no metal atom pair is closer, even in a hot liquid), 16 radial shifts,
  8 angular shifts x 4 angle sections: 48 features for one element. Gaussian widths follow the
  spacing (eta = 1.43 / spacing², the ANI-2x ratio), so changing a cutoff keeps the coverage.
- networks 128-96-64-1 GELU (paper: 224-192-160-1): the input is only 48 features; the smaller
  net costs about half the multiply-adds per atom (pool scoring is dominated by it and the AEVs).
  It reached 1.6 meV/atom held-out MAE on 100 rattled 32-atom FCC frames; the paper's size was
  not compared.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..errors import DatasetError, NNPDistillError
from ..io_utils import atomic_path
from ..units import HARTREE_EV

os.environ.setdefault("TORCHANI_NO_WARN_EXTENSIONS", "1")

FORMAT_VERSION = 1


def settings_from_dict(cls, d: dict, what: str):
    """``cls(**d)`` for a settings dataclass, naming any key it does not have."""
    unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
        raise NNPDistillError(f"unknown {what}: {', '.join(sorted(unknown))}")
    return cls(**d)


@dataclass(frozen=True)
class NNPSettings:
    """Architecture of a single-element ANI model. Lengths in Å, energies in eV."""

    element: str = "Ni"
    radial_cutoff_A: float = 6.0
    radial_start_A: float = 1.6
    radial_shifts: int = 16
    radial_eta_per_A2: float | None = None  # None: 1.43 / spacing²
    angular_cutoff_A: float = 3.5
    angular_start_A: float = 1.6
    angular_shifts: int = 8
    angular_sections: int = 4
    angular_eta_per_A2: float | None = None  # None: 1.43 / spacing²
    angular_zeta: float = 14.1
    cutoff_fn: str = "smooth"
    hidden_layers: tuple[int, ...] = (128, 96, 64)
    activation: str = "gelu"
    bias: bool = False
    # "mean" | "regression": fitted on the training frames; "fixed": self_energy_eV as given (e.g. an
    # isolated atom's DFT energy, or members trained on different frames joined into one ensemble)
    self_energy_method: str = "mean"
    self_energy_eV: float = 0.0  # set by fit_self_energy before training unless the method is "fixed"
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden_layers", tuple(int(h) for h in self.hidden_layers))
        if self.angular_cutoff_A > self.radial_cutoff_A:
            raise NNPDistillError(
                f"angular cutoff {self.angular_cutoff_A} Å exceeds radial cutoff {self.radial_cutoff_A} Å"
            )
        if min(self.radial_start_A, self.angular_start_A) <= 0:
            raise NNPDistillError("AEV shift starts must be positive (Å)")
        if self.self_energy_method not in ("mean", "regression", "fixed"):
            raise NNPDistillError(
                f"self_energy_method must be 'mean', 'regression' or 'fixed', got {self.self_energy_method!r}"
            )
        if self.activation not in ("gelu", "celu"):
            raise NNPDistillError(f"activation must be 'gelu' or 'celu', got {self.activation!r}")
        if not self.hidden_layers or min(self.hidden_layers) <= 0:
            raise NNPDistillError(f"hidden_layers must be positive widths, got {self.hidden_layers}")

    @property
    def cutoff_A(self) -> float:
        return float(self.radial_cutoff_A)

    def radial_eta(self) -> float:
        if self.radial_eta_per_A2 is not None:
            return float(self.radial_eta_per_A2)
        spacing = (self.radial_cutoff_A - self.radial_start_A) / self.radial_shifts
        return 1.43 / spacing**2

    def angular_eta(self) -> float:
        if self.angular_eta_per_A2 is not None:
            return float(self.angular_eta_per_A2)
        spacing = (self.angular_cutoff_A - self.angular_start_A) / self.angular_shifts
        return 1.43 / spacing**2

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["hidden_layers"] = list(self.hidden_layers)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> NNPSettings:
        return settings_from_dict(cls, d, "NNP settings")

    def replace(self, **changes) -> NNPSettings:
        return dataclasses.replace(self, **changes)


def fit_self_energy(n_atoms: np.ndarray, energy_eV: np.ndarray, method: str = "mean") -> float:
    """Per-atom self-energy (eV) from frame atom counts ``(F,)`` and total energies ``(F,)`` in eV."""
    n_atoms = np.asarray(n_atoms, dtype=np.float64)
    energy_eV = np.asarray(energy_eV, dtype=np.float64)
    if n_atoms.size == 0 or not np.all(np.isfinite(energy_eV)):
        raise DatasetError("cannot fit a self-energy: no frames or non-finite energies")
    if method == "mean":
        return float(np.mean(energy_eV / n_atoms))
    if method == "regression":
        return float(np.dot(n_atoms, energy_eV) / np.dot(n_atoms, n_atoms))
    raise NNPDistillError(f"unknown self-energy method {method!r}")


class NNPModel(torch.nn.Module):
    """A torchani ANI model (one element, ``n_members`` networks) with the settings that built it.

    ``self.ani`` is the torchani model (Hartree inside). Use :mod:`nnpdistill.nnp.batch` to evaluate
    it on periodic frames; results come out in eV.
    """

    def __init__(self, ani, settings: NNPSettings, n_members: int):
        super().__init__()
        self.ani = ani
        self.settings = settings
        self.n_members = int(n_members)
        self.atomic_number = int(ani.atomic_numbers[0])
        dim = int(ani.aev_computer.out_dim)
        dtype = ani.energy_shifter.self_energies.dtype
        # per-member AEV standardisation (x - mean) * inv_std, set from the training frames
        self.register_buffer("aev_mean", torch.zeros(self.n_members, dim, dtype=dtype))
        self.register_buffer("aev_inv_std", torch.ones(self.n_members, dim, dtype=dtype))

    @property
    def cutoff_A(self) -> float:
        return float(self.ani.aev_computer.radial.cutoff)

    @property
    def aev_computer(self):
        return self.ani.aev_computer

    def member_networks(self) -> list[torch.nn.Module]:
        """The element's AtomicNetwork of each member (maps (A, D) AEVs to (A, 1) Hartree)."""
        nn = self.ani.neural_networks
        containers = list(nn.members) if hasattr(nn, "members") else [nn]
        return [c.atomics[self.settings.element] for c in containers]

    def self_energy_hartree(self) -> torch.Tensor:
        return self.ani.energy_shifter.self_energies[0]

    def atomic_energies_from_aevs(self, aevs: torch.Tensor) -> torch.Tensor:
        """Per-member per-atom energies in eV ``(M, A)`` from AEVs ``(A, D)`` (self-energy included).

        Float64 out: the networks' residual (model dtype) is added to the self-energy in float64, so a
        DFT offset of tens of eV per atom costs no precision (float32 would round it to ~1e-5 eV).
        """
        outs = [net((aevs - self.aev_mean[k]) * self.aev_inv_std[k]).squeeze(-1)
                for k, net in enumerate(self.member_networks())]
        return torch.stack(outs, 0).to(torch.float64) * HARTREE_EV + float(self.settings.self_energy_eV)

    def member_forward(self, k: int, aevs: torch.Tensor) -> torch.Tensor:
        """Per-atom network output of member ``k`` in Hartree ``(A,)`` (no self-energy)."""
        net = self.member_networks()[k]
        return net((aevs - self.aev_mean[k]) * self.aev_inv_std[k]).squeeze(-1)

    def set_aev_standardisation(self, k: int, aevs: torch.Tensor) -> None:
        """Set member ``k``'s feature mean and 1/std from AEVs ``(A, D)``.

        Features are centred and divided by one scale, the largest feature std. Per-feature scaling
        was tried and generalised worse (held-out MAE 5-11 vs 2.4 meV/atom on rattled Ni): it blows up
        features that are nearly always zero (shifts below the nearest-neighbour distance) into noise.
        """
        with torch.no_grad():
            std = aevs.std(0)
            std = torch.full_like(std, max(float(std.max()), 1e-8))
            self.aev_mean[k] = aevs.mean(0).to(self.aev_mean.dtype)
            self.aev_inv_std[k] = 1.0 / std.to(self.aev_mean.dtype)

    def save(self, path: str | os.PathLike) -> None:
        """Write ``path`` (torch state dict + settings JSON inside one file). Exact round trip."""
        payload = {
            "format": "nnpdistill-nnp",
            "version": FORMAT_VERSION,
            "settings": json.dumps(self.settings.to_dict()),
            "n_members": self.n_members,
            "dtype": str(self.self_energy_hartree().dtype).replace("torch.", ""),
            "state_dict": {k: v.detach().cpu().clone() for k, v in self.state_dict().items()},
        }
        with atomic_path(path) as tmp:
            torch.save(payload, tmp)

    @classmethod
    def load(cls, path: str | os.PathLike) -> NNPModel:
        path = Path(path)
        if not path.exists():
            raise NNPDistillError(f"model file {path} does not exist")
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any unpickling problem is a bad file
            raise NNPDistillError(f"model file {path} is not a readable torch file: {exc}") from exc
        if not isinstance(payload, dict) or payload.get("format") != "nnpdistill-nnp":
            raise NNPDistillError(f"model file {path} is not an nnpdistill NNP model")
        if payload.get("version") != FORMAT_VERSION:
            raise NNPDistillError(f"model file {path} has format version {payload.get('version')}")
        settings = NNPSettings.from_dict(json.loads(payload["settings"]))
        model = build_model(settings, n_members=payload["n_members"], seed=0,
                            dtype=getattr(torch, payload["dtype"]))
        model.load_state_dict(payload["state_dict"])
        return model


def build_model(
    settings: NNPSettings, n_members: int = 1, seed: int = 0, dtype: torch.dtype = torch.float32
) -> NNPModel:
    """Assemble an untrained model; network weights drawn from ``seed`` (global RNG left untouched)."""
    import torchani
    from torchani.aev import ANIAngular, ANIRadial
    from torchani.arch import Assembler
    from torchani.nn import ANINetworks

    if n_members < 1:
        raise NNPDistillError(f"n_members must be >= 1, got {n_members}")
    try:
        torchani.constants.ATOMIC_NUMBER[settings.element]
    except KeyError as exc:
        raise NNPDistillError(f"unknown element symbol {settings.element!r}") from exc
    asm = Assembler()
    asm.set_symbols((settings.element,))
    asm.set_global_cutoff_fn(settings.cutoff_fn)
    asm.set_aev_computer(
        radial=ANIRadial.cover_linearly(
            start=settings.radial_start_A,
            cutoff=settings.radial_cutoff_A,
            eta=settings.radial_eta(),
            num_shifts=settings.radial_shifts,
        ),
        angular=ANIAngular.cover_linearly(
            start=settings.angular_start_A,
            cutoff=settings.angular_cutoff_A,
            eta=settings.angular_eta(),
            zeta=settings.angular_zeta,
            num_shifts=settings.angular_shifts,
            num_sections=settings.angular_sections,
        ),
        strategy="pyaev",
    )
    asm.set_atomic_networks(
        cls=ANINetworks,
        ctor="build",
        kwargs={
            "dims": {settings.element: tuple(settings.hidden_layers)},
            "activation": settings.activation,
            "bias": settings.bias,
        },
    )
    asm.set_self_energies({settings.element: settings.self_energy_eV / HARTREE_EV})
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        ani = asm.assemble(ensemble_size=int(n_members))
    ani = ani.to(dtype)
    with torch.no_grad():  # the Assembler stores it in float32: set it again at full precision
        ani.energy_shifter.self_energies.fill_(settings.self_energy_eV / HARTREE_EV)
    return NNPModel(ani, settings, n_members)


def combine_members(members: list[NNPModel]) -> NNPModel:
    """Join single-member models (same settings, same self-energy) into one ensemble model."""
    if not members:
        raise NNPDistillError("no ensemble members given")
    first = members[0]
    for i, m in enumerate(members[1:], start=1):
        a, b = first.settings.to_dict(), m.settings.to_dict()
        if a != b:
            diff = sorted(k for k in a if a[k] != b[k])
            raise NNPDistillError(f"ensemble member {i} has other settings than member 0: {', '.join(diff)}")
    dtype = first.self_energy_hartree().dtype
    n_total = sum(m.n_members for m in members)
    model = build_model(first.settings, n_members=n_total, seed=0, dtype=dtype)
    targets = model.member_networks()
    sources = [net for m in members for net in m.member_networks()]
    means = torch.cat([m.aev_mean for m in members])
    inv_stds = torch.cat([m.aev_inv_std for m in members])
    selfs = torch.stack([m.self_energy_hartree() for m in members])
    if float(selfs.max() - selfs.min()) * HARTREE_EV > 1e-9:
        raise NNPDistillError(
            "ensemble members have different self-energies "
            f"({', '.join(f'{float(x) * HARTREE_EV:.6f}' for x in selfs)} eV): train them on the same frames"
        )
    with torch.no_grad():
        for dst, src in zip(targets, sources, strict=True):
            dst.load_state_dict(src.state_dict())
        model.aev_mean.copy_(means)
        model.aev_inv_std.copy_(inv_stds)
    return model


def count_parameters(model: NNPModel) -> int:
    return sum(p.numel() for p in model.parameters())
