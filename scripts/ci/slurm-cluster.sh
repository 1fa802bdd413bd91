#!/usr/bin/env bash
# A real one-node SLURM cluster on this (Debian) machine, for CI and for trying the SLURM profile.
#
#   scripts/ci/slurm-cluster.sh up      # install packages if missing, write /etc/slurm/slurm.conf,
#                                       # start munged, slurmctld, slurmd; wait until the node is idle
#   scripts/ci/slurm-cluster.sh status  # exit 0 when up (prints sinfo/squeue), 3 when down
#   scripts/ci/slurm-cluster.sh down    # stop what `up` started (by PID), remove the config it wrote
#   scripts/ci/slurm-cluster.sh check   # exit 0 if this machine can run the cluster, else say why
#
# Needs root and apt (Debian/Ubuntu). Idempotent: `up` on a running cluster and `down` on a stopped one
# do nothing. Everything `up` starts runs in the foreground mode of each daemon (known PIDs), recorded
# in the state folder; `down` stops exactly those PIDs and removes /etc/slurm/slurm.conf only if this
# script wrote it. It refuses to touch a machine that already has its own slurm.conf.
#
# Environment: NNPDISTILL_SLURM_STATE (state folder, default /tmp/nnpdistill-slurm),
#              NNPDISTILL_SLURM_UP_TIMEOUT_S (seconds to wait for the node, default 60),
#              NNPDISTILL_SLURM_NODE_CPUS (CPUs the node declares, default the machine's cores; more
#              lets SLURM run more one-thread jobs side by side than there are cores: slurm-stage.sh
#              does so, as the executor plugin notices finished jobs only in status rounds).
# The config must be at /etc/slurm/slurm.conf: the executor plugin's job step drops every SLURM_*
# variable (SLURM_CONF included) before its nested srun.
set -euo pipefail

STATE="${NNPDISTILL_SLURM_STATE:-/tmp/nnpdistill-slurm}"
CONF=/etc/slurm/slurm.conf
MARKER="# nnp-distill one-node CI cluster: written by scripts/ci/slurm-cluster.sh, removed by its 'down'"
PACKAGES=(slurmctld slurmd slurm-client munge)
UP_TIMEOUT_S="${NNPDISTILL_SLURM_UP_TIMEOUT_S:-60}"
DAEMONS=(munged slurmctld slurmd)   # start order; stopped in reverse

