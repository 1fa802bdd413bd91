"""``nnpdistill progress``: how many of a campaign's jobs are finished and how long the rest will take."""

from __future__ import annotations

import argparse
import os


def _run(args: argparse.Namespace) -> int:
    from ..progress import campaign_progress, duration, format_estimate, latest_run_steps

    extra = list(args.snakemake_args)
    if extra[:1] == ["--"]:
        extra = extra[1:]
    steps = latest_run_steps(args.directory)  # before the DAG call, which writes a log of its own
    est = campaign_progress(args.configfile or [], args.cores, records=args.records,
                            snakemake_args=extra, workdir=args.directory)
    if steps:
        log, k, n, age = steps
        print(f"Snakemake's latest run ({log}, updated {duration(age)} ago): {k} of {n} steps done")
    print(format_estimate(est))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "progress",
        help="jobs finished and to run, and the time left, for a campaign (also while it runs)",
        description="Plan the campaign as Snakemake would (`snakemake --dag --nolock`, so it also works "
        "beside a running campaign), count the finished jobs and estimate the time the others take: each "
        "rule's time per job is the median wall time of the benchmark files its finished jobs wrote "
        "(results/**/benchmarks/*.tsv), and the remaining jobs are list-scheduled on --cores one-core "
        "slots. Rules with no record yet count as 0 s and are named (the estimate is then a lower bound); "
        "--records lends the times of another campaign's results folder to those rules.",
    )
    p.add_argument("--configfile", nargs="+", default=None, metavar="FILE",
                   help="the campaign's config files, as given to snakemake "
                        "(default: config/config.yaml only)")
    p.add_argument("--cores", type=int, default=os.cpu_count() or 1,
                   help="cores the campaign runs on (default: this machine's, %(default)s)")
    p.add_argument("--records", nargs="+", default=None, metavar="DIR",
                   help="results folders of other campaigns whose benchmark files give the time of rules "
                        "this one has not finished a job of yet (e.g. results/taste)")
    p.add_argument("--directory", default=".", help="the workflow's folder (default: the current one)")
    p.add_argument("snakemake_args", nargs=argparse.REMAINDER, metavar="-- SNAKEMAKE_ARGS",
                   help="further arguments for snakemake after `--`, e.g. -- --forcerun train_member")
    p.set_defaults(func=_run)
