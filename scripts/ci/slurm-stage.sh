#!/usr/bin/env bash
# CI stage: the smoke campaign through a real one-node SLURM cluster must give the local run's results.
#
#   scripts/ci/slurm-stage.sh                       # as root on Debian/Ubuntu (CI, a VM, a container)
#   NNPDISTILL_SLURM_STAGE_LIMIT_S=1800 scripts/ci/slurm-stage.sh --configfile config/smoke.yaml
#
# Steps (each timed):
#   1. run the config locally (profiles/local)              -> $OUT/local
#      (or, with --local-from DIR, take DIR as that local run: the results tree of the same config run
#      locally by the same code, e.g. the test suite's smoke run kept by NNPDISTILL_SMOKE_KEEP=DIR)
#   2. start the cluster (scripts/ci/slurm-cluster.sh up)
#   3. run the same config through --profile profiles/slurm -> $OUT/slurm   (every rule a SLURM job)
#   4. compare the two trees (scripts/ci/compare_results.py: same files, same numbers)
#   5. checks on the cluster: a second run has nothing to do; deleting one result re-runs only what
#      depends on it (and gives the same bytes again); a job that fails on the cluster fails the
#      workflow with the rule named and its log shown; a request the node cannot satisfy is refused by
#      SLURM and named; a request below the rule's minimum is refused before submission
#   6. stop every daemon it started (trap, also on failure / timeout)
# The whole stage runs under `timeout -k 30 $NNPDISTILL_SLURM_STAGE_LIMIT_S` (default 2700 s).
#
# Where SLURM cannot run (not root, not Linux, no apt, a real SLURM config present): with CI=true the
# stage FAILS (CI must prove the cluster path); elsewhere it is SKIPPED with the reason (exit 0).
# Environment: NNPDISTILL_SLURM_STAGE_DIR (results, default results/ci-slurm: under the repository, as
# on a cluster's shared file system), NNPDISTILL_SLURM_STAGE_LIMIT_S, SNAKEMAKE (default .venv/bin/snakemake).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
LIMIT_S="${NNPDISTILL_SLURM_STAGE_LIMIT_S:-2700}"
CONFIGFILE=config/smoke.yaml
LOCAL_FROM=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --configfile) CONFIGFILE="$2"; shift 2 ;;
        --local-from) LOCAL_FROM="$2"; shift 2 ;;
        -h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "slurm-stage: unknown argument $1" >&2; exit 2 ;;
    esac
done

# Everything below runs under one wall-clock limit; SIGKILL 30 s after the SIGTERM if it hangs.
if [[ -z "${_NNPDISTILL_SLURM_STAGE_TIMED:-}" ]]; then
    export _NNPDISTILL_SLURM_STAGE_TIMED=1
    rc=0
    timeout -k 30 "$LIMIT_S" "$0" --configfile "$CONFIGFILE" ${LOCAL_FROM:+--local-from "$LOCAL_FROM"} || rc=$?
    if [[ $rc == 124 || $rc == 137 ]]; then echo "[slurm-stage] FAILED: stage ran past ${LIMIT_S} s (rc=$rc)" >&2; fi
    exit $rc
fi

