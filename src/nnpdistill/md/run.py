"""Run driver: batched NPT or MOMT production with frames, checkpoints and bitwise-exact resume.

``run_sampling`` writes ``out_path`` (a frame store) through ``out_path.partial`` and keeps a checkpoint
``out_path + ".ckpt"`` (torch.save; written atomically) every ``checkpoint_every`` frame rounds. A killed
run started again with the same settings resumes from the checkpoint: the partial file is cut back to
the checkpointed frame count and the walkers continue from their saved positions, momenta, cells, RNG
state, bias, histogram, ln f and step. Each chunk between checkpoints starts with a fresh force
evaluator (fresh neighbour list) in both uninterrupted and resumed runs, so the frames are bitwise equal.

Frames: every ``frame_stride`` steps each of the B walkers contributes one frame (walker-minor order);
``n_frames`` in total (the last round is cut short if B does not divide it). Labels are the unbiased
potential's energy, per-atom energies, forces and stress; metadata: temperature_K (kinetic),
enthalpy_eV (U + P0 V), volume_A3, order_parameter, t_eff_K, bias_eV, walker, step, method,
production (1: recorded under a frozen bias, or plain NPT), clipped (1: the T_eff clip acted); with
``momt.order`` q6_bonds or q6_solid also bias_order, the biased one (order_parameter: box-aligned FCC O;
q6 from BCC/HCP).

MOMT runs in two phases: Wang–Landau (the bias grows) for the first (1 − production_fraction) of the
frame rounds, then production on the frozen bias made to honour the T_eff clip
(:meth:`Bias2D.honour_clip`). The store's attrs keep the frozen bias (``momt_frozen_bias_json``), the
round it was frozen at and ln f per round (``momt_history_json``).

With ``momt.stage_rounds`` > 0 the Wang–Landau deposits reach the walkers in stages: every
``stage_rounds`` frame rounds the acting bias is replaced by a clip-honouring snapshot of the growing
one, so every frame is a sample of a known bias; the snapshots and the round each began at are kept in
``momt_stages_json`` (the frozen production bias is the last stage), and the reweighting combines all
stages by MBAR (:func:`nnpdistill.md.mbar.mbar_log_density`). With ``momt.stage_sync`` the growing bias
is itself replaced by each snapshot, so the deposits land on the bias that acts (without it, the growing bias
keeps enthalpy slopes far past the clip, and refits anchored column by column at different enthalpies put
wells into the snapshot that no deposit reaches: the eighth run's 108-atom Ni, docs/campaign/thermo).
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..device import device_for, on_device, resolve_device
from ..errors import ConfigError, NNPDistillError
from ..units import BAR_EV_PER_A3
from .checkpoint import checkpoint_path, load_checkpoint, save_checkpoint
from .integrators import MDState, plain_forces
from .lattices import supercell_shape
from .momt import Bias2D, MOMTForce, WangLandau
from .order import make_order

# the run's settings live in .settings; imported from here too
from .settings import METHODS, MOMTParams, RunSettings, settings_from_config  # noqa: F401

log = logging.getLogger("nnpdistill.md")
# production runs on a bias that honours the T_eff clip; this wider clip (T0/20..20 T0) only keeps s > 0
PRODUCTION_SAFETY = 20.0
@dataclass
class Potential:
    """What the driver needs to know about the potential: ``factory()`` → a fresh evaluator
    ``(positions (B,N,3), cells (B,3,3)) -> result`` (energy, energies, forces, stress); element data."""

    factory: Callable[[], Callable]
    element: str
    atomic_number: int
    mass_amu: float
    lattice_A: float
    name: str = ""
    sha256: str = ""
    device: str = "cpu"  # where the evaluator and the order parameter run (nnpdistill.device.on_device)


def _initial(settings: RunSettings, pot: Potential, n_atoms: int, gen: torch.Generator,
             bias: Bias2D | None = None):
    """Starting walkers (and bias for MOMT unless given). Deterministic given the generator."""
    from .setup import crystal_state, estimate_phase_lines, initial_bias, melt_and_quench, run_plain

    T, xtal = settings.temperature_K, (settings.structure, settings.c_over_a)
    B = settings.n_walkers
    md = settings.md
    if settings.method == "momt" and bias is None:
        m = settings.momt
        order = on_device(make_order(m.order, n_atoms, pot.lattice_A, m.q6_switch_nn, m.q6_solid), pot.device)
        lines = estimate_phase_lines(pot.factory(), n_atoms, pot.lattice_A, pot.mass_amu, md, T, m.t_min_K,
                                     m.t_max_K, gen, n_steps=m.estimate_steps, order=order, structure=xtal[0],
                                     c_over_a=xtal[1])
        bias = initial_bias(lines, n_atoms, T, m.t_min_K, m.t_max_K, m.n_h, m.n_o, m.o_margin, m.h_range_eV,
                            m.h_cold_margin_K, lines.o_range() if m.o_grid_kind() == "phase_lines" else None)
        log.info("MOMT grid: H in [%.3f, %.3f] eV, O in [%.1f, %.1f]", bias.h_lo, bias.h_hi, bias.o_lo,
                 bias.o_hi)
    state = crystal_state(B, n_atoms, pot.lattice_A, pot.mass_amu, T, gen, *xtal)
    ev = pot.factory()
    melt = settings.melt_K if settings.melt_K is not None else 2.0 * T
    if settings.method == "npt_liq":
        melt_and_quench(state, ev, md, gen, T, melt, settings.melt_steps, settings.quench_steps)
    n_liquid = round(settings.momt.liquid_start_fraction * B) if settings.method == "momt" else 0
    if n_liquid:  # the last n_liquid walkers start as a liquid: both basins fill from the first deposits
        liquid = crystal_state(n_liquid, n_atoms, pot.lattice_A, pot.mass_amu, T, gen, *xtal)
        melt_and_quench(liquid, pot.factory(), md, gen, T, melt, settings.melt_steps, settings.quench_steps)
        for name in ("positions", "momenta", "cells"):
            getattr(state, name)[B - n_liquid:] = getattr(liquid, name)
        log.info("MOMT: %d of %d walkers start as a liquid (melted at %.0f K)", n_liquid, B, melt)
    if settings.equilibration_steps > 0:
        run_plain(state, ev, md.integrator(T, gen), settings.equilibration_steps)
    state.step = 0
    return state, bias


def _frames(state: MDState, res, H, O, t_eff, bias_val, method: str, z: int, keep: int,
            production: bool = False, clipped: torch.Tensor | None = None,
            bias_order: torch.Tensor | None = None):
    from ..frames import Frames

    B, N = state.n_walkers, state.n_atoms
    walker = np.arange(B, dtype=np.int64)
    meta = {
        "temperature_K": state.temperature_K().numpy(),
        "enthalpy_eV": H.numpy(),
        "volume_A3": state.volumes().numpy(),
        "order_parameter": O.numpy(),
        "t_eff_K": t_eff.numpy(),
        "bias_eV": bias_val.numpy(),
        "walker": walker,
        "step": np.full(B, state.step, dtype=np.int64),
        "method": np.array([method] * B),
        "production": np.full(B, int(production), dtype=np.int64),
        "clipped": (np.zeros(B, dtype=np.int64) if clipped is None else clipped.numpy().astype(np.int64)),
    }
    if bias_order is not None:  # MOMT on a coordinate other than the box-aligned order parameter
        meta["bias_order"] = bias_order.detach().numpy()
    if getattr(res, "uncertainty", None) is not None:  # an NNP ensemble drives the run: its atomic spread
        meta["max_atomic_uncertainty_eV"] = res.uncertainty.max(-1).values.numpy()
        meta["mean_atomic_uncertainty_eV"] = res.uncertainty.mean(-1).numpy()
    fr = Frames(numbers=np.full((B, N), z, dtype=np.int64), positions=state.positions.numpy().copy(),
                cell=state.cells.numpy().copy(), energy=res.energy.detach().numpy().copy(),
                forces=res.forces.detach().numpy().copy(), energies=res.energies.detach().numpy().copy(),
                stress=res.stress.detach().numpy().copy(), meta=meta)
    return fr if keep >= B else fr.select(slice(0, keep))


def run_sampling(out_path: str | os.PathLike, pot: Potential, settings: RunSettings, n_atoms: int,
                 extra_attrs: dict | None = None, hook: Callable[[int], None] | None = None,
                 progress: bool = False, bias: Bias2D | None = None) -> Path:
    """Run (or resume) one sampling job and write the frame store ``out_path``. ``hook(round)`` is called
    after every frame round (tests use it to simulate a kill). ``bias``: a starting MOMT bias instead of
    the EAM-derived default. Returns the path."""
    from ..frames import FrameWriter

    settings.validate()
    supercell_shape(settings.structure, n_atoms, settings.c_over_a)
    out_path = Path(out_path)
    ckpt = checkpoint_path(out_path)
    B, stride = settings.n_walkers, settings.frame_stride
    n_rounds = math.ceil(settings.n_frames / B)
    p0 = settings.md.pressure_bar * BAR_EV_PER_A3
    T = settings.temperature_K
    momt = settings.method == "momt"
    fingerprint = {**settings.fingerprint(), "n_atoms": n_atoms, "potential_sha256": pot.sha256}

    gen = torch.Generator().manual_seed(int(settings.seed))
    payload = None
    if ckpt.exists():
        payload = load_checkpoint(ckpt)
        if payload.get("fingerprint") != fingerprint:
            log.warning("%s belongs to other settings: starting afresh", ckpt)
            payload = None
    if payload is not None:
        state = MDState.from_dict(payload["state"])
        bias = Bias2D.from_state_dict(payload["bias"]) if payload["bias"] is not None else None
        gen.set_state(payload["rng"])
        done_rounds, frames_done = int(payload["round"]), int(payload["frames"])
        log.info("resuming %s at round %d/%d (%d frames)", out_path, done_rounds, n_rounds, frames_done)
    else:
        state, bias = _initial(settings, pot, n_atoms, gen, None if bias is None else
                               Bias2D.from_state_dict(bias.state_dict()))
        done_rounds, frames_done = 0, 0
    wl = None
    frozen: Bias2D | None = None
    history = {"ln_f": [], "flatness": []}
    m, q6_frames = settings.momt, settings.structure != "fcc"  # frames' O: box-aligned FCC, else q6
    frame_order = on_device(make_order("q6_bonds" if q6_frames else "fcc_box", n_atoms,
                                       pot.lattice_A, m.q6_switch_nn), pot.device)
    freeze_round = n_rounds - math.ceil(m.production_fraction * n_rounds) if momt else 0
    prod_visits = None
    staged = momt and int(m.stage_rounds) > 0
    stages: list[dict] = []  # staged Wang-Landau: {"start_round", "ln_f", "coef"} per acting snapshot
    acting: Bias2D | None = None
    if momt:
        wl = WangLandau(bias, T, m.ln_f_initial, m.flatness, m.ln_f_min,
                        max_updates_per_stage=m.max_updates_per_stage)
        prod_visits = torch.zeros_like(wl.visits)
        if payload is not None:
            wl.load_state_dict(payload["wl"])
            history = payload["history"]
            prod_visits = payload["prod_visits"]
            if payload["frozen"] is not None:
                frozen = Bias2D.from_state_dict(payload["frozen"])
            stages = payload.get("stages") or []
            if stages:
                acting = Bias2D((bias.h_lo, bias.h_hi), (bias.o_lo, bias.o_hi), bias.n_h, bias.n_o,
                                torch.tensor(stages[-1]["coef"], dtype=torch.float64),
                                beyond_slopes=stages[-1].get("beyond_slopes"))

    def save():
        save_checkpoint(ckpt, {
            "fingerprint": fingerprint, "state": state.to_dict(), "rng": gen.get_state(),
            "bias": None if bias is None else bias.state_dict(),
            "wl": None if wl is None else wl.state_dict(),
            "frozen": None if frozen is None else frozen.state_dict(),
            "history": history, "prod_visits": prod_visits, "stages": stages,
            "round": done_rounds, "frames": frames_done})

    def acting_bias() -> Bias2D:
        return frozen if frozen is not None else acting if acting is not None else bias

    def momt_force(ev):
        # fresh: its neighbour list too
        order = on_device(make_order(m.order, n_atoms, pot.lattice_A, m.q6_switch_nn, m.q6_solid), pot.device)
        if frozen is None and not staged:
            return MOMTForce(ev, bias, p0, T, m.t_min_K, m.t_max_K, order=order)
        # frozen and staged biases honour the clip by construction; a wide safety clip only keeps s > 0
        return MOMTForce(ev, acting_bias(), p0, T, T / PRODUCTION_SAFETY, T * PRODUCTION_SAFETY, order=order)

    def new_stage(snapshot: Bias2D) -> None:
        if m.stage_sync and frozen is None:  # the deposits go on from the bias that acts
            bias.coef, bias.beyond_slopes = snapshot.coef.clone(), snapshot.beyond_slopes
        stages.append({"start_round": done_rounds, "ln_f": wl.ln_f, "coef": snapshot.coef.tolist(),
                       "beyond_slopes": snapshot.beyond_slopes})

    if staged and not stages and done_rounds < freeze_round:
        acting = bias.honour_clip(T / m.t_max_K, T / m.t_min_K, wl.visits)
        new_stage(acting)

    if payload is None:
        save()
    attrs = {"element": pot.element, "potential": pot.name, "potential_sha256": pot.sha256,
             "method": settings.method, "n_atoms": n_atoms, "settings": settings.fingerprint(),
             **(extra_attrs or {})}
    integ = settings.md.integrator(T, gen)
    from ..runtime import Progress

    bar = Progress(n_rounds, f"{settings.method} N={n_atoms}", "round", initial=done_rounds, enabled=progress)
    with FrameWriter(out_path, attrs, resume=payload is not None, keep_partial_on_error=True) as writer:
        if writer.n_frames < frames_done:
            raise ConfigError(f"{writer.partial} holds {writer.n_frames} frames, the checkpoint expects "
                              f"{frames_done}: delete {ckpt} to start again")
        writer.truncate(frames_done)
        while done_rounds < n_rounds:
            ev = pot.factory()
            force_fn = momt_force(ev) if momt else plain_forces(ev)
            f, s, aux = force_fn(state.positions, state.cells)
            for _ in range(min(settings.checkpoint_every, n_rounds - done_rounds)):
                if momt and frozen is None and done_rounds >= freeze_round:
                    frozen = bias.honour_clip(T / m.t_max_K, T / m.t_min_K, wl.visits)
                    log.info("MOMT bias frozen at round %d/%d (ln f = %.3g); production follows",
                             done_rounds, n_rounds, wl.ln_f)
                    if staged:
                        new_stage(frozen)
                    force_fn = momt_force(ev)
                    f, s, aux = force_fn(state.positions, state.cells)
                elif (staged and frozen is None and done_rounds % int(m.stage_rounds) == 0
                      and (not stages or stages[-1]["start_round"] < done_rounds)):
                    acting = bias.honour_clip(T / m.t_max_K, T / m.t_min_K, wl.visits)
                    new_stage(acting)
                    force_fn = momt_force(ev)
                    f, s, aux = force_fn(state.positions, state.cells)
                for _ in range(stride):
                    f, s, aux = integ.step(state, force_fn, f, s)
                    if momt and frozen is None and state.step % m.update_stride == 0:
                        wl.update(aux.enthalpy, aux.order)
                clipped = bias_order = None
                if momt:
                    res, H, O = aux.result, aux.enthalpy, aux.order
                    coord = O  # the coordinate the bias acts on
                    if m.order != "fcc_box":  # another than the box-aligned one: keep both
                        bias_order = coord  # from BCC/HCP the frames' q6 O is the biased one: not twice
                        O = (coord if q6_frames and m.order == "q6_bonds"
                             else frame_order(state.positions, state.cells, False)[0])
                    t_eff = T / aux.s
                    bias_val = acting_bias()(H, coord)[0]
                    clipped = aux.clipped
                    history["ln_f"].append(wl.ln_f if frozen is None else 0.0)
                    history["flatness"].append(wl.flatness_ratio())
                    if frozen is not None:
                        ih, io, inside = frozen.node_index(H, coord)
                        prod_visits.index_put_((ih, io), inside.to(torch.float64), accumulate=True)
                else:
                    res = aux
                    H = res.energy + p0 * state.volumes()
                    O = frame_order(state.positions, state.cells, gradient=False)[0]
                    t_eff = torch.full((B,), float(T), dtype=torch.float64)
                    bias_val = torch.zeros(B, dtype=torch.float64)
                keep = min(B, settings.n_frames - frames_done)
                writer.append(_frames(state, res, H.detach(), O.detach(), t_eff.detach(), bias_val.detach(),
                                      settings.method, pot.atomic_number, keep,
                                      production=(not momt) or frozen is not None, clipped=clipped,
                                      bias_order=bias_order))
                frames_done += keep
                done_rounds += 1
                bar.update(1)
                if hook is not None:
                    hook(done_rounds)
            writer.flush()
            save()
        if momt:
            writer.set_attrs({"momt_bias_json": _bias_json(bias, wl),
                              "momt_frozen_bias_json": None if frozen is None else _bias_json(frozen, wl),
                              "momt_history_json": json.dumps({
                                  "freeze_round": freeze_round, "n_rounds": n_rounds, **history,
                                  "production_visits": prod_visits.tolist()})})
            if staged:
                writer.set_attrs({"momt_stages_json": json.dumps({
                    "h_range_eV": [bias.h_lo, bias.h_hi], "o_range": [bias.o_lo, bias.o_hi], "n_h": bias.n_h,
                    "n_o": bias.n_o, "kT0_eV": wl.kT0, "n_walkers": B, "stages": stages})})
    bar.close()
    ckpt.unlink(missing_ok=True)
    return out_path


def _bias_json(bias: Bias2D, wl: WangLandau) -> str:
    return json.dumps({"h_range_eV": [bias.h_lo, bias.h_hi], "o_range": [bias.o_lo, bias.o_hi],
                       "n_h": bias.n_h, "n_o": bias.n_o, "coef": bias.coef.tolist(),
                       "beyond_slopes": bias.beyond_slopes, "visits": wl.visits.tolist(), "ln_f": wl.ln_f,
                       "n_updates": wl.n_updates, "kT0_eV": wl.kT0})


def read_bias(attrs: dict, frozen: bool = False) -> tuple[Bias2D, dict]:
    """The final Wang–Landau bias, or with ``frozen`` the production bias (and the raw JSON dict with
    visits, ln f) stored in a frame store's attrs."""
    key = "momt_frozen_bias_json" if frozen else "momt_bias_json"
    raw = attrs.get(key)
    if raw is None:
        raise ConfigError(f"the frame store has no {'frozen ' if frozen else ''}MOMT bias (attrs[{key!r}]): "
                          + ("it has no production phase (momt.production_fraction = 0, or made before "
                             "production phases existed)" if frozen else "is it a MOMT run?"))
    d = json.loads(raw) if isinstance(raw, str) else raw
    bias = Bias2D(tuple(d["h_range_eV"]), tuple(d["o_range"]), d["n_h"], d["n_o"],
                  torch.tensor(d["coef"], dtype=torch.float64),
                  beyond_slopes=d.get("beyond_slopes"))
    return bias, d


