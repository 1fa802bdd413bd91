"""The cost of a finished campaign, from the `benchmark:` files every rule writes
(``results/<...>/benchmarks/<rule>_<wildcards>.tsv``, Snakemake's columns: s, cpu_time, max_rss, ...).

Per rule: jobs, wall time (sum and largest job), CPU time; in total: job wall time, CPU time, and the
span from the first job's start to the last job's end (start = the benchmark file's mtime minus its s).
The span over the summed wall time shows how well the cores were used. Jobs that ran before the rules
had `benchmark:` directives have no file and are not counted (the script says how many files it read).

    .venv/bin/python benchmarks/bench_campaign.py [RESULTS_DIR] [--cores 2] [--csv out.csv]
        [--configfile config/taste.yaml]   (also: the whole DAG list-scheduled at each rule's median)
"""

from __future__ import annotations

import argparse
import os
import platform
import re
from pathlib import Path

import pandas as pd

from nnpdistill import progress

REPO = Path(__file__).resolve().parents[1]


def rule_names() -> list[str]:
    """Rule names of the workflow."""
    names = set()
    for smk in (REPO / "workflow" / "rules").glob("*.smk"):
        names |= set(re.findall(r"^rule (\w+):", smk.read_text(), flags=re.M))
    return sorted(names)


def read_benchmarks(results: Path) -> pd.DataFrame:
    """One row per benchmark file of the campaign in ``results`` (nnpdistill.progress.read_benchmarks)."""
    return progress.read_benchmarks(results, rule_names())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", nargs="?", default="results", help="a campaign's results folder")
    ap.add_argument("--cores", type=int, default=2, help="cores the campaign ran on (for the usage ratio)")
    ap.add_argument("--csv", default=None, help="write the per-rule table here")
    ap.add_argument("--configfile", nargs="+", default=None, metavar="FILE",
                    help="the campaign's config files: also schedule its whole DAG (snakemake --forceall) "
                         "with each rule's median time on --cores and set that beside the measured span")
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
    if args.configfile:
        dag = progress.parse_dag(progress.snakemake_dag(
            ["-s", str(REPO / "Snakefile"), "--forceall", "--configfile", *args.configfile]))
        est = progress.estimate(dag, jobs, args.cores)
        print(f"whole DAG, {est.n_jobs} jobs, each rule at its median: list schedule on {args.cores} cores "
              f"{est.eta_s / 60:.1f} min, critical path {est.critical_path_s / 60:.1f} min "
              f"(measured span {span / 60:.1f} min)")
        if est.unrecorded:
            print(f"rules with no benchmark file, counted as 0 s: {sorted(est.unrecorded)}")
    if args.csv:
        per_rule.to_csv(args.csv)


if __name__ == "__main__":
    main()
