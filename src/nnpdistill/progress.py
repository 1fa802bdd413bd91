"""How far a campaign has come and how long it has left.

The planned jobs come from Snakemake's DAG (``snakemake --dag``: one node per job, the rule's name first
in its label, finished jobs drawn dashed). Each rule's time per job is the median wall time of the
``benchmark:`` files its finished jobs wrote (``<results>/**/benchmarks/<rule>_<wildcards>.tsv``), in
this campaign's results folder or in others given as records. The time left is a list schedule of the
remaining jobs on the given cores, longest remaining path first, each job on one core (every rule of
the workflow runs one torch thread). Jobs running right now are counted in full, so the estimate errs
long by at most one job per core; rules with no record yet count as zero and are named, so the estimate
is then a lower bound.

Nothing here imports Snakemake: :func:`snakemake_dag` runs the ``snakemake`` command.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .errors import NNPDistillError

_NODE = re.compile(r'^\s*(\d+)\[label = "([^"]*)"([^\n]*)\];\s*$', re.M)
_EDGE = re.compile(r"^\s*(\d+) -> (\d+)", re.M)
_STEPS = re.compile(r"(\d+) of (\d+) steps \((\d+)%\) done")


@dataclass
class Dag:
    """Jobs of a campaign: rule per job id, the finished ones, and (upstream, downstream) edges."""

    rules: dict[int, str]
    done: set[int]
    edges: list[tuple[int, int]]


@dataclass
class Estimate:
    cores: int
    n_jobs: int
    n_done: int
    left_by_rule: dict[str, int]
    seconds_per_job: dict[str, float]
    records_per_rule: dict[str, int]
    eta_s: float
    critical_path_s: float
    job_time_left_s: float
    unrecorded: dict[str, int] = field(default_factory=dict)

    @property
    def n_left(self) -> int:
        return self.n_jobs - self.n_done


def parse_dag(dot: str) -> Dag:
    """The jobs of ``snakemake --dag`` output (Graphviz dot); a node styled dashed is a finished job."""
    rules, done = {}, set()
    for m in _NODE.finditer(dot):
        job = int(m.group(1))
        rules[job] = m.group(2).split("\\n")[0].strip()
        if "dashed" in m.group(3):
            done.add(job)
    if not rules:
        raise NNPDistillError("no jobs in the DAG: is this `snakemake --dag` output?")
    edges = [(int(a), int(b)) for a, b in _EDGE.findall(dot)]
    return Dag(rules, done, edges)


def rule_of(stem: str, rule_names: list[str]) -> str:
    """The rule a benchmark file belongs to: the longest rule name that is its stem or a prefix + '_'
    (``rule_names`` longest first, as :func:`read_benchmarks` passes them)."""
    for name in rule_names:
        if stem == name or stem.startswith(name + "_"):
            return name
    return stem


def _own_file(rel: Path) -> bool:
    """Whether a benchmark file belongs to the campaign whose results folder it sits in: directly in
    ``benchmarks/`` or under an element folder (``Ni/...``), not in another campaign's folder nested
    inside (the main job's ``results/`` holds ``results/smoke/`` and ``results/taste/``)."""
    first = rel.parts[0]
    return first == "benchmarks" or re.fullmatch(r"[A-Z][a-z]?", first) is not None


def read_benchmarks(results: str | Path, rule_names: list[str]) -> pd.DataFrame:
    """One row per benchmark file of the campaign in ``results``: rule, file, wall s, CPU s, max RSS MB,
    start and end (epoch s; end = the file's mtime, start = end minus the wall time)."""
    results = Path(results)
    rule_names = sorted(rule_names, key=len, reverse=True)
    rows = []
    for tsv in sorted(results.rglob("benchmarks/*.tsv")):
        if not _own_file(tsv.relative_to(results)):
            continue
        try:
            df = pd.read_csv(tsv, sep="\t")
        except (pd.errors.EmptyDataError, pd.errors.ParserError):
            continue  # a benchmark Snakemake is still writing
        if df.empty or "s" not in df:
            continue
        wall = float(df["s"].iloc[-1])
        end = os.path.getmtime(tsv)
        rows.append({"rule": rule_of(tsv.stem, rule_names), "file": str(tsv.relative_to(results)),
                     "wall_s": wall, "cpu_s": float(df["cpu_time"].iloc[-1]),
                     "max_rss_MB": float(df["max_rss"].iloc[-1]), "start": end - wall, "end": end})
    return pd.DataFrame(rows, columns=["rule", "file", "wall_s", "cpu_s", "max_rss_MB", "start", "end"])


def rule_seconds(jobs: pd.DataFrame) -> tuple[dict[str, float], dict[str, int]]:
    """Median wall time per job of each rule, and how many records each median rests on."""
    if jobs.empty:
        return {}, {}
    grouped = jobs.groupby("rule")["wall_s"]
    return grouped.median().to_dict(), grouped.size().to_dict()


def schedule(dag: Dag, seconds: dict[str, float], cores: int) -> tuple[float, float]:
    """(makespan, critical path) in s of the unfinished jobs on ``cores`` one-core slots.

    A list schedule: whenever a core is free it takes, among the jobs whose upstream jobs are all
    finished, the one with the longest path to the end of the DAG (a rule without a time counts 0 s)."""
    if cores < 1:
        raise NNPDistillError(f"cores must be at least 1, got {cores}")
    todo = [j for j in dag.rules if j not in dag.done]
    todo_set = set(todo)
    cost = {j: float(seconds.get(dag.rules[j], 0.0)) for j in todo}
    ups = {j: set() for j in todo}
    downs = {j: [] for j in todo}
    for a, b in dag.edges:
        if a in todo_set and b in todo_set:
            ups[b].add(a)
            downs[a].append(b)
    # longest path from each job to a sink (its own time included), in reverse topological order
    order, indeg = [], {j: len(ups[j]) for j in todo}
    frontier = [j for j in todo if indeg[j] == 0]
    while frontier:
        j = frontier.pop()
        order.append(j)
        for d in downs[j]:
            indeg[d] -= 1
            if indeg[d] == 0:
                frontier.append(d)
    if len(order) != len(todo):
        raise NNPDistillError("the DAG has a cycle")
    level = {}
    for j in reversed(order):
        level[j] = cost[j] + max((level[d] for d in downs[j]), default=0.0)
    critical = max(level.values(), default=0.0)

    waiting = {j: len(ups[j]) for j in todo}
    ready = [j for j in todo if waiting[j] == 0]
    running: list[tuple[float, int]] = []  # (finish time, job)
    now = 0.0
    while ready or running:
        ready.sort(key=lambda j: (level[j], -j))
        while ready and len(running) < cores:
            j = ready.pop()
            running.append((now + cost[j], j))
        running.sort()
        now, j = running.pop(0)
        for d in downs[j]:
            waiting[d] -= 1
            if waiting[d] == 0:
                ready.append(d)
    return now, critical


def estimate(dag: Dag, jobs: pd.DataFrame, cores: int, fallback: pd.DataFrame | None = None) -> Estimate:
    """Time left for the unfinished jobs of ``dag`` on ``cores``, from the benchmark records ``jobs``;
    a rule with no record there takes its time from ``fallback`` (other campaigns' records)."""
    seconds, records = rule_seconds(jobs)
    if fallback is not None:
        more, more_n = rule_seconds(fallback)
        for rule in set(more) - set(seconds):
            seconds[rule], records[rule] = more[rule], more_n[rule]
    left: dict[str, int] = {}
    for j, rule in dag.rules.items():
        if j not in dag.done:
            left[rule] = left.get(rule, 0) + 1
    # `all` and other local target rules have no benchmark and take no time
    unrecorded = {r: n for r, n in left.items() if r not in seconds and r != "all"}
    eta, critical = schedule(dag, seconds, cores)
    job_time = sum(n * seconds.get(r, 0.0) for r, n in left.items())
    return Estimate(cores, len(dag.rules), len(dag.done), left, seconds, records, eta, critical, job_time,
                    unrecorded)


def latest_run_steps(workdir: str | Path = ".") -> tuple[str, int, int, float] | None:
    """(log file, steps done, steps planned, age in s) of the newest Snakemake log in ``workdir`` that
    counts steps (dry runs and lints write logs without), or None."""
    import time

    logs = sorted(Path(workdir, ".snakemake", "log").glob("*.snakemake.log"), key=os.path.getmtime)
    for log in reversed(logs):
        hits = _STEPS.findall(log.read_text(errors="replace"))
        if hits:
            k, n, _ = hits[-1]
            return str(log), int(k), int(n), max(time.time() - os.path.getmtime(log), 0.0)
    return None


def duration(seconds: float) -> str:
    """A span for people: '45 s', '12 min', '3 h 05 min'."""
    s = max(float(seconds), 0.0)
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.0f} min"
    h, m = divmod(round(s / 60), 60)
    return f"{h} h {m:02d} min"