say() { echo "[slurm-cluster] $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------------------------------------- checks
# Print why this machine cannot run the cluster (one line) and return 1, or return 0.
why_not() {
    if [[ "$(uname -s)" != Linux ]]; then echo "not Linux ($(uname -s))"; return 1; fi
    if [[ "$(id -u)" != 0 ]]; then echo "needs root to install packages and start slurmd (running as $(id -un))"; return 1; fi
    if ! have_binaries && ! command -v apt-get >/dev/null; then
        echo "SLURM/munge not installed and no apt-get to install them (not Debian/Ubuntu)"; return 1
    fi
    if [[ -e "$CONF" ]] && ! grep -qxF "$MARKER" "$CONF"; then
        echo "$CONF already exists and was not written by this script (a real SLURM install?)"; return 1
    fi
    return 0
}

have_binaries() {
    local b
    for b in slurmctld slurmd sinfo squeue sbatch srun munged mungekey munge unmunge; do
        command -v "$b" >/dev/null 2>&1 || [[ -x "/usr/sbin/$b" ]] || return 1
    done
}

install_packages() {
    have_binaries && return 0
    command -v apt-get >/dev/null || die "SLURM is not installed and apt-get is missing"
    say "installing ${PACKAGES[*]} (apt-get update once, then install)"
    local made_policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        # keep the packages' maintainer scripts from starting daemons we would not track
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
        made_policy=1
    fi
    local rc=0
    { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}"; } \
        >"$STATE/apt.log" 2>&1 || rc=$?
    [[ $made_policy == 1 ]] && rm -f /usr/sbin/policy-rc.d
    if [[ $rc != 0 ]]; then tail -n 20 "$STATE/apt.log" >&2; die "apt-get failed (rc=$rc); log: $STATE/apt.log"; fi
    have_binaries || die "packages installed but binaries still missing"
}

# ------------------------------------------------------------------------------------------- processes
pid_of() { [[ -s "$STATE/$1.pid" ]] && cat "$STATE/$1.pid" || true; }

# alive = exists and is not a zombie
alive() {
    local pid=$1 st
    [[ -n "$pid" && -r "/proc/$pid/stat" ]] || return 1
    st=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
    [[ "$st" != Z && "$st" != X ]]
}

# our daemon is running: PID file, live process, and the right program (PIDs get reused)
running() {
    local pid; pid=$(pid_of "$1")
    alive "$pid" && [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$1" ]]
}

start_daemon() {  # name, command...
    local name=$1; shift
    if running "$name"; then say "$name already running (pid $(pid_of "$name"))"; return 0; fi
    # foreground mode, stdin closed, output to the state folder; exec keeps the PID the daemon's own
    # own session (setsid execs in place: same PID), so a signal to the caller's process group (a CI
    # timeout, Ctrl-C) does not kill the daemons before `down` has cancelled the jobs in order.
    # (fd 9 is the lock: a daemon holding it would block every later up/down)
    ( exec 9>&-; exec setsid "$@" </dev/null >>"$STATE/log/$name.out" 2>&1 ) &
    echo $! > "$STATE/$name.pid"
    sleep 0.3
    running "$name" || { tail -n 20 "$STATE/log/$name.out" >&2 || true; die "$name exited at start (log above)"; }
    say "started $name (pid $(pid_of "$name"))"
}

stop_daemon() {
    local name=$1 pid i
    pid=$(pid_of "$name")
    if [[ -z "$pid" ]]; then return 0; fi
    if running "$name"; then
        kill -TERM "$pid" 2>/dev/null || true
        for i in $(seq 1 100); do alive "$pid" || break; sleep 0.1; done
        if alive "$pid"; then say "$name (pid $pid) ignored SIGTERM for 10 s: SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; fi
        for i in $(seq 1 50); do alive "$pid" || break; sleep 0.1; done
        alive "$pid" && die "could not stop $name (pid $pid)"
        say "stopped $name (pid $pid)"
    fi
    rm -f "$STATE/$name.pid"
}

# job steps (slurmstepd and the job's processes) outlive slurmd; this cluster's keep slurmd's log open
our_job_steps() {
    local p fd
    for p in $(pgrep -x slurmstepd 2>/dev/null || true); do
        for fd in /proc/"$p"/fd/*; do
            if [[ "$(readlink "$fd" 2>/dev/null)" == "$STATE"/* ]]; then echo "$p"; break; fi
        done
    done
}

descendants() {  # pid -> the pid and all its descendants
    local p=$1 c
    echo "$p"
    for c in $(awk -v p="$p" '$4 == p {print $1}' /proc/[0-9]*/stat 2>/dev/null); do descendants "$c"; done
}

kill_our_job_steps() {
    local steps pids
    steps=$(our_job_steps)
    [[ -n "$steps" ]] || return 0
    pids=$(for p in $steps; do descendants "$p"; done | sort -u | tr '\n' ' ')
    say "killing leftover job processes of this cluster: $pids"
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
}

clear_stale_state() {
    local name had=0
    for name in slurmd slurmctld; do
        if running "$name"; then say "stopping a leftover $name (pid $(pid_of "$name"))"; stop_daemon "$name"; fi
    done
    kill_our_job_steps
    for name in ctld spool run; do [[ -e "$STATE/$name" ]] && had=1; done
    if [[ $had == 1 ]]; then
        say "clearing stale SLURM state in $STATE (a previous cluster was not brought down)"
        rm -rf "$STATE"/{ctld,spool,run}
    fi
}

# ---------------------------------------------------------------------------------------------- config
write_conf() {
    local host cpus mem_mb
    host=$(hostname -s)
    cpus=${NNPDISTILL_SLURM_NODE_CPUS:-$(nproc)}
    [[ $cpus =~ ^[1-9][0-9]*$ ]] || die "NNPDISTILL_SLURM_NODE_CPUS must be a positive integer, not '$cpus'"
    local overrides=""
    if (( cpus > $(nproc) )); then
        # a node declaring more CPUs than it has: slurmd refuses that unless told the config rules
        overrides="SlurmdParameters=config_overrides"
        say "the node declares $cpus CPUs on $(nproc) cores (NNPDISTILL_SLURM_NODE_CPUS): jobs share cores"
    fi
    mem_mb=$(awk '/^MemTotal:/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)
    mkdir -p /etc/slurm "$STATE"/{ctld,spool,log,run}
    chown slurm:slurm "$STATE"/{ctld,log,run}
    # slurmd (root) writes its own logs and pid file in the same folders
    chmod 0755 "$STATE"/{ctld,spool,log,run}
    local tmp="$CONF.partial"
    cat > "$tmp" <<EOF
$MARKER
# state folder: $STATE
ClusterName=nnpdistill-ci
SlurmctldHost=${host}(127.0.0.1)
AuthType=auth/munge
CredType=cred/munge
SlurmUser=slurm
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
SlurmctldPidFile=$STATE/run/slurmctld.pid
SlurmdPidFile=$STATE/run/slurmd.pid
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# without a default, a job without --mem would take the whole node
DefMemPerCPU=1000
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
# finished jobs stay visible to squeue for 10 min: the executor plugin's squeue status needs that
MinJobAge=600
MailProg=/bin/true
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
${overrides}
NodeName=${host} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${mem_mb} State=UNKNOWN
PartitionName=ci Nodes=${host} Default=YES MaxTime=INFINITE State=UP
EOF
    mv "$tmp" "$CONF"
    chmod 0644 "$CONF"
    say "wrote $CONF (node $host: $cpus CPUs, $mem_mb MB; partition ci)"
}

# ----------------------------------------------------------------------------------------------- munge
munge_works() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

start_munge() {
    if munge_works; then
        if running munged; then say "munged already running (pid $(pid_of munged))"
        else say "a munged not started by this script is already serving: using it"; fi
        return 0
    fi
    install -d -o munge -g munge -m 0755 /run/munge
    install -d -o munge -g munge -m 0700 /var/log/munge /var/lib/munge 2>/dev/null || true
    if [[ ! -s /etc/munge/munge.key ]]; then
        say "creating /etc/munge/munge.key"
        setpriv --reuid=munge --regid=munge --init-groups mungekey --create --keyfile=/etc/munge/munge.key
        touch "$STATE/created-munge-key"
    fi
    start_daemon munged setpriv --reuid=munge --regid=munge --init-groups munged -F
    local i
    for i in $(seq 1 50); do munge_works && return 0; sleep 0.1; done
    die "munged started but 'munge -n | unmunge' fails; log: $STATE/log/munged.out"
}

# -------------------------------------------------------------------------------------------- commands
node_state() { timeout 5 sinfo -h -o %t 2>/dev/null | head -n 1 || true; }

cmd_up() {
    local why
    why=$(why_not) || die "cannot start a SLURM cluster here: $why"
    mkdir -p "$STATE/log"
    exec 9>"$STATE/lock"; flock -w 120 9 || die "another up/down holds $STATE/lock"
    if running slurmctld && running slurmd && [[ -e "$CONF" ]] && [[ "$(node_state)" =~ ^(idle|mix|alloc) ]]; then
        say "already up (slurmctld pid $(pid_of slurmctld), slurmd pid $(pid_of slurmd))"
        return 0
    fi
    local t0=$SECONDS
    # Not (fully) up: whatever is left is stale: daemons of ours from a run that never reached `down`
    # (a killed CI job, a session that ended), their job steps, and slurmctld's saved job state, which
    # a fresh slurmctld would otherwise recover (the node then comes back 'mix' with a dead job on it).
    clear_stale_state
    install_packages
    write_conf
    start_munge
    start_daemon slurmctld slurmctld -D -f "$CONF"
    start_daemon slurmd slurmd -D -f "$CONF"
    local state=""
    while (( SECONDS - t0 < UP_TIMEOUT_S )); do
        state=$(node_state)
        [[ "$state" == idle ]] && break
        # a restarted node can come back "down"/"drain": bring it back once
        if [[ "$state" =~ ^(down|drain|drng) ]]; then
            scontrol update nodename="$(hostname -s)" state=resume >/dev/null 2>&1 || true
        fi
        running slurmctld || { tail -n 20 "$STATE/log/slurmctld.log" >&2 || true; die "slurmctld died"; }
        running slurmd || { tail -n 20 "$STATE/log/slurmd.log" >&2 || true; die "slurmd died"; }
        sleep 0.5
    done
    if [[ "$state" != idle ]]; then
        tail -n 15 "$STATE/log/slurmctld.log" "$STATE/log/slurmd.log" >&2 || true
        die "node not idle after ${UP_TIMEOUT_S}s (state: '${state:-none}')"
    fi
    local out
    out=$(timeout 30 srun -t 1 -N 1 -n 1 hostname 2>&1) || die "smoke test 'srun hostname' failed: $out"
    say "up in $((SECONDS - t0)) s: node $(hostname -s) idle, srun -> $out"
}

cmd_down() {
    [[ -d "$STATE" ]] || { say "nothing to stop (no $STATE)"; return 0; }
    exec 9>"$STATE/lock"; flock -w 120 9 || die "another up/down holds $STATE/lock"
    local i jobs
    # cancel what is still queued or running first: job steps are not children of slurmd
    if running slurmctld && [[ -e "$CONF" ]]; then
        jobs=$(timeout 10 squeue -h -o %A 2>/dev/null | tr '\n' ' ' || true)
        if [[ -n "${jobs// /}" ]]; then
            say "cancelling jobs: $jobs"
            # shellcheck disable=SC2086
            timeout 10 scancel $jobs 2>/dev/null || true
            for i in $(seq 1 60); do
                [[ -z "$(timeout 5 squeue -h -t PD,R,CG,S -o %A 2>/dev/null)" ]] && break
                sleep 0.5
            done
        fi
    fi
    for (( i=${#DAEMONS[@]}-1; i>=0; i-- )); do stop_daemon "${DAEMONS[$i]}"; done
    kill_our_job_steps
    if [[ -e "$CONF" ]] && grep -qxF "$MARKER" "$CONF"; then rm -f "$CONF"; say "removed $CONF"; fi
    rm -f "$CONF.partial"
    # a key this script created is ours too (a key that was there before is left alone)
    if [[ -e "$STATE/created-munge-key" ]]; then rm -f /etc/munge/munge.key "$STATE/created-munge-key"; fi
    # keep the logs for post-mortems; drop slurm's job state so the next `up` starts clean
    rm -rf "$STATE"/{ctld,spool,run}
    say "down"
}

cmd_status() {
    local name up=1
    for name in "${DAEMONS[@]}"; do
        if running "$name"; then echo "$name: running (pid $(pid_of "$name"))"
        else echo "$name: not running"; [[ $name == munged ]] || up=0; fi
    done
    if [[ -e "$CONF" ]]; then echo "config: $CONF"; else echo "config: none"; up=0; fi
    if [[ $up == 1 ]]; then
        timeout 5 sinfo || true
        timeout 5 squeue || true
        return 0
    fi
    return 3
}

cmd_check() {
    local why
    if why=$(why_not); then echo "ok: this machine can run the one-node SLURM cluster"; return 0; fi
    echo "no: $why"
    return 1
}

case "${1:-}" in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    check) cmd_check ;;
    *) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