def potential_from_eam(symbol: str, path: str | None = None, skin_A: float = 1.0,
                       lattice_A: float | None = None, device: str | None = None) -> Potential:
    """A :class:`Potential` for ``symbol`` from the EAM engine (``path`` None → the shipped default).
    Raises the engine's ElementNotFoundError for a file without the element. ``device``: where the
    evaluations run (``cpu`` by default; :mod:`nnpdistill.device`)."""
    from ..crystals import fcc_lattice_from_reference
    from ..potentials import load_eam

    eam = load_eam(symbol, path=path)
    a = lattice_A
    if a is None:  # the FCC cell of the reference crystal's atomic volume (a BCC/HCP header's a is not one)
        ref_a = getattr(eam, "reference_lattice_A", None)
        ref_structure = getattr(eam, "reference_structure", "fcc") or "fcc"
        try:
            a = fcc_lattice_from_reference(ref_structure, ref_a) if ref_a is not None else None
        except NNPDistillError:
            raise ConfigError(f"no FCC lattice constant for {symbol}: the potential file's header gives "
                              f"{ref_structure!r} a={ref_a} Å, which does not convert; "
                              "set sample.lattice_A") from None
    if a is None or not a > 0:
        raise ConfigError(f"no FCC lattice constant for {symbol} in its potential file: set sample.lattice_A")
    dev = str(resolve_device(device or "cpu", "sample"))
    return Potential(lambda: on_device(eam.evaluator(skin_A=skin_A), dev), eam.element,
                     int(eam.atomic_number), float(eam.mass_amu), float(a), eam.path.name, str(eam.sha256),
                     dev)