def format_estimate(est: Estimate) -> str:
    lines = [f"jobs: {est.n_jobs} planned, {est.n_done} finished, {est.n_left} to run"]
    if est.n_left == 0:
        lines.append("nothing left to run")
        return "\n".join(lines)
    if not set(est.left_by_rule) - set(est.unrecorded) - {"all"}:
        lines.append("time left: unknown, no finished job of these rules has recorded its time yet "
                     "(--records DIR lends a finished campaign's times)")
        return "\n".join(lines)
    bound = " at least" if est.unrecorded else ""
    lines.append(f"time left on {est.cores} core{'s' if est.cores > 1 else ''}:{bound} about "
                 f"{duration(est.eta_s)} (critical path {duration(est.critical_path_s)}, "
                 f"{duration(est.job_time_left_s)} of job time)")
    rows = []
    by_time = sorted(est.left_by_rule.items(), key=lambda kv: -kv[1] * est.seconds_per_job.get(kv[0], 0))
    for rule, n in by_time:
        if rule == "all":
            continue
        s = est.seconds_per_job.get(rule)
        rows.append({"rule": rule, "jobs to run": n,
                     "s per job": "no record" if s is None else f"{s:.1f}",
                     "records": est.records_per_rule.get(rule, 0),
                     "job time": "?" if s is None else duration(n * s)})
    lines.append(pd.DataFrame(rows).to_string(index=False))
    if est.unrecorded:
        names = ", ".join(f"{r} ({n})" for r, n in est.unrecorded.items())
        lines.append(f"no finished job records these rules yet, counted as 0 s: {names}")
    return "\n".join(lines)


