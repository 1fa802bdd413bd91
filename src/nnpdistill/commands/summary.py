"""``nnpdistill summary``: a campaign's summary.md (Tables 1-3 and the Figure 2/3 errors beside the paper's)
from named files, as rule write_summary writes it."""

from __future__ import annotations

import argparse

from ..defaults import default


def _inputs(pairs: list[str]) -> dict[str, str]:
    from ..errors import ConfigError

    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, path = pair.partition("=")
        if not sep or not key or not path:
            raise ConfigError(f"summary input {pair!r} is not KEY=PATH "
                              "(e.g. eam/Ni=results/Ni/eam/crystals.csv)")
        if key in out:
            raise ConfigError(f"summary input {key!r} is given twice")
        out[key] = path
    return out


def _run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..errors import ConfigError
    from ..runtime import setup_job
    from ..summary import write_campaign_summary

    setup_job(args.log, 1)
    inputs = _inputs(args.inputs)
    missing = [f"{k}={v}" for k, v in inputs.items() if not Path(v).is_file()]
    if missing:
        raise ConfigError(f"summary inputs not found: {', '.join(missing)}")
    write_campaign_summary(inputs, args.out, args.source, args.seed, translated_from=args.translated_from)
    print(f"summary -> {args.out}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "summary",
        help="a campaign's summary.md from named tables (what rule write_summary writes)",
        description="Write summary.md: Tables 1-3 (crystals against the EAM, energy order, the paper's "
        "rows) and the pool errors of Figures 2 and 3, from files named KEY=PATH. Keys: eam/{El} (an "
        "element's EAM crystals.csv); table1/{method} and table1_mae/{method} (Table 1's crystals_nnp.csv "
        "and pool metrics.csv); table2/distilled, table2/whole (crystals_nnp.csv); curve (the distillation "
        "learning_curve.csv); table3/{El}, fig3/{El}/translated, fig3/{El}/control (a translation target's "
        "crystals_nnp.csv and pool metrics.csv). Sections whose files are not named are left out.",
        epilog="example: nnpdistill summary --out summary.md eam/Ni=results/Ni/eam/crystals.csv "
        "table2/distilled=results/Ni/distill/uncertainty/iter_10/crystals_nnp.csv",
    )
    p.add_argument("inputs", nargs="+", metavar="KEY=PATH", help="the campaign's files, by key")
    p.add_argument("--out", required=True, help="summary.md to write")
    p.add_argument("--source", default="Ni", help="the distilled element (default Ni)")
    p.add_argument("--translated-from", default=None,
                   help="the translated frames' sources, e.g. Ni+V (default: --source)")
    p.add_argument("--seed", type=int, default=default("config:seed"),
                   help="the campaign seed, named in the summary (default %(default)s)")
    p.add_argument("--log", default=None, help="also log to this file")
    p.set_defaults(func=_run)