def sample(symbol: str, method: str, n_atoms: int, out_path: str | os.PathLike, cfg: dict | None = None,
           seed: int = 0, potential: str | None = None, progress: bool = True,
           nnp_members: list | None = None, device: str | None = None) -> Path:
    """One sampling job from an element's ``sample`` config: load the EAM, build settings, run/resume.
    ``nnp_members``: model files of an NNP ensemble that drives the run instead of the EAM (forces and
    stress of the ensemble mean; each frame records the largest and mean atomic uncertainty); the
    EAM then only gives the FCC lattice constant of the start. ``device``: where the forces and the order
    parameter are evaluated (default: the workflow's ``device.sample``, else the CPU)."""
    cfg = dict(cfg or {})
    settings = settings_from_config(cfg, method, seed)
    dev = str(device_for("sample", device))
    pot = potential_from_eam(symbol, potential, float(cfg.get("skin_A", 1.0)), cfg.get("lattice_A"), dev)
    if nnp_members:
        from ..nnp.md import potential_from_nnp

        pot = potential_from_nnp(nnp_members, pot.lattice_A, device=dev)
        if pot.element != symbol:
            raise ConfigError(f"the NNP ensemble is for {pot.element}, the run for {symbol}")
    return run_sampling(out_path, pot, settings, int(n_atoms), progress=progress,
                        extra_attrs={"size": int(n_atoms), "seed": int(seed)})
