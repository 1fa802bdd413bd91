"""One portable model file: an NNP ensemble as a single TorchScript file that plain ``torch`` loads.

    model = torch.jit.load("Ni_distilled.pt")
    out = model(species, coordinates, cell, pbc)
    # species (N,) int64 atomic numbers; coordinates (N, 3) Å; cell (3, 3) Å, rows = cell vectors;
    # pbc (3,) bool (slabs: [True, True, False]; a molecule: all False, cell ignored)
    # out: dict of float64 tensors: "energy" () eV, "energies" (N,) eV per atom, "forces" (N, 3) eV/Å,
    #      "stress" (3, 3) eV/Å³ (ASE sign; zeros unless periodic in all three directions),
    #      "energies_uq" (N,) eV: the atomic uncertainty (std across members, ddof 1)

No nnpdistill, torchani or vesin is needed to load and run the file: torchani's AEV computer (its own
neighbour list, all periodic images, so cells of any size and shape) and the member networks are
compiled into it. The file records the element, cutoff, member count and the nnpdistill version in
``model.metadata`` (a JSON string). Energies are the ensemble mean, as in the package
(:mod:`nnpdistill.nnp.batch`); forces and stress are derivatives of that mean.
"""

from __future__ import annotations

import copy
import json
import os
import warnings
from pathlib import Path

import torch

from ..errors import NNPDistillError
from ..units import HARTREE_EV
from .builder import NNPModel


class PortableEnsemble(torch.nn.Module):
    """TorchScript-able ensemble: AEVs → member networks → ensemble mean, forces and stress by autograd."""

    def __init__(self, model: NNPModel):
        super().__init__()
        self.aev = model.aev_computer
        self.nets = torch.nn.ModuleList(model.member_networks())
        dtype = model.self_energy_hartree().dtype
        self.register_buffer("aev_mean", model.aev_mean.detach().clone())
        self.register_buffer("aev_inv_std", model.aev_inv_std.detach().clone())
        self.atomic_number = int(model.atomic_number)
        self.self_energy_eV = float(model.settings.self_energy_eV)
        self.hartree_eV = float(HARTREE_EV)
        from .. import __version__

        self.metadata = json.dumps({
            "format": "nnpdistill-portable-nnp", "version": 1, "element": model.settings.element,
            "atomic_number": int(model.atomic_number), "n_members": int(model.n_members),
            "cutoff_A": float(model.cutoff_A), "dtype": str(dtype).replace("torch.", ""),
            "nnpdistill": __version__,
            "inputs": "species (N,) int64, coordinates (N,3) A, cell (3,3) A rows = vectors, "
                      "pbc (3,) bool",
            "outputs": "energy eV, energies (N,) eV, forces (N,3) eV/A, stress (3,3) eV/A^3 ASE sign, "
                       "energies_uq (N,) eV",
        })

    def forward(self, species: torch.Tensor, coordinates: torch.Tensor, cell: torch.Tensor,
                pbc: torch.Tensor) -> dict[str, torch.Tensor]:
        if not bool((species == self.atomic_number).all()):
            raise RuntimeError("the model is for one element only (atomic number "
                               + str(self.atomic_number) + ")")
        n = species.shape[0]
        dt = self.aev_mean.dtype
        pos = coordinates.to(dt).detach().requires_grad_(True)
        strain = torch.zeros((3, 3), dtype=dt).requires_grad_(True)
        deform = torch.eye(3, dtype=dt) + strain
        x = pos @ deform
        periodic = bool(pbc.any())
        elem = torch.zeros((1, n), dtype=torch.long)
        if periodic:
            aevs = self.aev(elem, x.unsqueeze(0), cell.to(dt) @ deform, pbc.to(torch.bool))
        else:
            aevs = self.aev(elem, x.unsqueeze(0), None, None)
        aevs = aevs.reshape(n, -1)
        outs: list[torch.Tensor] = []
        k = 0
        for net in self.nets:
            outs.append(net((aevs - self.aev_mean[k]) * self.aev_inv_std[k]).squeeze(-1))
            k += 1
        member = torch.stack(outs, 0).to(torch.float64) * self.hartree_eV + self.self_energy_eV
        energies = member.mean(0)
        energy = energies.sum()
        grads = torch.autograd.grad([energy], [pos, strain], allow_unused=True)
        g_pos = grads[0]
        g_eps = grads[1]
        forces = torch.zeros((n, 3), dtype=torch.float64) if g_pos is None else -g_pos.to(torch.float64)
        stress = torch.zeros((3, 3), dtype=torch.float64)
        if g_eps is not None and bool(pbc.all()):
            vol = torch.abs(torch.linalg.det(cell.to(torch.float64)))
            de = g_eps.to(torch.float64)
            stress = 0.5 * (de + de.transpose(0, 1)) / vol
        if member.shape[0] > 1:
            uq = member.std(0, unbiased=True)
        else:
            uq = torch.zeros_like(energies)
        return {"energy": energy.detach(), "energies": energies.detach(), "forces": forces.detach(),
                "stress": stress.detach(), "energies_uq": uq.detach()}


def export_torchscript(model: NNPModel | list[str | os.PathLike], out_path: str | os.PathLike) -> Path:
    """Write ``model`` (an ensemble, or member model files to join) as one TorchScript file, through a
    temporary name. Returns the path."""
    from ..io_utils import atomic_path

    if not isinstance(model, NNPModel):
        from .predict import load_ensemble

        model = load_ensemble([str(p) for p in model])
    # float64 throughout, as the package's ASE calculator evaluates (NNPCalculator): the file then
    # reproduces the package's numbers to rounding, whatever dtype the members were trained in
    model = copy.deepcopy(model).to(torch.float64).eval()
    try:
        scripted = torch.jit.script(PortableEnsemble(model))
    except Exception as exc:  # noqa: BLE001 - TorchScript errors are long; say what failed
        raise NNPDistillError(f"could not compile the ensemble to TorchScript: {exc}") from exc
    out_path = Path(out_path)
    with atomic_path(out_path) as tmp, warnings.catch_warnings():
        # torch 2.13 marks TorchScript deprecated in favour of torch.export, which cannot yet carry the
        # autograd forces and stress inside the file; TorchScript is what LAMMPS/ASE users load today
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(scripted, str(tmp))
    return out_path