def snakemake_dag(snakemake_args: list[str], workdir: str | Path = ".") -> str:
    """The dot text of ``snakemake --dag --nolock ARGS`` run in ``workdir`` with this Python's Snakemake
    (a running campaign keeps its lock; the DAG only reads)."""
    try:
        import snakemake  # noqa: F401  (only to say clearly when it is missing)
    except ImportError as exc:
        raise NNPDistillError("Snakemake is not installed in this environment: pip install snakemake") \
            from exc
    cmd = [sys.executable, "-m", "snakemake", "--dag", "--nolock", *snakemake_args]
    out = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, check=False)
    if out.returncode != 0 or "digraph" not in out.stdout:
        tail = "\n".join((out.stderr or out.stdout).strip().splitlines()[-15:])
        raise NNPDistillError(f"`snakemake {' '.join(cmd[3:])}` failed (exit {out.returncode}):\n{tail}")
    return out.stdout[out.stdout.index("digraph"):]


def results_dir(configfiles: list[str], default_config: str | Path = "config/config.yaml") -> str:
    """The ``results_dir`` the campaign writes to: the last config file that sets it wins, as in
    Snakemake's ``--configfile`` merge."""
    import yaml

    found = "results"
    for path in [default_config, *configfiles]:
        if Path(path).is_file():
            data = yaml.safe_load(Path(path).read_text()) or {}
            if isinstance(data, dict) and data.get("results_dir"):
                found = str(data["results_dir"])
    return found


def campaign_progress(configfiles: list[str], cores: int, records: list[str] | None = None,
                      snakemake_args: list[str] | None = None, workdir: str | Path = ".") -> Estimate:
    """Plan the campaign of ``configfiles`` (dry, without the lock) and estimate the time its unfinished
    jobs take on ``cores``, from the benchmark files in its results folder and in ``records``."""
    for path in configfiles:
        if not Path(workdir, path).is_file():
            where = Path(workdir).resolve()
            raise NNPDistillError(f"config file {path} does not exist (relative to {where})")
    args = list(snakemake_args or [])
    if configfiles:
        args += ["--configfile", *configfiles]
    dag = parse_dag(snakemake_dag(args, workdir))
    names = sorted(set(dag.rules.values()))
    snakefile = Path(workdir, "Snakefile")
    for flag in ("-s", "--snakefile"):
        if flag in args[:-1]:
            snakefile = Path(workdir, args[args.index(flag) + 1])
    configs = [str(Path(workdir, c)) for c in configfiles]
    results = Path(workdir, results_dir(configs, snakefile.parent / "config" / "config.yaml"))
    own = read_benchmarks(results, names)
    others = []
    for extra in records or []:
        if not Path(extra).is_dir():
            raise NNPDistillError(f"records folder {extra} does not exist")
        others.append(read_benchmarks(extra, names))
    fallback = pd.concat(others, ignore_index=True) if others else None
    return estimate(dag, own, cores, fallback)
