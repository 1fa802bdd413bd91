"""`nnpdistill progress`: the DAG read from Snakemake's dot output, benchmark records per rule, and the
list schedule that turns them into the time left (bounds that any schedule must respect)."""

import os

import pandas as pd
import pytest

from nnpdistill.errors import NNPDistillError
from nnpdistill.progress import (
    Dag,
    duration,
    estimate,
    format_estimate,
    latest_run_steps,
    parse_dag,
    read_benchmarks,
    results_dir,
    schedule,
)

DOT = r'''digraph snakemake_dag {
    graph[bgcolor=white, margin=0];
	0[label = "all", color = "0.00 0.6 0.85", style="rounded"];
	1[label = "sample_momt\nelement: Ni\nsize: 32", color = "0.36 0.6 0.85", style="rounded,dashed"];
	2[label = "train_member\nmember: 0\ntrainset: t", color = "0.53 0.6 0.85", style="rounded"];
	3[label = "train_member\nmember: 1\ntrainset: t", color = "0.53 0.6 0.85", style="rounded"];
	4[label = "predict_pool", color = "0.24 0.6 0.85", style="rounded"];
	1 -> 2
	1 -> 3
	2 -> 4
	3 -> 4
	4 -> 0
}
'''


def test_parse_dag_reads_rules_finished_jobs_and_edges():
    dag = parse_dag(DOT)
    assert dag.rules == {0: "all", 1: "sample_momt", 2: "train_member", 3: "train_member", 4: "predict_pool"}
    assert dag.done == {1}
    assert sorted(dag.edges) == [(1, 2), (1, 3), (2, 4), (3, 4), (4, 0)]
    with pytest.raises(NNPDistillError, match="no jobs"):
        parse_dag("Building DAG of jobs...")


def _dag(costs: dict[int, str], edges):
    return Dag(costs, set(), edges)


def test_schedule_on_two_cores_by_hand():
    # a(10) -> b(20); c(15) and d(15) independent: on 2 cores a,c start; b starts at 10 (longest path
    # first), d at 15; both end at 30 = the critical path a -> b
    dag = _dag({0: "a", 1: "b", 2: "c", 3: "d"}, [(0, 1)])
    secs = {"a": 10.0, "b": 20.0, "c": 15.0, "d": 15.0}
    assert schedule(dag, secs, 2) == (30.0, 30.0)
    assert schedule(dag, secs, 1) == (60.0, 30.0)  # one core: the sum
    assert schedule(dag, secs, 8)[0] == 30.0  # enough cores: the critical path


def test_schedule_respects_the_bounds_of_any_schedule():
    # a layered DAG: makespan >= max(critical path, job time / cores), and a list schedule is within
    # Graham's bound job time / cores + critical path
    import random

    rng = random.Random(3)
    rules = {j: f"r{j % 7}" for j in range(60)}
    edges = [(a, b) for b in range(60) for a in range(max(0, b - 9), b) if rng.random() < 0.15]
    secs = {f"r{k}": float(rng.randint(1, 50)) for k in range(7)}
    total = sum(secs[r] for r in rules.values())
    for cores in (1, 2, 3, 5):
        span, critical = schedule(Dag(rules, set(), edges), secs, cores)
        assert span >= max(critical, total / cores) - 1e-9
        assert span <= total / cores + critical + 1e-9
    with pytest.raises(NNPDistillError, match="cores"):
        schedule(Dag(rules, set(), edges), secs, 0)


def test_estimate_counts_unfinished_jobs_and_names_rules_without_record():
    dag = parse_dag(DOT)
    jobs = pd.DataFrame({"rule": ["train_member"] * 3 + ["sample_momt"], "wall_s": [10.0, 30.0, 20.0, 99.0]})
    est = estimate(dag, jobs, cores=2)
    assert (est.n_jobs, est.n_done, est.n_left) == (5, 1, 4)
    assert est.left_by_rule == {"all": 1, "train_member": 2, "predict_pool": 1}
    assert est.seconds_per_job["train_member"] == 20.0  # the median
    assert est.unrecorded == {"predict_pool": 1}
    assert est.eta_s == 20.0 and est.job_time_left_s == 40.0  # two members side by side
    text = format_estimate(est)
    assert "at least" in text and "predict_pool (1)" in text
    # another campaign's records fill the rule this one has no record of, never override its own
    other = pd.DataFrame({"rule": ["predict_pool", "train_member"], "wall_s": [6.0, 1000.0]})
    est = estimate(dag, jobs, cores=2, fallback=other)
    assert est.unrecorded == {} and est.seconds_per_job["train_member"] == 20.0
    assert est.eta_s == 26.0 and "at least" not in format_estimate(est)
    # a fresh campaign: no record of any rule left to run, so no figure, and where to get one
    fresh = format_estimate(estimate(dag, jobs[jobs["rule"] == "sample_momt"], cores=2))
    assert "time left: unknown" in fresh and "--records" in fresh and "about" not in fresh
    done = Dag(dag.rules, set(dag.rules), dag.edges)
    assert "nothing left to run" in format_estimate(estimate(done, jobs, 2))


def test_benchmarks_of_a_nested_campaign_are_not_counted(tmp_path):
    def bench(rel, s):
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"s\th:m:s\tmax_rss\tcpu_time\n{s}\t0:00:01\t100.0\t{s}\n")

    bench("Ni/benchmarks/sample_momt_32.tsv", 5.0)
    bench("Ni/subset/momt_32_n16/benchmarks/train_member_0.tsv", 7.0)
    bench("benchmarks/write_summary.tsv", 1.0)
    bench("smoke/Ni/benchmarks/sample_momt_32.tsv", 500.0)  # results/smoke inside results/
    (tmp_path / "Ni/benchmarks/sample_npt_fcc_32.tsv").write_text("")  # being written
    jobs = read_benchmarks(tmp_path, ["sample_momt", "sample_npt", "train_member", "write_summary"])
    assert sorted(jobs["rule"]) == ["sample_momt", "train_member", "write_summary"]
    assert jobs.set_index("rule").loc["sample_momt", "wall_s"] == 5.0


def test_latest_run_steps_and_results_dir(tmp_path):
    log = tmp_path / ".snakemake" / "log"
    log.mkdir(parents=True)
    (log / "2026-01-01T000000.0.snakemake.log").write_text("3 of 9 steps (33%) done\n")
    run = log / "2026-01-02T000000.0.snakemake.log"
    run.write_text("1 of 394 steps (0.3%) done\n...\n12 of 394 steps (3%) done\n")
    dry = log / "2026-01-03T000000.0.snakemake.log"  # a dry run (this command's own DAG call) after it
    dry.write_text("Building DAG of jobs...\n")
    os.utime(run, (1.9e9, 1.9e9))
    os.utime(dry, (2e9, 2e9))
    found, k, n, age = latest_run_steps(tmp_path)
    assert (found, k, n) == (str(run), 12, 394) and age >= 0
    assert latest_run_steps(tmp_path / "nowhere") is None
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text("results_dir: results/smoke\n")
    b.write_text("seed: 3\n")
    assert results_dir([str(a), str(b)], tmp_path / "none.yaml") == "results/smoke"
    assert results_dir([], tmp_path / "none.yaml") == "results"


def test_duration_reads_well():
    assert duration(42) == "42 s"
    assert duration(600) == "10 min"
    assert duration(7.5 * 3600) == "7 h 30 min"
