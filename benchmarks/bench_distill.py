"""Cost of the distillation loop, read from the job logs of a finished campaign (nothing is re-run).

Every ``train_member`` log ends with ``trained in X s`` and every ``predict_pool`` log says
``predicted ... in X s``; those are the times the jobs spent computing, measured with Snakemake running
two jobs side by side on the 2-core machine. Per iteration of one strategy, the figures are the five
members' training times, their makespan on two cores (longest-first list scheduling: the two
cores train members side by side, as ``snakemake --cores 2`` does), and the pool scoring times. The
estimated wall time of the loop on a dedicated 2-core machine is the sum of the per-iteration
makespans plus the scoring on the selection pool (the next iteration waits for it); scoring on the
other evaluation pools runs beside the next iteration and is listed, not added.

    .venv/bin/python benchmarks/bench_distill.py [--results results] [--element Ni] [--strategy uncertainty]
"""

from __future__ import annotations

import argparse
import heapq
import re
import sys
from pathlib import Path

TRAINED = re.compile(r"trained in ([0-9.]+) s")
PREDICTED = re.compile(r"predicted (\d+) frames .* in ([0-9.]+) s")


def _last_match(path: Path, pattern: re.Pattern) -> re.Match | None:
    found = None
    for line in path.read_text().splitlines():
        m = pattern.search(line)
        if m:
            found = m
    return found


def makespan(durations: list[float], workers: int) -> float:
    """Longest-processing-time-first schedule of independent jobs on ``workers`` cores."""
    loads = [0.0] * workers
    heapq.heapify(loads)
    for d in sorted(durations, reverse=True):
        heapq.heappush(loads, heapq.heappop(loads) + d)
    return max(loads)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default="results")
    ap.add_argument("--element", default="Ni")
    ap.add_argument("--strategy", default="uncertainty")
    ap.add_argument("--pool", default="momt_32", help="the selection pool (on the loop's critical path)")
    ap.add_argument("--cores", type=int, default=2)
    args = ap.parse_args(argv)

    base = Path(args.results) / args.element / "distill" / args.strategy
    iters = sorted((int(p.name.split("_")[1]), p) for p in base.glob("iter_*") if p.is_dir())
    if not iters:
        print(f"no iterations under {base}", file=sys.stderr)
        return 1
    print(f"{args.element} {args.strategy}: job times from {base}/iter_*/logs, {args.cores}-core schedule")
    print(f"{'iter':>4} {'frames':>6} {'train s (5 members)':>22} {'makespan s':>10} "
          f"{'score ' + args.pool + ' s':>16} {'other pools s':>13}")
    wall = cpu = 0.0
    complete = True
    for it, path in iters:
        logs = path / "logs"
        train = []
        for log in sorted(logs.glob("train_member_*.log")):
            m = _last_match(log, TRAINED)
            if m:
                train.append(float(m.group(1)))
        sel = path / "selection.csv"
        n_frames = len(sel.read_text().splitlines()) - 1 if sel.exists() else 0
        own = other = 0.0
        for log in sorted(logs.glob("predict_*.log")):
            m = _last_match(log, PREDICTED)
            if not m:
                continue
            if log.stem == f"predict_{args.pool}":
                own = float(m.group(2))
            else:
                other += float(m.group(2))
        if not train or own == 0.0:
            complete = False
        span = makespan(train, args.cores) if train else 0.0
        wall += span + own
        cpu += sum(train) + own + other
        print(f"{it:>4} {n_frames:>6} {' '.join(f'{t:.0f}' for t in train):>22} {span:>10.0f} "
              f"{own:>16.1f} {other:>13.1f}")
    print(f"estimated wall time of the loop on {args.cores} cores: {wall / 60:.1f} min "
          f"({len(iters)} iterations; training + scoring on the selection pool)")
    print(f"compute time of all its jobs: {cpu / 60:.1f} core-min")
    if not complete:
        print("(some iterations lack a finished training or scoring log: the figures are partial)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
