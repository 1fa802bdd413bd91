"""Settings of one sampling run (MOMT or conventional NPT): every default in one place, units in the
names, checked once (:meth:`RunSettings.validate`); :func:`settings_from_config` builds them from an
element's ``sample`` config mapping. :mod:`nnpdistill.md.run` runs them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..defaults import SCHEMA, from_schema
from ..errors import ConfigError
from .lattices import STRUCTURES
from .momt import check_temperatures
from .order import ORDER_KINDS
from .order_q6 import check_solid, switch_radii_A
from .setup import MDParams

METHODS = ("momt", "npt_fcc", "npt_liq")
O_GRIDS = ("auto", "n_atoms", "phase_lines")


@dataclass
@from_schema("sample.momt")
class MOMTParams:
    """MOMT settings: effective-temperature clip [t_min_K, t_max_K] around T0 = the run's temperature;
    grid nodes n_h × n_o; O (``order``: fcc_box or q6_bonds, :func:`.order.make_order`) range
    [−o_margin, N + o_margin] or the phases' own (``o_grid``, :meth:`o_grid_kind`); H range auto
    (EAM-derived) unless given;
    Wang–Landau update every ``update_stride`` steps starting at ln f = ``ln_f_initial`` (a stage ends
    when flat or after ``max_updates_per_stage`` updates). The last ``production_fraction`` of the frames
    is recorded with the bias frozen (made to honour the T_eff clip, so no clip acts): those frames alone
    carry the thermodynamics (``reweight``). ``stage_rounds`` > 0: the Wang–Landau phase acts through a
    clip-honouring snapshot of its bias renewed every ``stage_rounds`` frame rounds (each recorded), so
    its frames join the thermodynamics through MBAR; 0: deposits act at once (the paper's scheme).
    ``stage_sync``: the growing bias is itself replaced by each snapshot, so deposits land on what acts.
    ``liquid_start_fraction``: the share of walkers that start as a liquid (the rest as the crystal)."""

    t_min_K: float = SCHEMA
    t_max_K: float = SCHEMA
    n_h: int = SCHEMA
    n_o: int = SCHEMA
    order: str = SCHEMA
    q6_switch_nn: tuple[float, float] = SCHEMA
    q6_solid: tuple[float, float] = SCHEMA
    o_margin: float = SCHEMA
    o_grid: str = SCHEMA
    h_range_eV: tuple[float, float] | None = SCHEMA
    h_cold_margin_K: float = SCHEMA
    update_stride: int = SCHEMA
    ln_f_initial: float = SCHEMA
    flatness: float = SCHEMA
    ln_f_min: float = SCHEMA
    estimate_steps: int = SCHEMA
    max_updates_per_stage: int = SCHEMA
    production_fraction: float = SCHEMA
    stage_rounds: int = SCHEMA
    stage_sync: bool = SCHEMA
    liquid_start_fraction: float = SCHEMA

    def o_grid_kind(self) -> str:
        """``o_grid`` resolved: n_atoms or phase_lines (auto: n_atoms, the paper's, for both coordinates;
        phase_lines on q6_bonds left 108-atom Ni walkers stuck in their phases until stage_sync and
        liquid_start_fraction joined it, see the README's tenth run)."""
        return "n_atoms" if self.o_grid == "auto" else self.o_grid


@dataclass
@from_schema("sample")
class RunSettings:
    """One sampling run. ``method`` in {momt, npt_fcc, npt_liq}; ``temperature_K`` is T0 for MOMT;
    ``structure`` the crystal the walkers start from (fcc, bcc, hcp: :mod:`.lattices`; npt_fcc then
    runs that crystal, npt_liq melts it), ``c_over_a`` its c/a for hcp (None: √(8/3))."""

    method: str
    structure: str = SCHEMA
    c_over_a: float | None = SCHEMA
    n_frames: int = SCHEMA
    n_walkers: int = SCHEMA
    frame_stride: int = SCHEMA
    temperature_K: float = SCHEMA
    seed: int = 0
    equilibration_steps: int = SCHEMA
    checkpoint_every: int = SCHEMA
    melt_K: float | None = SCHEMA
    melt_steps: int = SCHEMA
    quench_steps: int = SCHEMA
    md: MDParams = field(default_factory=MDParams)
    momt: MOMTParams = field(default_factory=MOMTParams)

    def validate(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"sample method must be one of {METHODS}, got {self.method!r}")
        for name in ("n_frames", "n_walkers", "frame_stride", "checkpoint_every"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"sample.{name} must be >= 1, got {getattr(self, name)}")
        if not self.temperature_K > 0:
            raise ConfigError(f"sample.temperature_K must be positive, got {self.temperature_K}")
        if self.structure not in STRUCTURES:
            raise ConfigError(f"sample.structure must be one of {STRUCTURES}, got {self.structure!r}")
        if self.c_over_a is not None and not self.c_over_a > 0:
            raise ConfigError(f"sample.c_over_a must be positive, got {self.c_over_a}")
        if self.method == "momt" and self.structure != "fcc" and self.momt.order == "fcc_box":
            raise ConfigError(f"sample.structure {self.structure} with momt.order fcc_box: the box-aligned "
                              "FCC order parameter does not see a BCC or HCP crystal; use q6_bonds")
        if self.method == "momt":
            m = self.momt
            check_temperatures(self.temperature_K, m.t_min_K, m.t_max_K)
            if m.update_stride < 1:
                raise ConfigError(f"momt.update_stride must be >= 1, got {m.update_stride}")
            if m.n_h < 4 or m.n_o < 4:
                raise ConfigError(f"momt grid is empty or too small: n_h={m.n_h}, n_o={m.n_o} "
                                  "(need >= 4 each)")
            if not 0 <= m.production_fraction <= 1:
                raise ConfigError(f"momt.production_fraction must be in [0, 1], got {m.production_fraction}")
            if not 0 <= m.liquid_start_fraction <= 1:
                raise ConfigError("momt.liquid_start_fraction must be in [0, 1], got "
                                  f"{m.liquid_start_fraction}")
            if int(m.stage_rounds) < 0:
                raise ConfigError(f"momt.stage_rounds must be >= 0 (0: no stages), got {m.stage_rounds}")
            if m.order not in ORDER_KINDS:
                raise ConfigError(f"momt.order must be one of {ORDER_KINDS}, got {m.order!r}")
            if m.o_grid not in O_GRIDS:
                raise ConfigError(f"momt.o_grid must be one of {O_GRIDS}, got {m.o_grid!r}")
            switch_radii_A(1.0, m.q6_switch_nn)  # a ConfigError unless 0 < r_on < r_off
            check_solid(m.q6_solid)
            if m.h_range_eV is not None and not m.h_range_eV[0] < m.h_range_eV[1]:
                raise ConfigError(f"momt.h_range_eV must be increasing, got {m.h_range_eV}")

    def fingerprint(self) -> dict:
        d = asdict(self)
        d["momt"]["h_range_eV"] = None if self.momt.h_range_eV is None else list(self.momt.h_range_eV)
        d["momt"]["q6_switch_nn"] = [float(x) for x in self.momt.q6_switch_nn]
        d["momt"]["q6_solid"] = [float(x) for x in self.momt.q6_solid]
        if self.momt.order != "q6_solid":  # only the smooth count reads it: other fingerprints as before
            del d["momt"]["q6_solid"]
        if self.momt.order == "fcc_box":  # the paper's coordinate: fingerprints (and store attrs) as before
            del d["momt"]["order"], d["momt"]["q6_switch_nn"]
        if self.momt.o_grid_kind() == "n_atoms":  # the grid runs before o_grid had: fingerprints as then
            del d["momt"]["o_grid"]
        for key in ("stage_sync", "liquid_start_fraction"):  # off: fingerprints as before the option
            if not getattr(self.momt, key):
                del d["momt"][key]
        if self.structure == "fcc" and self.c_over_a is None:  # the paper's start: as before the option
            del d["structure"], d["c_over_a"]
        return d



def settings_from_config(cfg: dict, method: str, seed: int) -> RunSettings:
    """RunSettings from an element's ``sample`` config mapping (keys as in the schema; missing → defaults)."""
    cfg = dict(cfg or {})
    md_keys = {f for f in MDParams.__dataclass_fields__}
    momt_keys = {f for f in MOMTParams.__dataclass_fields__}
    run_keys = {f for f in RunSettings.__dataclass_fields__} - {"md", "momt", "method", "seed"}
    md = MDParams(**{k: cfg[k] for k in md_keys if k in cfg and cfg[k] is not None})
    mcfg = dict(cfg.get("momt") or {})
    if mcfg.get("h_range_eV") is not None:
        mcfg["h_range_eV"] = tuple(mcfg["h_range_eV"])
    momt = MOMTParams(**{k: mcfg[k] for k in momt_keys if k in mcfg})
    kw = {k: cfg[k] for k in run_keys if k in cfg}
    s = RunSettings(method=method, seed=int(seed), md=md, momt=momt, **kw)
    s.validate()
    return s


def check_sample_config(cfg: dict) -> None:
    """Every run an element's ``sample`` config plans, checked before any job runs: the settings of each
    method and the cell of each size for ``structure`` (a ConfigError naming the problem)."""
    from .lattices import supercell_shape

    for method in cfg.get("methods", METHODS):
        settings_from_config(cfg, method, 0)
    for n_atoms in cfg.get("sizes", ()):
        supercell_shape(cfg.get("structure", "fcc"), n_atoms, cfg.get("c_over_a"))
