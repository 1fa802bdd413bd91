"""The ``nnpdistill`` command: one subcommand per stage, discovered from ``nnpdistill.commands``."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from . import __version__, commands
from .cpu_kernels import DEFAULT_LEVEL, LEVELS, pin_environment
from .errors import NNPDistillError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nnpdistill",
        description="Solid-and-liquid NNP training sets: EAM, MOMT sampling, ANI ensembles, distillation.",
    )
    parser.add_argument("--version", action="version", version=f"nnpdistill {__version__}")
    parser.add_argument(
        "--cpu-kernels", choices=LEVELS, default=DEFAULT_LEVEL,
        help="pin torch's CPU kernels so results are the same bytes on every x86-64 CPU kind: avx2 (any "
             "CPU with AVX2), default (any x86-64 CPU, slower), native (no pin) (default: %(default)s)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        # ATen reads the pin once: only a process that has not run torch yet can take it (a caller
        # that already runs torch in-process keeps its kernels)
        if "torch" not in sys.modules:
            pin_environment(args.cpu_kernels)
        return int(args.func(args) or 0)
    except NNPDistillError as exc:
        print(f"nnpdistill {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `nnpdistill info X.h5 | head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
