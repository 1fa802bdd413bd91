"""The cost of a finished campaign, from the `benchmark:` files every rule writes
(``results/<...>/benchmarks/<rule>_<wildcards>.tsv``, Snakemake's columns: s, cpu_time, max_rss, ...).

Per rule: jobs, wall time (sum and largest job), CPU time; in total: job wall time, CPU time, and the
span from the first job's start to the last job's end (start = the benchmark file's mtime minus its s).
The span over the summed wall time shows how well the cores were used. Jobs that ran before the rules
had `benchmark:` directives have no file and are not counted (the script says how many files it read).

    .venv/bin/python benchmarks/bench_campaign.py [RESULTS_DIR] [--cores 2] [--csv out.csv]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]


def rule_names() -> list[str]:
    """Rule names of the workflow, longest first (so that prefixes match the most specific rule)."""
    names = set()
    for smk in (REPO / "workflow" / "rules").glob("*.smk"):
        names |= set(re.findall(r"^rule (\w+):", smk.read_text(), flags=re.M))
    return sorted(names, key=len, reverse=True)


def read_benchmarks(results: Path) -> pd.DataFrame:
    """One row per benchmark file: rule, file, wall s, CPU s, max RSS MB, start and end (epoch s)."""
    names = rule_names()
    rows = []
    for tsv in sorted(results.rglob("benchmarks/*.tsv")):
        rule = next((n for n in names if tsv.stem == n or tsv.stem.startswith(n + "_")), tsv.stem)
        df = pd.read_csv(tsv, sep="\t")
        if df.empty:
            continue
        wall = float(df["s"].iloc[-1])
        end = os.path.getmtime(tsv)
        rows.append({"rule": rule, "file": str(tsv.relative_to(results)), "wall_s": wall,
                     "cpu_s": float(df["cpu_time"].iloc[-1]), "max_rss_MB": float(df["max_rss"].iloc[-1]),
                     "start": end - wall, "end": end})
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", nargs="?", default="results", help="a campaign's results folder")
    ap.add_argument("--cores", type=int, default=2, help="cores the campaign ran on (for the usage ratio)")
    ap.add_argument("--csv", default=None, help="write the per-rule table here")
    args = ap.parse_args()
    jobs = read_benchmarks(Path(args.results))
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
          f"campaign cores: {args.cores}; benchmark files read: {len(jobs)}")
    if jobs.empty:
        print("no benchmark files: run the campaign with this version of the workflow first")
        return
    per_rule = (jobs.groupby("rule")
                .agg(jobs=("wall_s", "size"), wall_s=("wall_s", "sum"), largest_job_s=("wall_s", "max"),
                     cpu_s=("cpu_s", "sum"), max_rss_MB=("max_rss_MB", "max"))
                .sort_values("wall_s", ascending=False))
    per_rule["share_of_wall"] = per_rule["wall_s"] / per_rule["wall_s"].sum()
    print(per_rule.round(2).to_string())
    span = float(jobs["end"].max() - jobs["start"].min())
    total = float(jobs["wall_s"].sum())
    print(f"\njob wall time: {total / 60:.1f} min, CPU time: {jobs['cpu_s'].sum() / 60:.1f} min, "
          f"span first start -> last end: {span / 60:.1f} min")
    print(f"core usage: job wall time / (span x cores) = {total / max(span * args.cores, 1e-9):.2f}")
    if args.csv:
        per_rule.to_csv(args.csv)


if __name__ == "__main__":
    main()