OUT="${NNPDISTILL_SLURM_STAGE_DIR:-results/ci-slurm}"
SNAKEMAKE="${SNAKEMAKE:-$ROOT/.venv/bin/snakemake}"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
case "$OUT" in /*) OUT_ABS="$OUT" ;; *) OUT_ABS="$ROOT/$OUT" ;; esac
CLUSTER="$ROOT/scripts/ci/slurm-cluster.sh"
# CI settings on top of profiles/slurm: no job accounting here (squeue, MinJobAge=600 in slurm.conf),
# quick first status check, keep every job's log (shown on failure), short file-system latency.
SLURM_CI_ARGS=(--profile profiles/slurm --slurm-status-command squeue
               --slurm-init-seconds-before-status-checks 2 --slurm-keep-successful-logs
               --slurm-logdir "$OUT/slurm_logs" --latency-wait 5 --jobs 8)
# the failure checks need only the first rule of the DAG (cheap, and nothing else is left running)
UNTIL=(--until compute_eam_crystals)

T0=$SECONDS
STEP_T0=$SECONDS
CLUSTER_STARTED=0
SKIPPED=0
say() { echo "[slurm-stage] $*" >&2; }
fail() { say "FAILED: $*"; exit 1; }
step() { say "--- $* (after $((SECONDS - T0)) s)"; STEP_T0=$SECONDS; }
done_step() { say "    done in $((SECONDS - STEP_T0)) s"; }

CHILD=""   # the running snakemake: leader of its own session/process group (see run_bg)
stop_child() {
    [[ -n "$CHILD" ]] || return 0
    if kill -0 -- "-$CHILD" 2>/dev/null; then
        say "stopping snakemake (process group $CHILD)"
        kill -TERM -- "-$CHILD" 2>/dev/null || true   # snakemake cancels its SLURM jobs on SIGTERM
        local i
        for i in $(seq 1 100); do kill -0 -- "-$CHILD" 2>/dev/null || break; sleep 0.1; done
        kill -KILL -- "-$CHILD" 2>/dev/null || true
    fi
    CHILD=""
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_child
    if [[ $CLUSTER_STARTED == 1 ]]; then
        "$CLUSTER" down || { say "cluster teardown failed"; rc=1; }
    fi
    if [[ $SKIPPED == 1 ]]; then :
    elif [[ $rc == 0 ]]; then say "PASSED in $((SECONDS - T0)) s"; else say "FAILED (rc=$rc) after $((SECONDS - T0)) s"; fi
    exit $rc
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT
trap 'say "terminated (time limit?)"; exit 143' TERM

# ------------------------------------------------------------------------------------------- preflight
skip_or_fail() {
    if [[ "${CI:-}" == true || "${CI:-}" == 1 ]]; then
        fail "CI=true but this machine cannot run the SLURM stage: $1"
    fi
    say "SKIPPED: $1"
    say "To run it: as root on a Debian/Ubuntu machine or container with this repository and its .venv"
    say "(pip install -e '.[slurm]'), run: sudo scripts/ci/slurm-stage.sh   (installs slurm + munge with apt,"
    say "starts a one-node cluster for the stage only, and stops it afterwards)."
    SKIPPED=1
    exit 0
}
why=$("$CLUSTER" check 2>&1) || skip_or_fail "${why#no: }"
"$PY" -c "import snakemake_executor_plugin_slurm" 2>/dev/null \
    || skip_or_fail "snakemake-executor-plugin-slurm is not installed in $PY (pip install -e '.[slurm]')"
[[ -f "$CONFIGFILE" ]] || fail "no config file $CONFIGFILE"

run_bg() {  # log file, command...: run in its own process group (so a timeout/Ctrl-C is handled
            # at once by the trap, which stops the whole group), output to the log; returns its rc
    local log=$1; shift
    local rc=0
    setsid "$@" >"$log" 2>&1 </dev/null &
    CHILD=$!
    wait "$CHILD" || rc=$?
    CHILD=""
    return $rc
}

run_logged() {  # log file, command...: run_bg, and show the output's tail on failure
    local log=$1 rc=0
    run_bg "$@" || rc=$?
    if [[ $rc != 0 ]]; then shift; say "command failed (rc=$rc): $*"; tail -n 60 "$log" >&2; fi
    return $rc
}

rm -rf "$OUT"
mkdir -p "$OUT"
say "config $CONFIGFILE -> $OUT (limit ${LIMIT_S} s)"

# ----------------------------------------------------------------------------------------- 1. local
if [[ -n "$LOCAL_FROM" ]]; then
    step "1. local run: taken from $LOCAL_FROM (made by the same code and config with profiles/local)"
    [[ -d "$LOCAL_FROM" ]] || fail "--local-from $LOCAL_FROM: no such results tree"
    cp -r "$LOCAL_FROM" "$OUT/local"
    say "    $(find "$OUT/local" -type f | wc -l) files"
else
    step "1. local run (profiles/local)"
    run_logged "$OUT/local.out" "$SNAKEMAKE" --profile profiles/local --cores 2 \
        --configfile "$CONFIGFILE" --config "results_dir=$OUT/local" || fail "local run failed ($OUT/local.out)"
fi
done_step

# --------------------------------------------------------------------------------------- 2. cluster
step "2. cluster up"
if "$CLUSTER" status >/dev/null 2>&1; then
    say "a cluster from slurm-cluster.sh is already up: using it (and leaving it up)"
else
    CLUSTER_STARTED=1
    # The executor plugin checks job states in rounds and waits 10 s longer after each round in which no
    # job finished; with two one-thread jobs at a time most of the run was that wait (the smoke
    # campaign's 182 jobs took 123 rounds, 16 s apart). The node declares 4 CPUs per core, so jobs share
    # cores and more of them finish per round; every job still runs as its own SLURM job.
    NNPDISTILL_SLURM_NODE_CPUS="${NNPDISTILL_SLURM_NODE_CPUS:-$((4 * $(nproc)))}" "$CLUSTER" up \
        || fail "cluster did not come up"
fi
done_step

# ------------------------------------------------------------------------------------------ 3. slurm
step "3. SLURM run (profiles/slurm)"
run_logged "$OUT/slurm.out" "$SNAKEMAKE" "${SLURM_CI_ARGS[@]}" \
    --configfile "$CONFIGFILE" --config "results_dir=$OUT/slurm" || fail "SLURM run failed ($OUT/slurm.out)"
n_jobs=$(grep -c "has been submitted with SLURM jobid" "$OUT/slurm.out" || true)
n_rules=$(grep -cE "^rule [A-Za-z0-9_]+:$" "$OUT/slurm.out" || true)
[[ $n_jobs -ge 1 ]] || fail "no job was submitted to SLURM (see $OUT/slurm.out)"
[[ $n_jobs == "$n_rules" ]] || fail "$n_rules rule jobs but $n_jobs SLURM submissions (see $OUT/slurm.out)"
say "    $n_jobs jobs ran as SLURM jobs"
done_step

# ---------------------------------------------------------------------------------------- 4. compare
step "4. compare local vs SLURM results"
"$PY" scripts/ci/compare_results.py "$OUT/local" "$OUT/slurm" || fail "local and SLURM results differ"
done_step

# ----------------------------------------------------------------------------------- 5. rerun checks
step "5a. second SLURM run of the same config has nothing to do"
run_logged "$OUT/rerun.out" "$SNAKEMAKE" "${SLURM_CI_ARGS[@]}" -n \
    --configfile "$CONFIGFILE" --config "results_dir=$OUT/slurm" || fail "dry run failed"
grep -q "Nothing to be done" "$OUT/rerun.out" || { cat "$OUT/rerun.out" >&2; fail "a rerun would run jobs again"; }
done_step

step "5b. delete one result: only the jobs that depend on it run again, through SLURM, same bytes"
first=$(find "$OUT/slurm" -name '*.csv' -path '*/eam/*' | sort | head -n 1)
[[ -n "$first" ]] || fail "no crystal table in $OUT/slurm"
rm -f "$first"
run_logged "$OUT/delete-dry.out" "$SNAKEMAKE" "${SLURM_CI_ARGS[@]}" -n \
    --configfile "$CONFIGFILE" --config "results_dir=$OUT/slurm" || fail "dry run failed"
planned=$(grep -E "^rule [A-Za-z0-9_]+:$" "$OUT/delete-dry.out" | grep -vc "^rule all:$" || true)
unjustified=$(grep -E "^    reason:" "$OUT/delete-dry.out" \
    | grep -v -e "Missing output files: ${first#./}" -e "updated by another job" || true)
[[ -z "$unjustified" ]] || { echo "$unjustified" >&2; fail "jobs planned that do not depend on $first"; }
say "    deleted $first: $planned job(s) planned, each its producer or downstream of it"
run_logged "$OUT/delete.out" "$SNAKEMAKE" "${SLURM_CI_ARGS[@]}" \
    --configfile "$CONFIGFILE" --config "results_dir=$OUT/slurm" || fail "rerun after deletion failed"
"$PY" scripts/ci/compare_results.py "$OUT/local" "$OUT/slurm" || fail "results differ after the partial rerun"
done_step

step "5c. a job that fails on the cluster fails the workflow, with its log shown"
# input only the job can judge: a damaged checkpoint where a killed run would resume (a config the job
# would refuse is now refused at planning time, and a corrupt potential at start-up, before any job)
mkdir -p "$OUT"
# the checkpoints the config's MOMT jobs resume from: elements x sample sizes (the config's overrides, or 32)
for ckpt in $("$PY" - "$CONFIGFILE" "$OUT/fail" <<'PYEOF'
import sys, yaml
cfg = yaml.safe_load(open(sys.argv[1]))
sizes = cfg.get("element_overrides", {}).get("sample", {}).get("sizes", [32])
print(" ".join(f"{sys.argv[2]}/{el}/sample/momt_{n}.h5.ckpt" for el in cfg["elements"] for n in sizes))
PYEOF
); do
    mkdir -p "$(dirname "$ckpt")" && printf 'not a checkpoint\n' > "$ckpt"
done
rc=0
run_bg "$OUT/fail.out" "$SNAKEMAKE" "${SLURM_CI_ARGS[@]}" --until sample_momt \
    --config "results_dir=$OUT/fail" --configfile "$CONFIGFILE" || rc=$?
[[ $rc != 0 ]] || fail "a failing job did not fail the workflow ($OUT/fail.out)"
grep -q "has been submitted with SLURM jobid" "$OUT/fail.out" || { tail -n 30 "$OUT/fail.out" >&2; fail "the failure happened before any SLURM job"; }
grep -qE "^Error in rule [a-z_]+:" "$OUT/fail.out" || fail "no 'Error in rule' in the output ($OUT/fail.out)"
grep -q "SLURM status is: 'FAILED'" "$OUT/fail.out" || fail "the SLURM job state is not named ($OUT/fail.out)"
grep -qE "^Logfile .*\.log" "$OUT/fail.out" || fail "no job log is shown ($OUT/fail.out)"
# the job's own error ("FrameStoreError: checkpoint ... is corrupt ...") must be in what Snakemake shows
if ! grep -qE "Error[A-Za-z]*: checkpoint .* is corrupt" "$OUT/fail.out"; then
    say "the output does not show the job's error; the SLURM log of the failed job says:"
    for log in $(grep -oE "/[^ ,]*slurm_logs/[^ ,]*\.log" "$OUT/fail.out" | sort -u); do
        echo "  $log:" >&2; grep -m 3 -E "^[A-Za-z_.]*(Error|Exception)\b" "$log" | sed 's/^/    /' >&2 || true
    done
    fail "the failed job's error is not in the logs Snakemake shows: the rule's log must hold the error
  (Snakemake 9.27 stops showing logs at the first empty one, so the SLURM log after it is never shown)"
fi
say "    workflow failed (rc=$rc): $(grep -m1 -E '^Error in rule' "$OUT/fail.out")"
say "    shown: $(grep -m1 -oE "Error[A-Za-z]*: checkpoint [^\"]{0,100}" "$OUT/fail.out")"
done_step

step "5d. a request the node cannot satisfy is refused by SLURM and named"
rc=0
run_bg "$OUT/toobig.out" "$SNAKEMAKE" "${SLURM_CI_ARGS[@]}" "${UNTIL[@]}" --configfile "$CONFIGFILE" \
    --config "results_dir=$OUT/toobig" --set-resources "compute_eam_crystals:mem_mb=100000000" || rc=$?
[[ $rc != 0 ]] || fail "a job asking for 100 TB of memory ran ($OUT/toobig.out)"
grep -qi "sbatch job submission failed\|Requested node configuration is not available\|memory specification" \
    "$OUT/toobig.out" || { tail -n 30 "$OUT/toobig.out" >&2; fail "the refusal is not explained"; }
grep -q "compute_eam_crystals" "$OUT/toobig.out" || fail "the refused rule is not named ($OUT/toobig.out)"
say "    refused: $(grep -m1 -io 'Requested node configuration is not available\|memory specification[^.]*' "$OUT/toobig.out")"
done_step

if grep -q "resource_minimums" workflow/schemas/config.schema.yaml 2>/dev/null; then
    step "5e. a request below the rule's configured minimum is refused before submission"
    rc=0
    run_bg "$OUT/toosmall.out" "$SNAKEMAKE" "${SLURM_CI_ARGS[@]}" "${UNTIL[@]}" -n --configfile "$CONFIGFILE" \
        --config "results_dir=$OUT/toosmall" --set-resources "compute_eam_crystals:mem_mb=1" || rc=$?
    [[ $rc != 0 ]] || fail "mem_mb=1 was accepted ($OUT/toosmall.out)"
    grep -q "rule compute_eam_crystals: mem_mb = 1 MB, needs at least" "$OUT/toosmall.out" \
        || { tail -n 20 "$OUT/toosmall.out" >&2; fail "the too-small request is not named"; }
    done_step
else
    say "--- 5e. skipped: resource_minimums is not wired into the workflow yet"
fi

step "6. teardown"
